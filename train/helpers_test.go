package train

import (
	"math"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// leaf is a float64 CPU tensor that requires grad, as a model parameter.
func leaf(vals []float64) *ts.Tensor {
	t := ts.MustOfSlice(append([]float64(nil), vals...))
	t.MustRequiresGrad_(true)
	return t
}

// setGrads back-propagates Σᵢ sum(pᵢ ⊙ gᵢ), so that pᵢ.grad = gᵢ exactly. A nil gᵢ
// leaves pᵢ out of the graph (its grad stays as it was).
func setGrads(t *testing.T, params []*ts.Tensor, grads [][]float64) {
	t.Helper()
	var loss *ts.Tensor
	for i, p := range params {
		if grads[i] == nil {
			continue
		}
		term := p.MustMul(ts.MustOfSlice(grads[i]), false).MustSum(gotch.Double, true)
		if loss == nil {
			loss = term
		} else {
			loss = loss.MustAdd(term, true)
		}
	}
	if loss == nil {
		return
	}
	if err := loss.Backward(); err != nil {
		t.Fatal(err)
	}
	loss.MustDrop()
}

func values(t *ts.Tensor) []float64 { return t.Float64Values() }

// closeSlices reports whether a and b agree to a relative tolerance.
func closeSlices(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol*math.Max(1, math.Abs(b[i])) {
			return false
		}
	}
	return true
}
