// Package pissa is PiSSA (Meng, Wang and Zhang, "PiSSA: Principal Singular Values and
// Singular Vectors Adaptation of Large Language Models", NeurIPS 2024) as Hugging Face
// PEFT 0.12.0 implements it (LoraConfig(init_lora_weights="pissa"), LoraLayer.pissa_init):
// LoRA whose A and B start from the r principal singular triplets of W instead of from
// noise and zeros, with the rest of W frozen as the residual base weight.
//
// With W = U·diag(S)·Vᵀ (exact SVD, in float32 as PEFT takes it) and scaling = α/r:
//
//	A = diag(√(S_r/scaling))·V_rᵀ   (r × in)
//	B = U_r·diag(√(S_r/scaling))    (out × r)
//	W_res = W − (scaling·B)·A       (frozen)
//
// so that scaling·B·A is the best rank-r part of W and the model is unchanged at step 0.
// The layer is methods/lora's (y = x·W_resᵀ + b + scaling·dropout(x)·Aᵀ·Bᵀ), set up
// through lora.Config.Init.
//
// PEFT's fast variant "pissa_niter_[n]" draws a random sketch (torch.svd_lowrank) from
// the Python process's global generator, which the harness cannot reproduce; it is
// refused rather than approximated.
package pissa

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/lora"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Config is PiSSA's configuration, named as PEFT's LoraConfig.
type Config struct {
	R       int64   // r
	Alpha   float64 // lora_alpha; scaling = Alpha / R
	Dropout float64 // lora_dropout
	Targets []models.LayerType
}

// DefaultConfig is the PiSSA paper's recipe at r = 8: lora_alpha = r (scaling 1) and no
// dropout, on all six linears.
func DefaultConfig() Config { return Config{R: 8, Alpha: 8} }

// PiSSA implements methods.Method.
type PiSSA struct {
	cfg    Config
	lo     *lora.LoRA
	a0, b0 []*ts.Tensor // A and B after the SVD, float64: ΔW is measured from them
}

// New returns PiSSA with cfg.
func New(cfg Config) (*PiSSA, error) {
	lo, err := lora.New(lora.Config{R: cfg.R, Alpha: cfg.Alpha, Dropout: cfg.Dropout, Targets: cfg.Targets, Init: initLayer})
	if err != nil {
		return nil, fmt.Errorf("pissa: %s", strings.TrimPrefix(err.Error(), "lora: "))
	}
	return &PiSSA{cfg: cfg, lo: lo}, nil
}

// Factory builds PiSSA from options: r (8), alpha (= r), dropout (0), targets (all),
// init_lora_weights ("pissa"; "pissa_niter_[n]" is refused).
func Factory(o *methods.Options) (methods.Method, error) {
	d := DefaultConfig()
	r := o.Int("r", int(d.R))
	cfg := Config{
		R:       int64(r),
		Alpha:   o.Float("alpha", float64(r)),
		Dropout: o.Float("dropout", d.Dropout),
		Targets: o.LayerTypes("targets", d.Targets),
	}
	init := o.String("init_lora_weights", "pissa")
	if err := o.Err(); err != nil {
		return nil, err
	}
	if err := checkInit(init); err != nil {
		return nil, err
	}
	return New(cfg)
}

// checkInit accepts PEFT's exact-SVD initialisation only.
func checkInit(init string) error {
	switch {
	case init == "pissa":
		return nil
	case strings.HasPrefix(init, "pissa_niter_"):
		return fmt.Errorf("pissa: init_lora_weights=%q (PEFT's fast SVD, torch.svd_lowrank) draws a random sketch that cannot be reproduced here; use \"pissa\" (exact SVD)", init)
	}
	return fmt.Errorf("pissa: init_lora_weights=%q, want \"pissa\"", init)
}

// initLayer is PEFT's pissa_init for one layer: A and B from the r principal singular
// triplets of W, and W replaced by the residual. It mirrors PEFT's float32 operations
// one by one (the same libtorch ops), so the residual matches PEFT's to rounding.
func initLayer(l *models.Linear, r int64, scaling float64) (a, b *ts.Tensor, err error) {
	out, in := l.Out(), l.In()
	if r > min(out, in) {
		return nil, nil, fmt.Errorf("pissa: r = %d exceeds min(out, in) = %d of %s (%d×%d): W has only that many singular values", r, min(out, in), l.Name, out, in)
	}
	dtype := l.Weight.DType()
	if dtype != gotch.Float && dtype != gotch.Half && dtype != gotch.BFloat16 {
		return nil, nil, fmt.Errorf("pissa: %s has dtype %v; PEFT initialises PiSSA only from Float (float32), Half or BFloat16 weights", l.Name, dtype)
	}
	models.NoGrad(func() {
		w := l.Weight.MustTotype(gotch.Float, false)
		defer w.MustDrop()
		// torch.svd(some) is linalg.svd(full_matrices=False) returning V instead of Vᵀ.
		// (PEFT names the factors of Wᵀ: its "V" is our U, its "Uh" our Vᵀ.)
		u, s, v, e := w.Svd(true, true, false)
		if e != nil {
			err = fmt.Errorf("pissa: SVD of %s: %w", l.Name, e)
			return
		}
		ur := u.MustNarrow(1, 0, r, true)                                                             // out × r
		vr := v.MustNarrow(1, 0, r, true)                                                             // in × r
		sr := s.MustNarrow(0, 0, r, true).MustDivScalar(ts.FloatScalar(scaling), true).MustSqrt(true) // √(S_r/scaling)
		// diag(√s)·Vhᵣ and Uᵣ·diag(√s) multiply each entry by one factor (a matmul with a
		// diagonal adds exact zeros), so the broadcast products are bit-identical.
		a = sr.MustUnsqueeze(1, false).MustMul(vr.MustT(true), true).MustContiguous(true)
		b = ur.MustMul(sr, true).MustContiguous(true)
		sr.MustDrop()
		// PEFT: weight − self.scaling * lora_B @ lora_A, i.e. (scaling·B) @ A.
		sb := b.MustMulScalar(ts.FloatScalar(scaling), false)
		sba := sb.MustMatmul(a, true)
		res := w.MustSub(sba, false)
		sba.MustDrop()
		l.Weight.Copy_(res)
		res.MustDrop()
		a = a.MustTotype(dtype, true)
		b = b.MustTotype(dtype, true)
	})
	return a, b, err
}

// Name implements methods.Method.
func (*PiSSA) Name() string { return "pissa" }

// Apply freezes m, splits every target weight into A, B and the residual, and keeps a
// float64 copy of the initial A and B.
func (p *PiSSA) Apply(m models.Model) error {
	if err := p.lo.Apply(m); err != nil {
		return fmt.Errorf("pissa: %s", strings.TrimPrefix(strings.TrimPrefix(err.Error(), "lora: "), "pissa: "))
	}
	for _, ly := range p.lo.Layers() {
		p.a0 = append(p.a0, ly.A.MustDetach(false).MustTotype(gotch.Double, true))
		p.b0 = append(p.b0, ly.B.MustDetach(false).MustTotype(gotch.Double, true))
	}
	return nil
}

// Trainable implements methods.Method: every A and B, and the head.
func (p *PiSSA) Trainable() (adapter, head []train.Param) { return p.lo.Trainable() }

// Hooks implements methods.Method.
func (*PiSSA) Hooks() []train.Hook { return nil }

// Deltas implements methods.Method. The effective weight is W_res + scaling·B·A and
// W_res is frozen, so ΔW = scaling·(B·A − B₀·A₀): rank ≤ 2r, not r as LoRA's.
func (p *PiSSA) Deltas() ([]methods.Delta, error) {
	layers := p.lo.Layers()
	out := make([]methods.Delta, len(layers))
	for i, ly := range layers {
		a := ly.A.MustDetach(false).MustTotype(gotch.Double, true)
		ba := ly.B.MustDetach(false).MustTotype(gotch.Double, true).MustMatmul(a, true)
		a.MustDrop()
		ba0 := p.b0[i].MustMatmul(p.a0[i], false)
		d := ba.MustSub(ba0, true).MustMulScalar(ts.FloatScalar(p.cfg.Alpha/float64(p.cfg.R)), true)
		ba0.MustDrop()
		l := ly.Linear()
		out[i] = methods.Delta{Name: l.Name, Type: l.Type, W: d}
	}
	return out, nil
}

// CountAdapter implements methods.Method: r·(in + out) per target layer, as LoRA.
func (p *PiSSA) CountAdapter(s models.Shape) int64 { return p.lo.CountAdapter(s) }

// Layers returns the adapted layers (methods/lora's).
// EvalMode implements methods.EvalCacher with LoRA's merged weights.
func (p *PiSSA) EvalMode(on bool) { p.lo.EvalMode(on) }

func (p *PiSSA) Layers() []*lora.Layer { return p.lo.Layers() }

// Describe implements methods.Method.
func (p *PiSSA) Describe() string {
	return fmt.Sprintf("pissa(r=%d, alpha=%g, dropout=%g, targets=%s, exact SVD)", p.cfg.R, p.cfg.Alpha, p.cfg.Dropout, methods.TargetNames(p.cfg.Targets))
}

// Settings implements methods.Method.
func (p *PiSSA) Settings() map[string]any {
	return map[string]any{"r": p.cfg.R, "alpha": p.cfg.Alpha, "dropout": p.cfg.Dropout, "targets": p.cfg.Targets, "init_lora_weights": "pissa"}
}
