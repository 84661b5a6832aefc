// Package hadapter is the Houlsby bottleneck adapter (Houlsby et al., 2019, "Parameter-
// Efficient Transfer Learning for NLP"), with the semantics of the `adapters` package
// (adapters 1.0.1, config "double_seq_bn" / DoubleSeqBnConfig): two adapters per
// transformer block, one on the attention output projection (attn_out, the package's
// mh_adapter) and one on the FFN output projection (ffn_down, output_adapter), each
//
//	a(h) = h + up(act(down(h))),  down: hidden → hidden/reduction_factor, up: back,
//
// applied to the sub-layer's output inside the residual, before the block's LayerNorm:
// LayerNorm(a(h) + residual). The package's "bert" initialisation draws both projection
// weights from N(0, 0.02²) and zeroes the biases, so the adapter starts near, not at,
// the identity. Its defaults: reduction_factor 16, non_linearity "swish" (SiLU).
//
// Placement. The package applies the adapter to dropout(dense(x)); here it runs as the
// linear's Forwarder, on dense(x), and the block applies dropout afterwards:
// LayerNorm(dropout(a(h)) + residual) against LayerNorm(a(dropout(h)) + residual). The
// two are identical with dropout off (evaluation, the equivalence fixtures) and differ
// only in where training-time dropout masks fall.
//
// The same layer with one adapter on ffn_down and ReLU is package padapter (Pfeiffer).
//
// An adapter is a function on the linear's output, not a change of its weight, so
// Deltas returns nothing: there is no ΔW whose rank could be reported.
package hadapter

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Config is a bottleneck adapter's configuration, named as the adapters package's BnConfig.
type Config struct {
	Method string // the registry name: "hadapter" or "padapter"
	// ReductionFactor is hidden / bottleneck: the bottleneck has
	// max(1, ⌊hidden / ReductionFactor⌋) units, as the package's int(hidden // rf).
	ReductionFactor float64
	NonLinearity    string             // "swish" (= "silu"), "relu", "gelu", "gelu_new", "tanh"
	Targets         []models.LayerType // the linears whose output gets an adapter
	Seed            uint64             // draws the N(0, 0.02²) weights
}

// HoulsbyConfig is DoubleSeqBnConfig's: reduction 16, swish, after attention and FFN.
func HoulsbyConfig() Config {
	return Config{Method: "hadapter", ReductionFactor: 16, NonLinearity: "swish",
		Targets: []models.LayerType{models.AttnOut, models.FFNDown}}
}

// InitStd is the package's "bert" init: weights N(0, 0.02²), biases zero.
const InitStd = 0.02

// NonLinearities are the activations accepted, as transformers' get_activation names them.
var NonLinearities = []string{"swish", "silu", "relu", "gelu", "gelu_new", "tanh"}

// Factory builds the Houlsby adapter from options reduction_factor, non_linearity, seed.
func Factory(o *methods.Options) (methods.Method, error) {
	return FromOptions(o, HoulsbyConfig())
}

// FromOptions reads the options shared by the bottleneck adapters over the defaults d;
// the targets are fixed by the method.
func FromOptions(o *methods.Options, d Config) (methods.Method, error) {
	d.ReductionFactor = o.Float("reduction_factor", d.ReductionFactor)
	d.NonLinearity = o.String("non_linearity", d.NonLinearity)
	d.Seed = uint64(o.Int("seed", int(d.Seed)))
	if err := o.Err(); err != nil {
		return nil, err
	}
	return New(d)
}

// Adapters implements methods.Method.
type Adapters struct {
	cfg    Config
	layers []*Layer
	head   []train.Param
}

// New checks cfg and returns the method.
func New(cfg Config) (*Adapters, error) {
	if !(cfg.ReductionFactor > 0) || math.IsInf(cfg.ReductionFactor, 0) {
		return nil, fmt.Errorf("%s: reduction_factor = %g, want a finite number > 0", cfg.Method, cfg.ReductionFactor)
	}
	if !slices.Contains(NonLinearities, strings.ToLower(cfg.NonLinearity)) {
		return nil, fmt.Errorf("%s: non_linearity = %q, want one of %s", cfg.Method, cfg.NonLinearity, strings.Join(NonLinearities, ", "))
	}
	if len(cfg.Targets) == 0 {
		return nil, fmt.Errorf("%s: no target layer types", cfg.Method)
	}
	cfg.NonLinearity = strings.ToLower(cfg.NonLinearity)
	return &Adapters{cfg: cfg}, nil
}

// Bottleneck is the adapter width on a linear with out outputs.
func (a *Adapters) Bottleneck(out int64) int64 {
	return max(1, int64(math.Floor(float64(out)/a.cfg.ReductionFactor)))
}

// Layer is one linear with a bottleneck adapter on its output.
type Layer struct {
	linear       *models.Linear
	DownW, DownB *ts.Tensor // m×out, m
	UpW, UpB     *ts.Tensor // out×m, out
	act          string
}

// Name implements methods.Method.
func (a *Adapters) Name() string { return a.cfg.Method }

// Apply freezes m and puts an adapter on the output of every target linear.
func (a *Adapters) Apply(m models.Model) error {
	if a.layers != nil {
		return fmt.Errorf("%s: Apply called twice", a.cfg.Method)
	}
	targets := methods.Targets(m.Linears(), a.cfg.Targets)
	if len(targets) == 0 {
		return fmt.Errorf("%s: the model has no linear layer of types %v", a.cfg.Method, a.cfg.Targets)
	}
	models.Freeze(m)
	rng := models.NewRNG(a.cfg.Seed, 14)
	for _, l := range targets {
		out, bn := l.Out(), a.Bottleneck(l.Out())
		dt, dev := l.Weight.DType(), l.Weight.MustDevice()
		like := func(t *ts.Tensor) *ts.Tensor {
			t = t.MustTotype(dt, true).MustTo(dev, true)
			t.MustRequiresGrad_(true)
			return t
		}
		ly := &Layer{
			linear: l, act: a.cfg.NonLinearity,
			DownW: like(models.Normal(rng, InitStd, bn, out)),
			DownB: like(ts.MustZeros([]int64{bn}, dt, dev)),
			UpW:   like(models.Normal(rng, InitStd, out, bn)),
			UpB:   like(ts.MustZeros([]int64{out}, dt, dev)),
		}
		l.Adapter = ly
		a.layers = append(a.layers, ly)
	}
	a.head = methods.TrainHead(m)
	return nil
}

// Forward implements models.Forwarder: h = x·Wᵀ + b, then h + up(act(down(h))).
func (ly *Layer) Forward(x *ts.Tensor, training bool) *ts.Tensor {
	h := models.Dense(x, ly.linear.Weight, ly.linear.Bias)
	z := activate(models.Dense(h, ly.DownW, ly.DownB), ly.act)
	u := models.Dense(z, ly.UpW, ly.UpB)
	z.MustDrop()
	out := h.MustAdd(u, true)
	u.MustDrop()
	return out
}

// activate applies the named non-linearity and frees x. transformers' "swish"/"silu" is
// SiLU, "gelu" the exact erf GELU, "gelu_new" the tanh approximation.
func activate(x *ts.Tensor, name string) *ts.Tensor {
	switch name {
	case "relu":
		return x.MustRelu(true)
	case "gelu":
		return x.MustGelu("none", true)
	case "gelu_new":
		return x.MustGelu("tanh", true)
	case "tanh":
		return x.MustTanh(true)
	default: // swish, silu (New accepts nothing else)
		return x.MustSilu(true)
	}
}

// Layers returns the adapted linears.
func (a *Adapters) Layers() []*Layer { return a.layers }

// Linear is the linear whose output ly adapts.
func (ly *Layer) Linear() *models.Linear { return ly.linear }

// Trainable implements methods.Method. Biases are excluded from weight decay, as the
// Hugging Face Trainer (which the package's examples use) excludes them.
func (a *Adapters) Trainable() (adapter, head []train.Param) {
	for _, ly := range a.layers {
		p := ly.linear.Name + ".adapter."
		for _, t := range []struct {
			n string
			t *ts.Tensor
		}{{"adapter_down.weight", ly.DownW}, {"adapter_down.bias", ly.DownB}, {"adapter_up.weight", ly.UpW}, {"adapter_up.bias", ly.UpB}} {
			adapter = append(adapter, train.Param{Name: p + t.n, T: t.t, NoDecay: methods.NoDecay(t.n)})
		}
	}
	return adapter, a.head
}

// Hooks implements methods.Method.
func (*Adapters) Hooks() []train.Hook { return nil }

// Deltas implements methods.Method: none. The adapter adds a non-linear function of the
// linear's output; no weight matrix changes, so there is no ΔW to rank.
func (*Adapters) Deltas() ([]methods.Delta, error) { return nil, nil }

// CountAdapter implements methods.Method: per target linear with out outputs and
// bottleneck m, out·m + m (down) + m·out + out (up).
func (a *Adapters) CountAdapter(s models.Shape) int64 {
	var n int64
	for _, l := range methods.Targets(s.Linears, a.cfg.Targets) {
		m := a.Bottleneck(l.Out)
		n += 2*l.Out*m + m + l.Out
	}
	return n
}

// Describe implements methods.Method.
func (a *Adapters) Describe() string {
	return fmt.Sprintf("%s(reduction_factor=%g, non_linearity=%s, targets=%s)", a.cfg.Method, a.cfg.ReductionFactor, a.cfg.NonLinearity, methods.TargetNames(a.cfg.Targets))
}

// Settings implements methods.Method.
func (a *Adapters) Settings() map[string]any {
	return map[string]any{"reduction_factor": a.cfg.ReductionFactor, "non_linearity": a.cfg.NonLinearity,
		"targets": a.cfg.Targets, "seed": a.cfg.Seed, "init_weights": "bert"}
}
