package models

import (
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// SelfAttention is multi-head scaled dot-product attention over x (batch × seq ×
// hidden): per head, softmax(Q Kᵀ/√d + bias) V with d = hidden/heads, the heads split
// from and merged back into the hidden dimension. bias is additive, broadcast to
// batch × heads × seq × seq (a padding mask), or nil; dropout with probability
// dropout acts on the attention probabilities in training.
func (w *Weights) SelfAttention(q, k, v *Linear, x, bias *ts.Tensor, heads int64, dropout float64) *ts.Tensor {
	size := x.MustSize()
	b, seq, hidden := size[0], size[1], q.Out()
	d := hidden / heads
	split := func(l *Linear) *ts.Tensor { // batch × heads × seq × d
		return l.Forward(x, w.training).MustView([]int64{b, seq, heads, d}, true).MustTranspose(1, 2, true)
	}
	qh, kh, vh := split(q), split(k), split(v)
	kt := kh.MustTranspose(-1, -2, true)
	scores := qh.MustMatmul(kt, true).MustDivScalar(ts.FloatScalar(math.Sqrt(float64(d))), true)
	kt.MustDrop()
	if bias != nil {
		scores = scores.MustAdd(bias, true)
	}
	probs := scores.MustSoftmax(-1, gotch.Float, true)
	dp := w.Dropout(probs, dropout)
	probs.MustDrop()
	ctx := dp.MustMatmul(vh, true)
	vh.MustDrop()
	return ctx.MustTranspose(1, 2, true).MustContiguous(true).MustView([]int64{b, seq, hidden}, true)
}
