// Package adalora is AdaLoRA (Zhang et al., "Adaptive Budget Allocation for
// Parameter-Efficient Fine-Tuning", ICLR 2023) exactly as Hugging Face PEFT 0.12.0
// implements it (peft/tuners/adalora/{config,layer,model}.py): every adapted W gets
// ΔW = P·Λ·Q · scaling/(ranknum + 1e-5), P = lora_B (out×r), Λ = diag(lora_E) (r×1),
// Q = lora_A (r×in), r = init_r; the training loss gets orth_reg_weight times the mean
// over all P and Q of ‖PᵀP − I‖_F and ‖QQᵀ − I‖_F (methods.Regularizer), and after every
// optimizer step the RankAllocator smooths the sensitivity |θ·∇θ| of every entry (EMA
// β1) and its uncertainty (EMA β2), scores each triplet (Pᵢ, λᵢ, Qᵢ) and zeroes the λᵢ
// of the least important triplets down to a global budget that falls cubically from
// init_r to target_r per matrix between tinit and total_step − tfinal.
//
// As in PEFT 0.12.0 (not as the paper writes it): the penalty is the mean of
// Frobenius norms, not a sum of squared norms; ranknum stays init_r (PEFT never
// resizes), so scaling is lora_alpha/init_r throughout; masked λᵢ are zeroed, not
// frozen, and may grow back until the final allocation at total_step − tfinal, after
// which the final pattern is re-applied every step.
package adalora

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Config is AdaLoRA's configuration, named as PEFT's AdaLoraConfig.
type Config struct {
	InitR, TargetR int     // init_r, target_r (average rank per matrix at the end)
	Tinit, Tfinal  int     // tinit, tfinal: steps before the budget falls, after it ends
	DeltaT         int     // deltaT: re-allocate every deltaT steps while it falls
	TotalStep      int     // total_step: the run's optimizer steps (0: SetTotalStep before training)
	Beta1, Beta2   float64 // EMA of sensitivity, of uncertainty
	OrthRegWeight  float64 // orth_reg_weight
	Alpha          float64 // lora_alpha; scaling = lora_alpha/ranknum (init_r when ≤ 0, as PEFT)
	Dropout        float64 // lora_dropout on the adapter's input
	Targets        []models.LayerType
	Seed           uint64 // draws P and Q
}

// DefaultConfig is AdaLoraConfig's defaults (lora_alpha and lora_dropout as LoraConfig's).
func DefaultConfig() Config {
	return Config{InitR: 12, TargetR: 8, DeltaT: 1, Beta1: 0.85, Beta2: 0.85, OrthRegWeight: 0.5, Alpha: 8}
}

// Factory builds AdaLoRA from options init_r, target_r, tinit, tfinal, deltaT, beta1,
// beta2, orth_reg_weight, lora_alpha, lora_dropout, total_step, targets, seed.
func Factory(o *methods.Options) (methods.Method, error) {
	d := DefaultConfig()
	cfg := Config{
		InitR:         o.Int("init_r", d.InitR),
		TargetR:       o.Int("target_r", d.TargetR),
		Tinit:         o.Int("tinit", d.Tinit),
		Tfinal:        o.Int("tfinal", d.Tfinal),
		DeltaT:        o.Int("deltaT", d.DeltaT),
		TotalStep:     o.Int("total_step", d.TotalStep),
		Beta1:         o.Float("beta1", d.Beta1),
		Beta2:         o.Float("beta2", d.Beta2),
		OrthRegWeight: o.Float("orth_reg_weight", d.OrthRegWeight),
		Alpha:         o.Float("lora_alpha", d.Alpha),
		Dropout:       o.Float("lora_dropout", d.Dropout),
		Targets:       o.LayerTypes("targets", d.Targets),
		Seed:          uint64(o.Int("seed", 0)),
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	return New(cfg)
}

// validate rejects what PEFT would fail on later (or silently mis-train with).
func (c Config) validate() error {
	switch {
	case c.InitR <= 0:
		return fmt.Errorf("adalora: init_r = %d, want > 0", c.InitR)
	case c.TargetR < 0 || c.TargetR >= c.InitR:
		return fmt.Errorf("adalora: target_r = %d, want in [0, init_r = %d) (the budget must fall)", c.TargetR, c.InitR)
	case c.Tinit < 0 || c.Tfinal < 0:
		return fmt.Errorf("adalora: tinit = %d, tfinal = %d, want ≥ 0", c.Tinit, c.Tfinal)
	case c.DeltaT <= 0:
		return fmt.Errorf("adalora: deltaT = %d, want > 0", c.DeltaT)
	case !(c.Beta1 > 0 && c.Beta1 < 1) || !(c.Beta2 > 0 && c.Beta2 < 1):
		return fmt.Errorf("adalora: beta1 = %g, beta2 = %g, want both in (0, 1)", c.Beta1, c.Beta2)
	case !(c.OrthRegWeight > 0):
		return fmt.Errorf("adalora: orth_reg_weight = %g, want > 0 (PEFT refuses ≤ 0)", c.OrthRegWeight)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("adalora: lora_dropout = %g, want in [0, 1)", c.Dropout)
	case c.TotalStep < 0:
		return fmt.Errorf("adalora: total_step = %d, want > 0 (or 0 to set it from the run)", c.TotalStep)
	}
	return c.checkSchedule()
}

// checkSchedule needs a budgeting phase: tinit < total_step − tfinal (PEFT divides by
// their difference).
func (c Config) checkSchedule() error {
	if c.TotalStep > 0 && c.Tinit >= c.TotalStep-c.Tfinal {
		return fmt.Errorf("adalora: tinit = %d, tfinal = %d, total_step = %d leave no steps to reduce the budget, want tinit < total_step − tfinal",
			c.Tinit, c.Tfinal, c.TotalStep)
	}
	return nil
}

// AdaLoRA implements methods.Method, methods.Regularizer and methods.Stateful.
type AdaLoRA struct {
	cfg    Config
	layers []*Layer
	head   []train.Param
	alloc  *allocator
}

// New returns AdaLoRA with cfg.
func New(cfg Config) (*AdaLoRA, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &AdaLoRA{cfg: cfg}, nil
}

// TotalStep is total_step (0: not set yet).
func (ad *AdaLoRA) TotalStep() int { return ad.cfg.TotalStep }

// SetTotalStep sets total_step from the run when the options left it 0.
func (ad *AdaLoRA) SetTotalStep(n int) error {
	c := ad.cfg
	c.TotalStep = n
	if n <= 0 {
		return fmt.Errorf("adalora: total_step = %d, want > 0", n)
	}
	if err := c.checkSchedule(); err != nil {
		return err
	}
	ad.cfg = c
	return nil
}

// Layer is one AdaLoRA-adapted linear (PEFT's SVDLinear).
type Layer struct {
	linear  *models.Linear
	A, E, B *ts.Tensor // Q (r×in), Λ (r×1), P (out×r)
	scaling float64    // lora_alpha
	ranknum float64    // float32(init_r) + 1e-5 in float32, as PEFT's ranknum + 1e-5
	dropout float64
}

// Name implements methods.Method.
func (*AdaLoRA) Name() string { return "adalora" }

// Apply freezes m and adds P, Λ, Q to every target linear, initialised as PEFT's
// reset_lora_parameters: Λ = 0 (the model is unchanged), P, Q ~ N(0, 0.02²).
func (ad *AdaLoRA) Apply(m models.Model) error {
	if ad.layers != nil {
		return fmt.Errorf("adalora: Apply called twice")
	}
	targets := methods.Targets(m.Linears(), ad.cfg.Targets)
	if len(targets) == 0 {
		return fmt.Errorf("adalora: the model has no linear layer of types %v", ad.cfg.Targets)
	}
	models.Freeze(m)
	rng := models.NewRNG(ad.cfg.Seed, 14)
	r := int64(ad.cfg.InitR)
	scaling := ad.cfg.Alpha
	if scaling <= 0 {
		scaling = float64(r) // PEFT: lora_alpha if lora_alpha > 0 else float(r)
	}
	for _, l := range targets {
		dt, dev := l.Weight.DType(), l.Weight.MustDevice()
		ly := &Layer{
			linear:  l,
			A:       models.Normal(rng, 0.02, r, l.In()).MustTotype(dt, true).MustTo(dev, true),
			E:       ts.MustZeros([]int64{r, 1}, dt, dev),
			B:       models.Normal(rng, 0.02, l.Out(), r).MustTotype(dt, true).MustTo(dev, true),
			scaling: scaling,
			ranknum: float64(float32(float32(r) + 1e-5)),
			dropout: ad.cfg.Dropout,
		}
		for _, p := range []*ts.Tensor{ly.A, ly.E, ly.B} {
			p.MustRequiresGrad_(true)
		}
		l.Adapter = ly
		ad.layers = append(ad.layers, ly)
	}
	ad.head = methods.TrainHead(m)
	ad.alloc = newAllocator(&ad.cfg, ad.layers)
	return nil
}

// Forward implements models.Forwarder: x·W0ᵀ + b0 + (dropout(x)·(Q⊙λ)ᵀ·Pᵀ)·α/(ranknum+1e-5),
// in PEFT's order of operations.
func (ly *Layer) Forward(x *ts.Tensor, training bool) *ts.Tensor {
	base := models.Dense(x, ly.linear.Weight, ly.linear.Bias)
	in := x
	if training && ly.dropout > 0 {
		in = ts.MustDropout(x, ly.dropout, true)
		defer in.MustDrop()
	}
	ae := ly.A.MustMul(ly.E, false)
	xa := models.Dense(in, ae, nil)
	ae.MustDrop()
	xab := models.Dense(xa, ly.B, nil).MustMulScalar(ts.FloatScalar(ly.scaling), true).MustDivScalar(ts.FloatScalar(ly.ranknum), true)
	xa.MustDrop()
	out := base.MustAdd(xab, true)
	xab.MustDrop()
	return out
}

// delta is P·(Q⊙λ)·α/(ranknum+1e-5) in float64.
func (ly *Layer) delta() *ts.Tensor {
	f64 := func(t *ts.Tensor) *ts.Tensor { return t.MustDetach(false).MustTotype(gotch.Double, true) }
	a, e, b := f64(ly.A), f64(ly.E), f64(ly.B)
	ae := a.MustMul(e, true)
	e.MustDrop()
	defer ae.MustDrop()
	return b.MustMatmul(ae, true).MustMulScalar(ts.FloatScalar(ly.scaling/ly.ranknum), true)
}

// Regularization implements methods.Regularizer: orth_reg_weight · mean over every P
// and Q of ‖PᵀP − I‖_F and ‖QQᵀ − I‖_F, as AdaLoraModel.forward adds it to the loss.
func (ad *AdaLoRA) Regularization() (*ts.Tensor, error) {
	if len(ad.layers) == 0 {
		return nil, fmt.Errorf("adalora: Regularization before Apply")
	}
	var sum *ts.Tensor
	for _, ly := range ad.layers {
		at, bt := ly.A.MustT(false), ly.B.MustT(false)
		covs := []*ts.Tensor{ly.A.MustMatmul(at, false), bt.MustMatmul(ly.B, false)} // QQᵀ, PᵀP
		at.MustDrop()
		bt.MustDrop()
		for _, cov := range covs {
			eye := ts.MustEye(cov.MustSize()[0], cov.DType(), cov.MustDevice())
			n := cov.MustSub(eye, true).MustNorm(true)
			eye.MustDrop()
			if sum == nil {
				sum = n
			} else {
				sum = sum.MustAdd(n, true)
				n.MustDrop()
			}
		}
	}
	return sum.MustDivScalar(ts.FloatScalar(float64(2*len(ad.layers))), true).MustMulScalar(ts.FloatScalar(ad.cfg.OrthRegWeight), true), nil
}

// Trainable implements methods.Method: Q, Λ, P of every layer (weight decay on all
// three, as the Trainer decays every non-bias, non-LayerNorm parameter), and the head.
func (ad *AdaLoRA) Trainable() (adapter, head []train.Param) {
	for _, ly := range ad.layers {
		adapter = append(adapter,
			train.Param{Name: ly.linear.Name + ".lora_A", T: ly.A},
			train.Param{Name: ly.linear.Name + ".lora_E", T: ly.E},
			train.Param{Name: ly.linear.Name + ".lora_B", T: ly.B})
	}
	return adapter, ad.head
}

// Hooks implements methods.Method: the RankAllocator after every optimizer step.
func (ad *AdaLoRA) Hooks() []train.Hook { return []train.Hook{ad.afterStep} }

// Deltas implements methods.Method.
func (ad *AdaLoRA) Deltas() ([]methods.Delta, error) {
	out := make([]methods.Delta, len(ad.layers))
	for i, ly := range ad.layers {
		out[i] = methods.Delta{Name: ly.linear.Name, Type: ly.linear.Type, W: ly.delta()}
	}
	return out, nil
}

// CountAdapter implements methods.Method: init_r·(in + out + 1) per target, the
// parameters trained (masking zeroes λᵢ but does not remove them, as in PEFT).
func (ad *AdaLoRA) CountAdapter(s models.Shape) int64 {
	var n int64
	for _, l := range methods.Targets(s.Linears, ad.cfg.Targets) {
		n += int64(ad.cfg.InitR) * (l.In + l.Out + 1)
	}
	return n
}

// FinalBudgetCount is the paper's "# Params": the parameters of the triplets kept at the
// end, target_r·(in + out + 1) per target on average (exact when every matrix has the
// same in + out).
func (ad *AdaLoRA) FinalBudgetCount(s models.Shape) int64 {
	var n int64
	for _, l := range methods.Targets(s.Linears, ad.cfg.Targets) {
		n += int64(ad.cfg.TargetR) * (l.In + l.Out + 1)
	}
	return n
}

// Describe implements methods.Method.
func (ad *AdaLoRA) Describe() string {
	c := ad.cfg
	return fmt.Sprintf("adalora(r %d→%d, alpha=%g, dropout=%g, tinit=%d, tfinal=%d, deltaT=%d, total_step=%d, orth_reg=%g, targets=%s)",
		c.InitR, c.TargetR, c.Alpha, c.Dropout, c.Tinit, c.Tfinal, c.DeltaT, c.TotalStep, c.OrthRegWeight, methods.TargetNames(c.Targets))
}

// Settings implements methods.Method.
func (ad *AdaLoRA) Settings() map[string]any {
	c := ad.cfg
	return map[string]any{"init_r": c.InitR, "target_r": c.TargetR, "tinit": c.Tinit, "tfinal": c.Tfinal, "deltaT": c.DeltaT,
		"total_step": c.TotalStep, "beta1": c.Beta1, "beta2": c.Beta2, "orth_reg_weight": c.OrthRegWeight,
		"lora_alpha": c.Alpha, "lora_dropout": c.Dropout, "targets": c.Targets, "seed": c.Seed}
}

// Layers returns the adapted layers.
func (ad *AdaLoRA) Layers() []*Layer { return ad.layers }
