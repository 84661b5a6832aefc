// Package bitfit is BitFit (Ben Zaken, Ravfogel and Goldberg, "BitFit: Simple
// Parameter-efficient Fine-tuning for Transformer-based Masked Language-models", ACL
// 2022): the base model stays frozen except its bias terms, which train with the task
// head. The reference implementation (github.com/benzakenelad/BitFit) selects the
// trainable parameters by name; so does this package.
//
// Two variants, as in the paper:
//   - biases=all: every bias of the base model — the six linears of every block, every
//     LayerNorm (the embeddings' one too) and, for BERT, the pre-trained pooler.
//   - biases=query+intermediate: the paper's sparse variant (§4.2, "b_q" and "b_m2"),
//     the query bias and the FFN's first (intermediate, ffn_up) bias of every block.
//
// A linear without a bias (some models' q/k/v) contributes nothing. BitFit changes no
// weight matrix, so Deltas is empty and the rank report has nothing to measure.
package bitfit

import (
	"fmt"
	"slices"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Biases is which biases train.
type Biases string

const (
	// All is every bias of the base model.
	All Biases = "all"
	// QueryIntermediate is the paper's sparse variant: query and ffn_up biases.
	QueryIntermediate Biases = "query+intermediate"
)

// sparseTypes are the linears whose biases the sparse variant trains.
var sparseTypes = []models.LayerType{models.Query, models.FFNUp}

// BitFit implements methods.Method.
type BitFit struct {
	biases  Biases
	adapter []train.Param
	head    []train.Param
	applied bool
}

// New returns BitFit training the given biases.
func New(b Biases) (*BitFit, error) {
	if b != All && b != QueryIntermediate {
		return nil, fmt.Errorf("bitfit: biases = %q, want %q or %q", b, All, QueryIntermediate)
	}
	return &BitFit{biases: b}, nil
}

// Factory builds BitFit from options: biases (default "all").
func Factory(o *methods.Options) (methods.Method, error) {
	b := Biases(o.String("biases", string(All)))
	if err := o.Err(); err != nil {
		return nil, err
	}
	return New(b)
}

// Name implements methods.Method.
func (*BitFit) Name() string { return "bitfit" }

// Apply freezes m and makes the chosen biases and the head trainable.
func (bf *BitFit) Apply(m models.Model) error {
	if bf.applied {
		return fmt.Errorf("bitfit: Apply called twice")
	}
	models.Freeze(m)
	var names map[string]bool // nil: every bias
	if bf.biases == QueryIntermediate {
		names = map[string]bool{}
		for _, l := range methods.Targets(m.Linears(), sparseTypes) {
			if l.Bias != nil {
				names[l.Name+".bias"] = true
			}
		}
	}
	for _, p := range m.Params() {
		if p.Head || !models.IsBias(p.Name) || names != nil && !names[p.Name] {
			continue
		}
		p.T.MustRequiresGrad_(true)
		bf.adapter = append(bf.adapter, train.Param{Name: p.Name, T: p.T, NoDecay: true})
	}
	if len(bf.adapter) == 0 {
		return fmt.Errorf("bitfit: the model has no bias to train (biases=%s)", bf.biases)
	}
	bf.head = methods.TrainHead(m)
	bf.applied = true
	return nil
}

// Trainable implements methods.Method. Biases are excluded from weight decay, as the
// Hugging Face Trainer excludes them.
func (bf *BitFit) Trainable() (adapter, head []train.Param) { return bf.adapter, bf.head }

// Hooks implements methods.Method.
func (*BitFit) Hooks() []train.Hook { return nil }

// Deltas implements methods.Method: none, since BitFit leaves every weight matrix as it
// was (ΔW = 0 for all of them; the rank report lists no matrix).
func (*BitFit) Deltas() ([]methods.Delta, error) { return nil, nil }

// CountAdapter implements methods.Method: every bias entry of the base model, or the
// query and ffn_up layers' out entries.
func (bf *BitFit) CountAdapter(s models.Shape) int64 {
	if bf.biases == All {
		return s.BaseBiases
	}
	var n int64
	for _, l := range s.Linears {
		if l.Bias && slices.Contains(sparseTypes, l.Type) {
			n += l.Out
		}
	}
	return n
}

// Describe implements methods.Method.
func (bf *BitFit) Describe() string { return fmt.Sprintf("bitfit(biases=%s)", bf.biases) }

// Settings implements methods.Method.
func (bf *BitFit) Settings() map[string]any { return map[string]any{"biases": string(bf.biases)} }
