// Package lora is LoRA (Hu et al., 2021) with the semantics of Hugging Face PEFT's
// LoraLayer: y = x·W0ᵀ + b0 + (α/r)·dropout(x)·Aᵀ·Bᵀ, A (r×in) Kaiming-uniform with
// a = √5, B (out×r) zeros, so the model is unchanged at step 0 and ΔW = (α/r)·B·A has
// rank ≤ r. See SPEC §2.
package lora

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Config is LoRA's configuration, named as PEFT's LoraConfig.
type Config struct {
	R       int64   // rank r
	Alpha   float64 // lora_alpha; scaling = Alpha / R
	Dropout float64 // lora_dropout, on the adapter's input only
	Targets []models.LayerType
	Seed    uint64 // draws A
	// Init, when set, gives each target layer's A (r×in) and B (out×r) in place of the
	// Kaiming-uniform A and zero B; it may rewrite the layer's frozen weight (PiSSA keeps
	// the residual W − scaling·B·A there). Seed is then unused.
	Init func(l *models.Linear, r int64, scaling float64) (a, b *ts.Tensor, err error)
}

// DefaultConfig is r = 8, α = 16, dropout 0.05 on all six linears.
func DefaultConfig() Config { return Config{R: 8, Alpha: 16, Dropout: 0.05} }

// LoRA implements methods.Method.
type LoRA struct {
	cfg    Config
	layers []*Layer
	head   []train.Param
	model  models.Model
	// peftDir and ranks are set by FromPEFT: the adapter folder, and each adapted
	// module's r (rank_pattern may give modules different ranks).
	peftDir string
	ranks   map[string]int64
	// rslora is use_rslora of the adapter FromPEFT read (scaling α/√r); loaded lists
	// the base-model parameters (biases, modules_to_save outside the head) that a loaded
	// adapter wrote into the model, which SavePEFT cannot express.
	rslora bool
	loaded []string
	merged bool // Merge folded the adapters into the weights
}

// New returns LoRA with cfg.
func New(cfg Config) (*LoRA, error) {
	if cfg.R <= 0 {
		return nil, fmt.Errorf("lora: r = %d, want > 0", cfg.R)
	}
	if cfg.Dropout < 0 || cfg.Dropout >= 1 {
		return nil, fmt.Errorf("lora: dropout = %g, want in [0, 1)", cfg.Dropout)
	}
	return &LoRA{cfg: cfg}, nil
}

// Layer is one LoRA-adapted linear.
type Layer struct {
	linear  *models.Linear
	A, B    *ts.Tensor
	alpha   float64 // lora_alpha; scaling is alpha/r (alpha/√r with rsLoRA)
	scaling float64
	dropout float64
	evalW   *ts.Tensor // W + s·B·A while an evaluation runs (EvalMode), else nil
}

// NewLayer is a LoRA layer over l with the given A (r × in), B (out × r), scaling and
// dropout, not installed on l: for LoRA's variants and hand-built tests.
func NewLayer(l *models.Linear, a, b *ts.Tensor, scaling, dropout float64) *Layer {
	return &Layer{linear: l, A: a, B: b, scaling: scaling, dropout: dropout}
}

// Name implements methods.Method.
func (*LoRA) Name() string { return "lora" }

// Apply freezes m and adds A, B to every target linear.
func (lo *LoRA) Apply(m models.Model) error {
	if lo.layers != nil {
		return fmt.Errorf("lora: Apply called twice")
	}
	models.Freeze(m)
	lo.model = m
	targets := methods.Targets(m.Linears(), lo.cfg.Targets)
	if len(targets) == 0 {
		return fmt.Errorf("lora: the model has no linear layer of types %v", lo.cfg.Targets)
	}
	rng := models.NewRNG(lo.cfg.Seed, 11)
	for _, l := range targets {
		// kaiming_uniform_(a=√5): bound = gain·√(3/fan_in), gain = √(2/(1+a²)) = √(1/3),
		// so bound = 1/√in.
		bound := 1 / math.Sqrt(float64(l.In()))
		ly := &Layer{
			linear:  l,
			alpha:   lo.cfg.Alpha,
			scaling: lo.cfg.Alpha / float64(lo.cfg.R),
			dropout: lo.cfg.Dropout,
		}
		if lo.cfg.Init != nil {
			a, b, err := lo.cfg.Init(l, lo.cfg.R, ly.scaling)
			if err != nil {
				return err
			}
			ly.A, ly.B = a, b
		} else {
			ly.A = models.Uniform(rng, -bound, bound, lo.cfg.R, l.In()).MustTotype(l.Weight.DType(), true).MustTo(l.Weight.MustDevice(), true)
			ly.B = ts.MustZeros([]int64{l.Out(), lo.cfg.R}, l.Weight.DType(), l.Weight.MustDevice())
		}
		ly.A.MustRequiresGrad_(true)
		ly.B.MustRequiresGrad_(true)
		l.Adapter = ly
		lo.layers = append(lo.layers, ly)
	}
	lo.head = trainHead(m)
	return nil
}

// Forward implements models.Forwarder. linear(x, A) is x·Aᵀ without a transposed copy;
// every temporary stays referenced until its op returns (gotch's finalizers may
// otherwise free an argument during the C call).
func (ly *Layer) Forward(x *ts.Tensor, training bool) *ts.Tensor {
	if ly.evalW != nil && !training {
		return models.Dense(x, ly.evalW, ly.linear.Bias)
	}
	base := models.Dense(x, ly.linear.Weight, ly.linear.Bias)
	_, xa, release := ly.Branch(x, training)
	defer release()
	xab := models.Dense(xa, ly.B, nil).MustMulScalar(ts.FloatScalar(ly.scaling), true)
	out := base.MustAdd(xab, true)
	xab.MustDrop()
	return out
}

// Branch is the adapter branch's start, shared by LoRA's variants (DoRA): its input
// x̃ (dropout(x) in training, else x) and x̃·Aᵀ. release drops what Branch made.
func (ly *Layer) Branch(x *ts.Tensor, training bool) (in, xa *ts.Tensor, release func()) {
	in = x
	if training && ly.dropout > 0 {
		in = ts.MustDropout(x, ly.dropout, true)
	}
	xa = models.Dense(in, ly.A, nil)
	return in, xa, func() {
		xa.MustDrop()
		if in != x {
			in.MustDrop()
		}
	}
}

// delta is (α/r)·B·A in float64.
func (ly *Layer) delta() *ts.Tensor {
	b := ly.B.MustDetach(false).MustTotype(gotch.Double, true)
	a := ly.A.MustDetach(false).MustTotype(gotch.Double, true)
	defer a.MustDrop()
	return b.MustMatmul(a, true).MustMulScalar(ts.FloatScalar(ly.scaling), true)
}

// Trainable implements methods.Method.
func (lo *LoRA) Trainable() (adapter, head []train.Param) {
	for _, ly := range lo.layers {
		adapter = append(adapter,
			train.Param{Name: ly.linear.Name + ".lora_A.weight", T: ly.A},
			train.Param{Name: ly.linear.Name + ".lora_B.weight", T: ly.B})
	}
	return adapter, lo.head
}

// Hooks implements methods.Method.
func (*LoRA) Hooks() []train.Hook { return nil }

// Deltas implements methods.Method.
func (lo *LoRA) Deltas() ([]methods.Delta, error) {
	out := make([]methods.Delta, len(lo.layers))
	for i, ly := range lo.layers {
		out[i] = methods.Delta{Name: ly.linear.Name, Type: ly.linear.Type, W: ly.delta()}
	}
	return out, nil
}

// CountAdapter implements methods.Method: r·(in + out) per target layer.
func (lo *LoRA) CountAdapter(s models.Shape) int64 {
	var n int64
	if lo.ranks != nil { // from a PEFT adapter: its modules, its ranks
		for _, l := range s.Linears {
			n += lo.ranks[l.Name] * (l.In + l.Out)
		}
		return n
	}
	for _, l := range methods.Targets(s.Linears, lo.cfg.Targets) {
		n += lo.cfg.R * (l.In + l.Out)
	}
	return n
}

// Merge folds every adapter into its weight, W ← W + (α/r)·B·A, and removes it, as
// PEFT's merge_and_unload: inference then costs what the base model costs.
func (lo *LoRA) Merge() {
	models.NoGrad(func() {
		for _, ly := range lo.layers {
			d := ly.delta().MustTotype(ly.linear.Weight.DType(), true)
			torchx.InPlace(ly.linear.Weight, func() { ly.linear.Weight.MustAdd_(d) })
			d.MustDrop()
			ly.linear.Adapter = nil
		}
	})
	lo.merged = true
}

// EvalMode implements methods.EvalCacher: during an evaluation every layer runs on
// W + s·B·A, merged once into a new tensor (the frozen W is left as it is, so unmerging
// cannot round it), at the cost of one weight-sized tensor per layer while it runs.
func (lo *LoRA) EvalMode(on bool) {
	for _, ly := range lo.layers {
		ly.evalMode(on && !lo.merged)
	}
}

// evalMode builds W + s·B·A for an evaluation (on) or drops it (off).
func (ly *Layer) evalMode(on bool) {
	if ly.evalW != nil {
		ly.evalW.MustDrop()
		ly.evalW = nil
	}
	if !on {
		return
	}
	ly.evalW = ly.MergedWeight()
}

// MergedWeight is W + s·B·A, a new tensor without gradient (PEFT's merged weight;
// the frozen W is not modified). DoRA builds on it.
func (ly *Layer) MergedWeight() *ts.Tensor {
	var w *ts.Tensor
	models.NoGrad(func() {
		ba := ly.B.MustMatmul(ly.A, false)
		torchx.InPlace(ba, func() { ba.MustMulScalar_(ts.FloatScalar(ly.scaling)) })
		w = ly.linear.Weight.MustAdd(ba, false)
		ba.MustDrop()
	})
	return w
}

// Layers returns the adapted layers.
func (lo *LoRA) Layers() []*Layer { return lo.layers }

// Linear is the linear layer ly adapts.
func (ly *Layer) Linear() *models.Linear { return ly.linear }

// Describe implements methods.Method.
func (lo *LoRA) Describe() string {
	if lo.peftDir != "" {
		return fmt.Sprintf("lora(PEFT adapter %s: %d layers, dropout=%g)", lo.peftDir, len(lo.layers), lo.cfg.Dropout)
	}
	return fmt.Sprintf("lora(r=%d, alpha=%g, dropout=%g, targets=%s)", lo.cfg.R, lo.cfg.Alpha, lo.cfg.Dropout, methods.TargetNames(lo.cfg.Targets))
}

// Settings implements methods.Method.
func (lo *LoRA) Settings() map[string]any {
	if lo.peftDir != "" {
		return map[string]any{"peft_adapter": lo.peftDir, "ranks": lo.ranks, "dropout": lo.cfg.Dropout}
	}
	return map[string]any{"r": lo.cfg.R, "alpha": lo.cfg.Alpha, "dropout": lo.cfg.Dropout, "targets": lo.cfg.Targets, "seed": lo.cfg.Seed}
}

// trainHead makes the task head trainable, as for every method.
func trainHead(m models.Model) []train.Param { return methods.TrainHead(m) }

// Scaling is the factor of B·A in ΔW: α/r (α/√r with rsLoRA). Exported for
// methods/dora, which builds DoRA on LoRA's A and B.
func (ly *Layer) Scaling() float64 { return ly.scaling }
