// Package svft is SVFT (Lingam et al., 2024, "SVFT: Parameter-Efficient Fine-Tuning
// with Singular Vectors", arXiv:2405.19597): every adapted weight W0 = U·diag(σ)·Vᵀ
// keeps U, σ, V frozen and learns a sparse n×n matrix M (n = min(out, in)) at fixed
// positions, W = U·(diag(σ) + M)·Vᵀ = W0 + U·M·Vᵀ.
//
// It follows the official implementation, github.com/VijayLingam95/SVFT
// (svft/svft_layers.py, SVFTLayer and LinearWithSVFT):
//   - patterns: "banded" (diagonals −d..d; d = 0 is SVFT^P, called "plain" here),
//     "random" (k positions drawn anywhere in M with replacement) and "top_k" (the k
//     largest entries of a score matrix built from U and V, see topKScores), with
//     k = n(2d+1) − d(d+1), the band's size, for all three;
//   - M's values start from kaiming_normal_ (std √(2/k)) and M is scaled by
//     sigmoid(gate), a trainable scalar per layer starting at 0 (so by ½): the model is
//     NOT the pre-trained one at step 0. init=zero starts M at 0 instead (then the
//     model starts exactly at the pre-trained one);
//   - the bias stays frozen (freeze_model freezes everything but the classifier before
//     the layers are replaced); train_bias=true trains it anyway;
//   - the singular vectors are not truncated (the code's rank and fill_orthonormal
//     options are not implemented; the released run scripts set neither).
//
// Differences in arithmetic, not in the model: the SVD is computed in float64 and cast
// (the official code decomposes in the model's dtype), and the forward pass adds
// (x·V)·(g·M)ᵀ·Uᵀ to the frozen x·W0ᵀ + b instead of rebuilding U·(Σ+M)·Vᵀ, so it costs
// O(tokens·(in+out+n)·n) (dense M; the diagonal needs only O(tokens·(in+out)·n)), not a
// rebuilt out×in weight per call.
package svft

import (
	"fmt"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Patterns of M.
const (
	Plain  = "plain"  // the diagonal only (the official "banded" with off_diag = 0)
	Banded = "banded" // diagonals −d..d
	Random = "random" // k random positions
	TopK   = "top_k"  // the top-k scores of topKScores
)

// Initialisations of M's values.
const (
	Kaiming = "kaiming" // official: N(0, 2/k)
	Zero    = "zero"    // M = 0: the model starts at the pre-trained one
)

// Forward strategies for (x·V)·Mᵀ.
const (
	Auto   = "auto"   // dense (measured faster on CPU, see useSparse); the diagonal needs no M
	Sparse = "sparse" // gather the k columns, scale, scatter-add
	Dense  = "dense"  // build the n×n M, one matmul
)

// Config is SVFT's configuration, named as the official code's arguments.
type Config struct {
	Pattern   string // plain, banded, random or top_k
	OffDiag   int64  // off_diag: d, the band's half-width (k follows from it for every pattern)
	Targets   []models.LayerType
	Seed      uint64 // draws random patterns and the kaiming values
	Init      string // kaiming (official) or zero
	TrainBias bool   // official: false
	Forward   string // auto, sparse or dense
}

// DefaultConfig is SVFT^P (the diagonal) on all six linears, as the official scripts
// run it ("banded", off_diag 0, every linear module), with the official initialisation.
func DefaultConfig() Config {
	return Config{Pattern: Plain, Init: Kaiming, Forward: Auto}
}

// SVFT implements methods.Method.
type SVFT struct {
	cfg    Config
	layers []*Layer
	head   []train.Param
}

// New checks cfg and returns SVFT.
func New(cfg Config) (*SVFT, error) {
	switch cfg.Pattern {
	case Plain:
		if cfg.OffDiag != 0 {
			return nil, fmt.Errorf("svft: pattern plain with off_diag=%d: plain is the diagonal (off_diag=0); use pattern=banded for a band", cfg.OffDiag)
		}
	case Banded, Random, TopK:
	default:
		return nil, fmt.Errorf("svft: pattern %q, want %s, %s, %s or %s", cfg.Pattern, Plain, Banded, Random, TopK)
	}
	if cfg.OffDiag < 0 {
		return nil, fmt.Errorf("svft: off_diag=%d, want ≥ 0", cfg.OffDiag)
	}
	switch cfg.Init {
	case Kaiming, Zero:
	default:
		return nil, fmt.Errorf("svft: init %q, want %s or %s", cfg.Init, Kaiming, Zero)
	}
	switch cfg.Forward {
	case Auto, Sparse, Dense:
	default:
		return nil, fmt.Errorf("svft: forward %q, want %s, %s or %s", cfg.Forward, Auto, Sparse, Dense)
	}
	return &SVFT{cfg: cfg}, nil
}

// Factory builds SVFT from key=value options: pattern, off_diag, targets, seed, init,
// train_bias, forward.
func Factory(o *methods.Options) (methods.Method, error) {
	def := DefaultConfig()
	seed := o.Int("seed", int(def.Seed))
	cfg := Config{
		Pattern:   o.String("pattern", def.Pattern),
		OffDiag:   int64(o.Int("off_diag", int(def.OffDiag))),
		Targets:   o.LayerTypes("targets", def.Targets),
		Seed:      uint64(seed),
		Init:      o.String("init", def.Init),
		TrainBias: o.Bool("train_bias", def.TrainBias),
		Forward:   o.String("forward", def.Forward),
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	if seed < 0 {
		return nil, fmt.Errorf("svft: seed=%d, want ≥ 0", seed)
	}
	return New(cfg)
}

// Name implements methods.Method.
func (*SVFT) Name() string { return "svft" }

// Apply freezes m and re-parametrises every target linear.
func (sv *SVFT) Apply(m models.Model) error {
	if sv.layers != nil {
		return fmt.Errorf("svft: Apply called twice")
	}
	targets := methods.Targets(m.Linears(), sv.cfg.Targets)
	if len(targets) == 0 {
		return fmt.Errorf("svft: the model has no linear layer of types %v", sv.cfg.Targets)
	}
	models.Freeze(m)
	// Two streams, so that the random pattern does not shift the initial values.
	pattern, init := models.NewRNG(sv.cfg.Seed, 21), models.NewRNG(sv.cfg.Seed, 22)
	for _, l := range targets {
		ly, err := newLayer(l, sv.cfg, pattern, init)
		if err != nil {
			return err
		}
		sv.layers = append(sv.layers, ly)
	}
	sv.head = methods.TrainHead(m)
	return nil
}

// Trainable implements methods.Method. The official code hands M's values and the gate
// to one AdamW group with the run's weight decay, so both decay here too; a trained
// bias does not (as the Trainer excludes biases).
func (sv *SVFT) Trainable() (adapter, head []train.Param) {
	for _, ly := range sv.layers {
		adapter = append(adapter,
			train.Param{Name: ly.linear.Name + ".svft_layer.s", T: ly.s},
			train.Param{Name: ly.linear.Name + ".svft_layer.gate", T: ly.gate})
		if sv.cfg.TrainBias && ly.bias != nil {
			adapter = append(adapter, train.Param{Name: ly.linear.Name + ".bias", T: ly.bias, NoDecay: true})
		}
	}
	return adapter, sv.head
}

// Hooks implements methods.Method.
func (*SVFT) Hooks() []train.Hook { return nil }

// Deltas implements methods.Method: ΔW = U·(sigmoid(gate)·M)·Vᵀ, the adapted weight
// minus the pre-trained one (with init=kaiming it is not zero at Apply).
func (sv *SVFT) Deltas() ([]methods.Delta, error) {
	out := make([]methods.Delta, len(sv.layers))
	for i, ly := range sv.layers {
		out[i] = methods.Delta{Name: ly.linear.Name, Type: ly.linear.Type, W: ly.delta()}
	}
	return out, nil
}

// CountAdapter implements methods.Method: per target layer, k = n(2d+1) − d(d+1) values
// of M (n = min(out, in)) plus one gate, plus out bias entries when biases train.
func (sv *SVFT) CountAdapter(s models.Shape) int64 {
	var c int64
	for _, l := range methods.Targets(s.Linears, sv.cfg.Targets) {
		c += nonzeros(min(l.Out, l.In), sv.cfg.OffDiag) + 1
		if sv.cfg.TrainBias && l.Bias {
			c += l.Out
		}
	}
	return c
}

// Layers returns the adapted layers.
func (sv *SVFT) Layers() []*Layer { return sv.layers }

// Describe implements methods.Method.
func (sv *SVFT) Describe() string {
	bias := "no bias"
	if sv.cfg.TrainBias {
		bias = "bias"
	}
	return fmt.Sprintf("svft(pattern=%s, off_diag=%d, init=%s, targets=%s, %s)",
		sv.cfg.Pattern, sv.cfg.OffDiag, sv.cfg.Init, methods.TargetNames(sv.cfg.Targets), bias)
}

// Settings implements methods.Method.
func (sv *SVFT) Settings() map[string]any {
	return map[string]any{
		"pattern": sv.cfg.Pattern, "off_diag": sv.cfg.OffDiag, "targets": sv.cfg.Targets,
		"seed": sv.cfg.Seed, "init": sv.cfg.Init, "train_bias": sv.cfg.TrainBias, "forward": sv.cfg.Forward,
	}
}
