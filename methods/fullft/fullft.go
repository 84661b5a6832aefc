// Package fullft is full fine-tuning: every parameter of the model trains. It is the
// reference the parameter-efficient methods are measured against.
package fullft

import (
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// FullFT implements methods.Method.
type FullFT struct {
	base, head []train.Param
	linears    []*models.Linear
	initial    []*ts.Tensor // W0 of every linear in float64, to measure ΔW
}

// New returns full fine-tuning.
func New() *FullFT { return &FullFT{} }

// Name implements methods.Method.
func (*FullFT) Name() string { return "fullft" }

// Apply makes every parameter trainable and keeps a float64 copy of each linear's W0.
func (f *FullFT) Apply(m models.Model) error {
	for _, p := range m.Params() {
		p.T.MustRequiresGrad_(true)
		tp := train.Param{Name: p.Name, T: p.T, NoDecay: methods.NoDecay(p.Name)}
		if p.Head {
			f.head = append(f.head, tp)
		} else {
			f.base = append(f.base, tp)
		}
	}
	f.linears = m.Linears()
	for _, l := range f.linears {
		f.initial = append(f.initial, l.Weight.MustDetach(false).MustTotype(gotch.Double, true))
	}
	return nil
}

// Trainable implements methods.Method: the whole base model is the "adapter".
func (f *FullFT) Trainable() (adapter, head []train.Param) { return f.base, f.head }

// Hooks implements methods.Method.
func (*FullFT) Hooks() []train.Hook { return nil }

// Deltas implements methods.Method: ΔW = W − W0.
func (f *FullFT) Deltas() ([]methods.Delta, error) {
	out := make([]methods.Delta, len(f.linears))
	for i, l := range f.linears {
		w := l.Weight.MustDetach(false).MustTotype(gotch.Double, true)
		out[i] = methods.Delta{Name: l.Name, Type: l.Type, W: w.MustSub(f.initial[i], true)}
	}
	return out, nil
}

// CountAdapter implements methods.Method: every base-model parameter.
func (*FullFT) CountAdapter(s models.Shape) int64 { return s.BaseParams }

// Describe implements methods.Method.
func (*FullFT) Describe() string { return "fullft(all parameters)" }

// Settings implements methods.Method.
func (*FullFT) Settings() map[string]any { return map[string]any{} }
