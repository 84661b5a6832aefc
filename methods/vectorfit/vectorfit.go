package vectorfit

import (
	"encoding/json"
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Config is VectorFit's configuration.
type Config struct {
	// Targets are the layer types adapted; empty means all six.
	Targets []models.LayerType
	// TrainBias trains the bias vector of every adapted layer besides its singular values.
	TrainBias bool
	// FreezeSigma keeps the singular values fixed: biases only, the paper's ablation.
	FreezeSigma bool
	// Forward is Auto, Rebuild or Factored.
	Forward string
	AVF     AVFConfig
}

// DefaultConfig adapts all six linears with their biases, with AVF on.
func DefaultConfig() Config {
	return Config{TrainBias: true, Forward: Auto, AVF: DefaultAVF()}
}

// VectorFit implements methods.Method.
type VectorFit struct {
	cfg    Config
	layers []*Layer
	head   []train.Param
	avf    *avf
}

// New returns VectorFit with cfg; it checks cfg now so a bad flag fails before training.
func New(cfg Config) (*VectorFit, error) {
	switch cfg.Forward {
	case Auto, Rebuild, Factored:
	default:
		return nil, fmt.Errorf("vectorfit: forward %q, want %s, %s or %s", cfg.Forward, Auto, Rebuild, Factored)
	}
	if err := cfg.AVF.validate(); err != nil {
		return nil, err
	}
	if cfg.FreezeSigma && !cfg.TrainBias {
		return nil, fmt.Errorf("vectorfit: sigma=false and bias=false train nothing, want at least one")
	}
	return &VectorFit{cfg: cfg}, nil
}

// Name implements methods.Method.
func (*VectorFit) Name() string { return "vectorfit" }

// Apply freezes m, decomposes every target linear and trains s (and b) plus the head.
func (vf *VectorFit) Apply(m models.Model) error {
	if vf.layers != nil {
		return fmt.Errorf("vectorfit: Apply called twice")
	}
	models.Freeze(m)
	targets := methods.Targets(m.Linears(), vf.cfg.Targets)
	if len(targets) == 0 {
		return fmt.Errorf("vectorfit: the model has no linear layer of types %v", vf.cfg.Targets)
	}
	for _, l := range targets {
		ly, err := newLayer(l, !vf.cfg.FreezeSigma, vf.cfg.TrainBias, vf.cfg.Forward)
		if err != nil {
			return err
		}
		vf.layers = append(vf.layers, ly)
	}
	vf.head = methods.TrainHead(m)
	vf.avf = newAVF(vf.cfg.AVF, vf.vectors())
	return nil
}

// vectors are AVF's units: every trainable s and b.
func (vf *VectorFit) vectors() []vector {
	var vs []vector
	for _, ly := range vf.layers {
		if !vf.cfg.FreezeSigma {
			vs = append(vs, vector{name: ly.linear.Name + ".singular_values", t: ly.singularValues, t0: ly.s0})
		}
		if vf.cfg.TrainBias && ly.bias != nil {
			vs = append(vs, vector{name: ly.linear.Name + ".bias", t: ly.bias, t0: ly.b0})
		}
	}
	return vs
}

// Trainable implements methods.Method. Singular values and biases are scales and
// offsets, not weights: weight decay would pull s towards zero, so both are NoDecay.
func (vf *VectorFit) Trainable() (adapter, head []train.Param) {
	for _, v := range vf.vectors() {
		adapter = append(adapter, train.Param{Name: v.name, T: v.t, NoDecay: true})
	}
	return adapter, vf.head
}

// Hooks implements methods.Method: AVF after every optimizer step.
func (vf *VectorFit) Hooks() []train.Hook {
	if vf.avf == nil || !vf.avf.enabled() {
		return nil
	}
	return []train.Hook{vf.avf.afterStep}
}

// Deltas implements methods.Method: ΔW = U·diag(s − s0)·Vᵀ.
func (vf *VectorFit) Deltas() ([]methods.Delta, error) {
	out := make([]methods.Delta, len(vf.layers))
	for i, ly := range vf.layers {
		out[i] = methods.Delta{Name: ly.linear.Name, Type: ly.linear.Type, W: ly.delta()}
	}
	return out, nil
}

// CountAdapter implements methods.Method: min(out, in) singular values per layer, plus
// out bias entries when biases train.
func (vf *VectorFit) CountAdapter(s models.Shape) int64 {
	var n int64
	for _, l := range methods.Targets(s.Linears, vf.cfg.Targets) {
		if !vf.cfg.FreezeSigma {
			n += min(l.Out, l.In)
		}
		if vf.cfg.TrainBias && l.Bias {
			n += l.Out
		}
	}
	return n
}

// SaveState implements methods.Stateful: AVF's frozen set, RNG and initial vectors.
func (vf *VectorFit) SaveState() (map[string]*ts.Tensor, json.RawMessage, error) {
	if vf.avf == nil {
		return nil, nil, fmt.Errorf("vectorfit: SaveState before Apply")
	}
	return vf.avf.saveState()
}

// LoadState implements methods.Stateful.
func (vf *VectorFit) LoadState(tensors map[string]*ts.Tensor, meta json.RawMessage) error {
	if vf.avf == nil {
		return fmt.Errorf("vectorfit: LoadState before Apply")
	}
	return vf.avf.loadState(tensors, meta)
}

// EvalMode implements methods.EvalCacher: every layer's W = U·diag(s)·Vᵀ is built
// once per evaluation instead of on every forward call.
func (vf *VectorFit) EvalMode(on bool) {
	for _, ly := range vf.layers {
		ly.evalMode(on)
	}
}

// Layers returns the adapted layers (for tests and reports).
func (vf *VectorFit) Layers() []*Layer { return vf.layers }

// Frozen returns the names of the vectors AVF holds frozen now.
func (vf *VectorFit) Frozen() []string {
	if vf.avf == nil {
		return nil
	}
	return vf.avf.frozenNames()
}

// Describe implements methods.Method.
func (vf *VectorFit) Describe() string {
	trains := "bias"
	switch {
	case vf.cfg.FreezeSigma:
		trains = "bias only, no singular values"
	case !vf.cfg.TrainBias:
		trains = "no bias"
	}
	return fmt.Sprintf("vectorfit(targets=%s, %s, %s)", methods.TargetNames(vf.cfg.Targets), trains, vf.cfg.AVF)
}

// Settings implements methods.Method.
func (vf *VectorFit) Settings() map[string]any {
	return map[string]any{
		"targets": vf.cfg.Targets, "train_bias": vf.cfg.TrainBias, "train_sigma": !vf.cfg.FreezeSigma, "forward": vf.cfg.Forward,
		"avf_mode": vf.cfg.AVF.Mode, "avf_k": vf.cfg.AVF.K, "avf_interval": vf.cfg.AVF.Interval,
		"avf_strength": vf.cfg.AVF.Strength, "avf_start": vf.cfg.AVF.start(), "avf_stop": vf.cfg.AVF.Stop,
		"avf_seed": vf.cfg.AVF.Seed,
	}
}
