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
	evaluating     bool       // between EvalMode(true) and EvalMode(false)
	fixedW         *ts.Tensor // U·diag(s)·Vᵀ while s stays fixed (see fixedWeight), else nil
	fixedS         *ts.Tensor // the s fixedW was built from
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

// Forward implements models.Forwarder.
func (ly *Layer) Forward(x *ts.Tensor, training bool) *ts.Tensor {
	if w := ly.fixedWeight(training); w != nil {
		return models.Dense(x, w, ly.bias)
	}
	if ly.useFactored(x, training) {
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

// fixedWeight returns W = U·diag(s)·Vᵀ built once for as long as s stays fixed, or nil
// while s trains. s is fixed during an evaluation and while it is frozen (by AVF, or for
// good without singular values); rebuilding would then compute the same W on every
// call, and x·Wᵀ with W at hand costs n·out·in, never more than the factored path's
// n·r·(in + out). W is rebuilt when s's values differ from those it was built from (a
// vector AVF released and froze again, a resumed checkpoint): comparing r numbers is
// what makes the copy safe. It costs one weight-sized tensor per such layer, and is
// built at the first call that needs it, in that call's autocast context, so it equals
// what the per-call path computes.
func (ly *Layer) fixedWeight(training bool) *ts.Tensor {
	fixed := (ly.evaluating && !training) || !ly.singularValues.MustRequiresGrad()
	if !fixed {
		ly.dropFixedWeight()
		return nil
	}
	if ly.fixedW != nil && !ly.fixedS.MustEqual(ly.singularValues, false) {
		ly.dropFixedWeight()
	}
	if ly.fixedW == nil {
		models.NoGrad(func() {
			ly.fixedW = ly.weight()
			ly.fixedS = ly.singularValues.MustDetachCopy(false)
		})
	}
	return ly.fixedW
}

func (ly *Layer) dropFixedWeight() {
	if ly.fixedW != nil {
		ly.fixedW.MustDrop()
		ly.fixedS.MustDrop()
		ly.fixedW, ly.fixedS = nil, nil
	}
}

// evalMode marks the start (on) or end (off) of an evaluation; W is built at its first
// forward call and dropped at its end, since the next optimizer step changes s.
func (ly *Layer) evalMode(on bool) {
	ly.evaluating = on
	ly.dropFixedWeight()
}

// weight is U·diag(s)·Vᵀ, with the graph to s attached.
func (ly *Layer) weight() *ts.Tensor {
	us := ly.U.MustMul(ly.singularValues, false) // scales column j of U by s_j
	return us.MustMatmul(ly.Vt, true)
}

// useFactored compares multiply-adds for the n = numel(x)/in rows of this call. In
// training s trains (fixedWeight handles a fixed s), so the backward pass counts too:
//
//	rebuild:  W = U·diag(s)·Vᵀ         out·in·r    forward
//	          y = x·Wᵀ                  n·out·in
//	          ∂x = ∂y·W, ∂W = ∂yᵀ·x     2·n·out·in  backward
//	          ∂(U·diag(s)) = ∂W·V       out·in·r
//	factored: (x·V), (·∘s)·Uᵀ           n·r·(in + out)  forward
//	          ∂y·U, ∂x = (·∘s)·Vᵀ       n·r·(out + in)  backward
//
// For BERT-base at 8×128 tokens the factored path wins for every layer (attention
// 2.42 G against 2.72 G multiply-adds, FFN 6.04 G against 10.9 G); a forward-only count
// would pick rebuild for the attention layers. Outside training only the forward counts.
func (ly *Layer) useFactored(x *ts.Tensor, training bool) bool {
	switch ly.forward {
	case Factored:
		return true
	case Rebuild:
		return false
	}
	size := x.MustSize()
	n := int64(1)
	for _, d := range size[:len(size)-1] {
		n *= d
	}
	return factoredIsCheaper(n, ly.U.MustSize()[0], size[len(size)-1], ly.U.MustSize()[1], training)
}

// factoredIsCheaper is useFactored's count for n rows through an out×in layer of rank r.
func factoredIsCheaper(n, out, in, r int64, training bool) bool {
	if training {
		return 2*n*r*(in+out) < 2*out*in*r+3*n*out*in
	}
	return n*r*(in+out) < out*in*r+n*out*in
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
