// Package dora is DoRA, weight-decomposed low-rank adaptation (Liu et al., 2024,
// "DoRA: Weight-Decomposed Low-Rank Adaptation", arXiv:2402.09353), with the semantics
// of Hugging Face PEFT 0.12.0's LoraConfig(use_dora=True) (peft/tuners/lora/layer.py,
// Linear.forward, and dora.py, DoraLinearLayer).
//
// Each adapted weight W (out × in) is re-parametrised as a magnitude times a direction,
//
//	W' = m ⊙ (W + s·B·A) / ‖W + s·B·A‖,   s = α/r,
//
// where ‖·‖ is the L2 norm of each output feature's row (torch.linalg.norm(·, dim=1) of
// the out × in matrix: the paper's column norm, in its x·W convention), and m (one value
// per output feature) is trainable, initialised to ‖W‖ so that the model is unchanged at
// step 0 (B = 0, A as LoRA's). Following the paper's §4.3 the norm is treated as a
// constant: no gradient flows through it (PEFT detaches both B·A inside it and the norm).
//
// The forward is PEFT's, term for term. With x̃ = dropout(x) (the identity in eval mode
// or with dropout 0) and n = ‖W + s·B·A‖:
//
//	y = x·Wᵀ + b  +  (m/n − 1) ⊙ (x̃·Wᵀ)  +  (m/n) ⊙ s·(x̃·Aᵀ·Bᵀ)
//
// So the base output (with its bias) uses the un-dropped x, and BOTH DoRA terms use the
// dropped x̃; the bias is never rescaled. Without dropout this is (m/n)⊙(x·(W+sBA)ᵀ) + b,
// which is what PEFT's merge writes into the weight.
//
// A and B are methods/lora's (same initialisation, same seed stream), so DoRA with a
// given seed starts from the A that LoRA with that seed draws.
package dora

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/lora"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Config is DoRA's configuration: LoRA's (PEFT's LoraConfig with use_dora=True).
type Config struct {
	R       int64   // rank r
	Alpha   float64 // lora_alpha; scaling s = Alpha / R
	Dropout float64 // lora_dropout, on the input of both DoRA terms
	Targets []models.LayerType
	Seed    uint64 // draws A
}

// DefaultConfig is methods/lora's: r = 8, α = 16, dropout 0.05 on all six linears.
func DefaultConfig() Config {
	d := lora.DefaultConfig()
	return Config{R: d.R, Alpha: d.Alpha, Dropout: d.Dropout}
}

// Factory builds DoRA from options r, alpha, dropout, targets, seed (methods/lora's names).
func Factory(o *methods.Options) (methods.Method, error) {
	d := DefaultConfig()
	return New(Config{
		R:       int64(o.Int("r", int(d.R))),
		Alpha:   o.Float("alpha", d.Alpha),
		Dropout: o.Float("dropout", d.Dropout),
		Targets: o.LayerTypes("targets", d.Targets),
		Seed:    uint64(o.Int("seed", 0)),
	})
}

// DoRA implements methods.Method.
type DoRA struct {
	cfg    Config
	lora   *lora.LoRA // owns A, B and the head
	layers []*Layer
}

// New returns DoRA with cfg.
func New(cfg Config) (*DoRA, error) {
	if cfg.R <= 0 {
		return nil, fmt.Errorf("dora: r = %d, want > 0", cfg.R)
	}
	if cfg.Dropout < 0 || cfg.Dropout >= 1 {
		return nil, fmt.Errorf("dora: dropout = %g, want in [0, 1)", cfg.Dropout)
	}
	lo, err := lora.New(lora.Config{R: cfg.R, Alpha: cfg.Alpha, Dropout: cfg.Dropout, Targets: cfg.Targets, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	return &DoRA{cfg: cfg, lora: lo}, nil
}

// Layer is one DoRA-adapted linear: LoRA's A and B plus the magnitude vector M.
type Layer struct {
	lora    *lora.Layer // A, B and the branch's dropout
	linear  *models.Linear
	A, B    *ts.Tensor // r × in, out × r
	M       *ts.Tensor // out: lora_magnitude_vector
	scaling float64
	evalW   *ts.Tensor // (m/n) ⊙ (W + s·B·A) while an evaluation runs (EvalMode), else nil
}

// Name implements methods.Method.
func (*DoRA) Name() string { return "dora" }

// Apply freezes m, adds LoRA's A and B to every target linear, and the magnitude
// m = ‖W + s·B·A‖ (= ‖W‖, B being zero) as PEFT's dora_init does.
func (d *DoRA) Apply(m models.Model) error {
	if d.layers != nil {
		return fmt.Errorf("dora: Apply called twice")
	}
	if len(methods.Targets(m.Linears(), d.cfg.Targets)) == 0 {
		return fmt.Errorf("dora: the model has no linear layer of types %v", d.cfg.Targets)
	}
	if err := d.lora.Apply(m); err != nil {
		return fmt.Errorf("dora: %w", err)
	}
	var layers []*Layer
	for _, ll := range d.lora.Layers() {
		ly := &Layer{lora: ll, linear: ll.Linear(), A: ll.A, B: ll.B, scaling: ll.Scaling()}
		ly.M = ly.weightNorm()
		if err := nonZero(ly.linear.Name, ly.M); err != nil {
			for _, l := range d.lora.Layers() { // leave the model as a failed Apply found it
				l.Linear().Adapter = nil
			}
			return err
		}
		ly.M.MustRequiresGrad_(true)
		layers = append(layers, ly)
	}
	for _, ly := range layers {
		ly.linear.Adapter = ly
	}
	d.layers = layers
	return nil
}

// nonZero refuses a weight row of norm 0: its direction, and so m/‖·‖, is undefined
// (PEFT would train on NaN).
func nonZero(name string, norm *ts.Tensor) error {
	v := norm.MustAbs(false).MustMin(true)
	defer v.MustDrop()
	if v.Float64Values()[0] == 0 {
		return fmt.Errorf("dora: %s has a weight row of norm 0 (an output feature with all-zero weights): its direction W/‖W‖ is undefined", name)
	}
	return nil
}

// weightNorm is ‖W + s·B·A‖ per output feature, with no gradient (PEFT's
// get_weight_norm on lora_weight.detach(), then .detach()).
func (ly *Layer) weightNorm() *ts.Tensor {
	v := ly.lora.MergedWeight()
	return v.MustLinalgNorm(ts.FloatScalar(2), []int64{1}, false, v.DType(), true)
}

// Forward implements models.Forwarder: PEFT's Linear.forward with use_dora, i.e.
// base(x) + (m/n − 1)·(x̃·Wᵀ) + (m/n)·(x̃·Aᵀ·Bᵀ)·s with x̃ = dropout(x). Every temporary
// stays referenced until its op returns (gotch's finalizers may otherwise free an
// argument during the C call).
func (ly *Layer) Forward(x *ts.Tensor, training bool) *ts.Tensor {
	if ly.evalW != nil && !training {
		return models.Dense(x, ly.evalW, ly.linear.Bias)
	}
	base := models.Dense(x, ly.linear.Weight, ly.linear.Bias)
	in, xa, release := ly.lora.Branch(x, training)
	defer release()
	loraOut := models.Dense(xa, ly.B, nil) // lora_B(lora_A(x̃))
	norm := ly.weightNorm()
	scale := ly.M.MustDiv(norm, false) // mag_norm_scale, broadcast over the last dim
	norm.MustDrop()
	xw := models.Dense(in, ly.linear.Weight, nil)
	t1 := scale.MustSubScalar(ts.FloatScalar(1), false).MustMul(xw, true) // (m/n − 1)·x̃Wᵀ
	xw.MustDrop()
	t2 := scale.MustMul(loraOut, false).MustMulScalar(ts.FloatScalar(ly.scaling), true) // (m/n)·lora·s
	scale.MustDrop()
	loraOut.MustDrop()
	dora := t1.MustAdd(t2, true)
	t2.MustDrop()
	out := base.MustAdd(dora, true)
	dora.MustDrop()
	return out
}

// delta is ΔW = (m/n)·(W + s·B·A) − W in float64, as PEFT's merge writes W' (and so the
// update a merged model carries).
func (ly *Layer) delta() *ts.Tensor {
	var d *ts.Tensor
	models.NoGrad(func() {
		f64 := func(t *ts.Tensor) *ts.Tensor { return t.MustDetach(false).MustTotype(gotch.Double, true) }
		w, a, b, m := f64(ly.linear.Weight), f64(ly.A), f64(ly.B), f64(ly.M)
		defer w.MustDrop()
		defer m.MustDrop()
		v := b.MustMatmul(a, true).MustMulScalar(ts.FloatScalar(ly.scaling), true).MustAdd(w, true)
		a.MustDrop()
		n := v.MustLinalgNorm(ts.FloatScalar(2), []int64{1}, false, gotch.Double, false)
		f := m.MustDiv(n, false).MustUnsqueeze(1, true) // out × 1
		n.MustDrop()
		d = v.MustMul(f, true).MustSub(w, true)
		f.MustDrop()
	})
	return d
}

// Trainable implements methods.Method: A, B and m of every layer, then the head.
func (d *DoRA) Trainable() (adapter, head []train.Param) {
	_, head = d.lora.Trainable()
	for _, ly := range d.layers {
		adapter = append(adapter,
			train.Param{Name: ly.linear.Name + ".lora_A.weight", T: ly.A},
			train.Param{Name: ly.linear.Name + ".lora_B.weight", T: ly.B},
			train.Param{Name: ly.linear.Name + ".lora_magnitude_vector.weight", T: ly.M})
	}
	return adapter, head
}

// Hooks implements methods.Method.
func (*DoRA) Hooks() []train.Hook { return nil }

// Deltas implements methods.Method.
func (d *DoRA) Deltas() ([]methods.Delta, error) {
	out := make([]methods.Delta, len(d.layers))
	for i, ly := range d.layers {
		out[i] = methods.Delta{Name: ly.linear.Name, Type: ly.linear.Type, W: ly.delta()}
	}
	return out, nil
}

// CountAdapter implements methods.Method: LoRA's r·(in + out) plus the magnitude
// vector's out, per target layer.
func (d *DoRA) CountAdapter(s models.Shape) int64 {
	var n int64
	for _, l := range methods.Targets(s.Linears, d.cfg.Targets) {
		n += d.cfg.R*(l.In+l.Out) + l.Out
	}
	return n
}

// EvalMode implements methods.EvalCacher. Without dropout (eval mode) the forward is
// (m/n) ⊙ (x·(W + s·B·A)ᵀ) + b, so an evaluation builds W' = (m/n) ⊙ (W + s·B·A) once,
// as PEFT's merge does, instead of the norm and three products on every call.
func (d *DoRA) EvalMode(on bool) {
	for _, ly := range d.layers {
		ly.evalMode(on)
	}
}

// evalMode builds W' for an evaluation (on) or drops it (off).
func (ly *Layer) evalMode(on bool) {
	if ly.evalW != nil {
		ly.evalW.MustDrop()
		ly.evalW = nil
	}
	if !on {
		return
	}
	v := ly.lora.MergedWeight()
	models.NoGrad(func() {
		n := v.MustLinalgNorm(ts.FloatScalar(2), []int64{1}, false, v.DType(), false)
		f := ly.M.MustDiv(n, false).MustUnsqueeze(1, true) // out × 1
		n.MustDrop()
		ly.evalW = v.MustMul(f, true)
		f.MustDrop()
	})
}

// Layers returns the adapted layers.
func (d *DoRA) Layers() []*Layer { return d.layers }

// Describe implements methods.Method.
func (d *DoRA) Describe() string {
	return fmt.Sprintf("dora(r=%d, alpha=%g, dropout=%g, targets=%s)", d.cfg.R, d.cfg.Alpha, d.cfg.Dropout, methods.TargetNames(d.cfg.Targets))
}

// Settings implements methods.Method.
func (d *DoRA) Settings() map[string]any {
	return map[string]any{"r": d.cfg.R, "alpha": d.cfg.Alpha, "dropout": d.cfg.Dropout, "targets": d.cfg.Targets, "seed": d.cfg.Seed}
}
