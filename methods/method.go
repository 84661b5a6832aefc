// Package methods defines what a fine-tuning method is to the harness, and measures
// what it trained: parameter counts and the rank of every weight update (SPEC §5).
//
// A method is, as in Hugging Face PEFT's tuners, a config, a layer and an injector:
// Apply freezes the model and re-parametrises its named linear layers; the engine then
// optimises Trainable(). Methods see models only through models.Model, so one method
// runs on every architecture that exposes its linears.
package methods

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Method is a fine-tuning method.
type Method interface {
	// Name is the registry name ("vectorfit", "lora", "fullft").
	Name() string
	// Apply makes m trainable the method's way. Call it once, before training.
	Apply(m models.Model) error
	// Trainable returns the parameters to optimise: the method's own (adapter) and the
	// task head, apart, so each can have its learning rate and be counted.
	Trainable() (adapter, head []train.Param)
	// Hooks run after every optimizer step (Adaptive Vector Freezing is one).
	Hooks() []train.Hook
	// Deltas returns ΔW, the change of every adapted weight matrix since Apply, in
	// float64. The caller drops the tensors.
	Deltas() ([]Delta, error)
	// CountAdapter returns the number of adapter parameters the method trains on a
	// model of this shape, from the shape alone (no weights needed).
	CountAdapter(s models.Shape) int64
	// Describe is a one-line summary for reports, e.g. "vectorfit(targets=all, bias, avf k=4 every 100)".
	Describe() string
	// Settings are the method's hyperparameters, recorded in every result.
	Settings() map[string]any
}

// Stateful is a method whose training has state beyond its parameters and their
// optimizer state, e.g. Adaptive Vector Freezing's frozen set. Checkpoints save it so
// that a resumed run continues exactly; LoadState runs after Apply.
type Stateful interface {
	SaveState() (tensors map[string]*ts.Tensor, meta json.RawMessage, err error)
	LoadState(tensors map[string]*ts.Tensor, meta json.RawMessage) error
}

// Regularizer is a method whose training loss has a term of its own, e.g. AdaLoRA's
// orthogonality penalty on P and Q. The runner passes Regularization to the engine
// (train.Config.Regularization), which adds it to every micro-batch's loss; the
// returned scalar carries the graph, and the engine drops it.
type Regularizer interface {
	Regularization() (*ts.Tensor, error)
}

// EvalCacher is a method whose evaluation can reuse work while its parameters stand
// still: VectorFit builds each W = U·diag(s)·Vᵀ, LoRA (and PiSSA) W + s·B·A, DoRA
// m/‖W + s·B·A‖ ⊙ (W + s·B·A) once per evaluation rather than on every forward call.
// The runner wires EvalMode to train.Config.EvalMode: true before an evaluation (under
// no-grad, in eval mode), false after it, which drops the cache, so the next optimizer
// step trains on the factors as before. A cache is a new tensor, never an in-place
// change of a trained one, so training is bit-identical with or without it; eval-mode
// outputs agree with the factored path within float rounding.
type EvalCacher interface {
	EvalMode(on bool)
}

// Delta is the update of one adapted matrix.
type Delta struct {
	Name string
	Type models.LayerType
	W    *ts.Tensor // float64, out × in
}

// NoDecay says whether a base-model parameter is excluded from weight decay, as the
// Hugging Face Trainer excludes biases and LayerNorm weights (it goes by module type;
// we by name, whatever the family's spelling).
func NoDecay(name string) bool {
	lower := strings.ToLower(name) // BERT's "LayerNorm", ViT's "layernorm_before", BART's "layernorm_embedding"
	return strings.HasSuffix(name, "bias") || strings.Contains(lower, "layernorm") || strings.Contains(lower, "layer_norm")
}

// TrainHead makes every head parameter of m trainable and returns them.
func TrainHead(m models.Model) []train.Param {
	var head []train.Param
	for _, p := range models.HeadParams(m) {
		p.T.MustRequiresGrad_(true)
		head = append(head, train.Param{Name: p.Name, T: p.T, NoDecay: NoDecay(p.Name)})
	}
	return head
}

// Targets selects the layers of the given types (all when types is empty).
func Targets[L interface{ LayerType() models.LayerType }](ls []L, types []models.LayerType) []L {
	if len(types) == 0 {
		return ls
	}
	var out []L
	for _, l := range ls {
		if slices.Contains(types, l.LayerType()) {
			out = append(out, l)
		}
	}
	return out
}

// TargetNames is "all" or the types joined by "+", for Describe.
func TargetNames(types []models.LayerType) string {
	if len(types) == 0 {
		return "all"
	}
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, "+")
}
