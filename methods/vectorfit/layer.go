// Package vectorfit is VectorFit (Hegde, Kaur, Tiwari, 2025): every adapted weight
// W0 = U·diag(s0)·Vᵀ keeps its singular vectors U, V frozen and trains only the singular
// values s and the bias b, with Adaptive Vector Freezing (AVF) periodically freezing the
// most-trained vectors. See SPEC §1.
package vectorfit

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/linalg"
	"github.com/vectorfit/harness/models"
)

// Forward strategies for y = x·(U diag(s) Vᵀ)ᵀ + b.
const (
	Auto     = "auto"     // per call, whichever needs fewer multiply-adds
	Rebuild  = "rebuild"  // W = U diag(s) Vᵀ, then x·Wᵀ: out·in·r + n·out·in
	Factored = "factored" // ((x·V) ∘ s)·Uᵀ: n·r·(in + out)
)

// Layer is one adapted linear layer.
type Layer struct {
	linear         *models.Linear
	U, V           *ts.Tensor // frozen singular vectors, out×r and in×r, model dtype
	Ut, Vt         *ts.Tensor // their transposes (views, made once)
	singularValues *ts.Tensor // trainable, length r, starts at s0
	s0             *ts.Tensor // initial singular values (copy)
	bias           *ts.Tensor // the model's bias tensor, trained in place when enabled
	b0             *ts.Tensor // initial bias (copy); nil without bias
	forward        string
	evalW          *ts.Tensor // U·diag(s)·Vᵀ while an evaluation runs (EvalMode), else nil
}

// newLayer decomposes l's weight in float64 (SPEC §1: "computed in float64, then stored
// in the model's dtype") and takes over its forward pass.
func newLayer(l *models.Linear, trainSigma, trainBias bool, forward string) (*Layer, error) {
	svd, err := linalg.ThinSVD(l.Weight)
	if err != nil {
		return nil, fmt.Errorf("vectorfit: %s: %w", l.Name, err)
	}
	defer svd.Drop()
	dtype := l.Weight.DType()
	ly := &Layer{
		linear:         l,
		U:              svd.U.MustTotype(dtype, false),
		V:              svd.V.MustTotype(dtype, false),
		singularValues: svd.S.MustTotype(dtype, false),
		bias:           l.Bias,
		forward:        forward,
	}
	ly.Ut, ly.Vt = ly.U.MustT(false), ly.V.MustT(false)
	ly.s0 = ly.singularValues.MustDetachCopy(false)
	ly.singularValues.MustRequiresGrad_(trainSigma)
	if l.Bias != nil {
		ly.b0 = l.Bias.MustDetachCopy(false)
		l.Bias.MustRequiresGrad_(trainBias)
	}
	l.Adapter = ly
	return ly, nil
}

// Forward implements models.Forwarder. During an evaluation W is built already, and
// x·Wᵀ costs n·out·in ≤ n·r·(in + out), the factored path's multiply-adds.
func (ly *Layer) Forward(x *ts.Tensor, training bool) *ts.Tensor {
	if ly.evalW != nil && !training {
		return models.Dense(x, ly.evalW, ly.bias)
	}
	if ly.useFactored(x) {
		xv := x.MustMatmul(ly.V, false)
		xs := xv.MustMul(ly.singularValues, true)
		y := xs.MustMatmul(ly.Ut, true)
		if ly.bias == nil {
			return y
		}
		return y.MustAdd(ly.bias, true)
	}
	w := ly.weight()
	defer w.MustDrop()
	return models.Dense(x, w, ly.bias)
}

// evalMode builds W once for an evaluation (on) or drops it (off).
func (ly *Layer) evalMode(on bool) {
	if ly.evalW != nil {
		ly.evalW.MustDrop()
		ly.evalW = nil
	}
	if on {
		models.NoGrad(func() { ly.evalW = ly.weight() })
	}
}

// weight is U·diag(s)·Vᵀ, with the graph to s attached.
func (ly *Layer) weight() *ts.Tensor {
	us := ly.U.MustMul(ly.singularValues, false) // scales column j of U by s_j
	return us.MustMatmul(ly.Vt, true)
}

// useFactored compares multiply-adds for the n = numel(x)/in rows of this call.
func (ly *Layer) useFactored(x *ts.Tensor) bool {
	switch ly.forward {
	case Factored:
		return true
	case Rebuild:
		return false
	}
	size := x.MustSize()
	in, out, r := size[len(size)-1], ly.U.MustSize()[0], ly.U.MustSize()[1]
	n := int64(1)
	for _, d := range size[:len(size)-1] {
		n *= d
	}
	rebuild := out*in*r + n*out*in
	factored := n * r * (in + out)
	return factored < rebuild
}

// delta is ΔW = U·diag(s − s0)·Vᵀ in float64.
func (ly *Layer) delta() *ts.Tensor {
	u := ly.U.MustTotype(gotch.Double, false)
	v := ly.V.MustTotype(gotch.Double, false)
	ds := ly.singularValues.MustDetach(false).MustTotype(gotch.Double, true)
	s0 := ly.s0.MustTotype(gotch.Double, false)
	ds = ds.MustSub(s0, true)
	s0.MustDrop()
	us := u.MustMul(ds, true)
	ds.MustDrop()
	vt := v.MustT(true)
	defer vt.MustDrop()
	return us.MustMatmul(vt, true)
}

// Rank returns r = min(out, in), the number of singular values.
func (ly *Layer) Rank() int64 { return ly.s0.MustSize()[0] }

// SingularValues returns the trainable singular values (for tests and reports).
func (ly *Layer) SingularValues() *ts.Tensor { return ly.singularValues }

// InitialSingularValues returns s0.
func (ly *Layer) InitialSingularValues() *ts.Tensor { return ly.s0 }
