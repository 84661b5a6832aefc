package models

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Weights is the part every architecture keeps the same way: named parameters in a
// fixed order, the adaptable linears that share their tensors, and whether dropout is
// on. A model embeds it and so implements Model.
type Weights struct {
	params   []Param
	byName   map[string]*ts.Tensor
	linears  []*Linear
	training bool
}

// NewWeights takes the parameters in order (all set to require grad, as a freshly
// loaded model does) and builds each linear from the tensors named
// "<linear>.weight" and "<linear>.bias" (no bias when absent).
func NewWeights(params []Param, linears []LinearSpec) (Weights, error) {
	w := Weights{params: params, byName: make(map[string]*ts.Tensor, len(params))}
	for _, p := range params {
		p.T.MustRequiresGrad_(true)
		w.byName[p.Name] = p.T
	}
	for _, s := range linears {
		weight, ok := w.byName[s.Name+".weight"]
		if !ok {
			return Weights{}, fmt.Errorf("no tensor %s.weight for linear %s", s.Name, s.Name)
		}
		w.linears = append(w.linears, &Linear{Name: s.Name, Type: s.Type, Weight: weight, Bias: w.byName[s.Name+".bias"]})
	}
	return w, nil
}

// Params implements Model.
func (w *Weights) Params() []Param { return w.params }

// Linears implements Model.
func (w *Weights) Linears() []*Linear { return w.linears }

// SetTraining implements Model.
func (w *Weights) SetTraining(on bool) { w.training = on }

// Training says whether dropout is on.
func (w *Weights) Training() bool { return w.training }

// Param returns a parameter by its Hugging Face name.
func (w *Weights) Param(name string) (*ts.Tensor, bool) {
	t, ok := w.byName[name]
	return t, ok
}

// T returns a parameter the model's own code knows exists.
func (w *Weights) T(name string) *ts.Tensor {
	t, ok := w.byName[name]
	if !ok {
		panic(fmt.Sprintf("models: no parameter %q", name)) // a model-code defect, not user input
	}
	return t
}

// Device is where the parameters live.
func (w *Weights) Device() gotch.Device { return w.params[0].T.MustDevice() }

// SameDevice compares devices as libtorch does. Not ==: gotch reports a CPU tensor's
// device as {CPU 1}, while gotch.CPU is {CPU -1}.
func SameDevice(a, b gotch.Device) bool {
	if !a.IsCuda() || !b.IsCuda() {
		return a.IsCuda() == b.IsCuda()
	}
	return a.Value == b.Value
}

// To moves every parameter to dev, keeping requires_grad (before a method is applied:
// methods build their tensors on the device of the weights they adapt).
func (w *Weights) To(dev gotch.Device) {
	if SameDevice(dev, w.Device()) {
		return
	}
	for i, p := range w.params {
		t := p.T.MustTo(dev, false).MustDetach(true)
		t.MustRequiresGrad_(p.T.MustRequiresGrad())
		w.params[i].T = t
		w.byName[p.Name] = t
	}
	for _, l := range w.linears {
		l.Weight = w.byName[l.Name+".weight"]
		if l.Bias != nil {
			l.Bias = w.byName[l.Name+".bias"]
		}
	}
}

// Dense applies the linear "<name>.weight", "<name>.bias" outside the adaptable set
// (poolers, heads, projections).
func (w *Weights) Dense(name string, x *ts.Tensor) *ts.Tensor {
	return Dense(x, w.T(name+".weight"), w.byName[name+".bias"])
}

// LayerNorm applies the LayerNorm "<name>.weight", "<name>.bias" over the last size
// features.
func (w *Weights) LayerNorm(name string, x *ts.Tensor, size int64, eps float64) *ts.Tensor {
	return ts.MustLayerNorm(x, []int64{size}, w.T(name+".weight"), w.T(name+".bias"), eps, false)
}

// Dropout is dropout with probability p in training, and a shallow copy (same data,
// its own handle for the caller to drop) otherwise.
func (w *Weights) Dropout(x *ts.Tensor, p float64) *ts.Tensor {
	if !w.training || p == 0 {
		return x.MustShallowClone()
	}
	return ts.MustDropout(x, p, true)
}
