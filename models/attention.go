package models

import (
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
)

// SelfAttention is multi-head scaled dot-product attention over x (batch × seq ×
// hidden): per head, softmax(Q Kᵀ/√d + bias) V with d = hidden/heads, the heads split
// from and merged back into the hidden dimension. bias is additive, broadcast to
// batch × heads × seq × seq (a padding mask), or nil; dropout with probability
// dropout acts on the attention probabilities in training.
func (w *Weights) SelfAttention(q, k, v *Linear, x, bias *ts.Tensor, heads int64, dropout float64) *ts.Tensor {
	return w.QueryAttention(q, k, v, x, x, bias, heads, dropout)
}

// QueryAttention is SelfAttention for the query positions xq (batch × m × hidden, some
// of x's positions): keys and values come from all of x, and the result is batch × m ×
// hidden, the rows of SelfAttention's result at those positions.
func (w *Weights) QueryAttention(q, k, v *Linear, xq, x, bias *ts.Tensor, heads int64, dropout float64) *ts.Tensor {
	hidden := q.Out()
	d := hidden / heads
	split := func(l *Linear, x *ts.Tensor) *ts.Tensor { // batch × heads × seq × d
		size := x.MustSize()
		return l.Forward(x, w.training).MustView([]int64{size[0], size[1], heads, d}, true).MustTranspose(1, 2, true)
	}
	qh, kh, vh := split(q, xq), split(k, x), split(v, x)
	p := 0.0
	if w.training {
		p = dropout
	}
	attend := eagerAttention
	if fused(qh, bias) {
		attend = fusedAttention
	}
	ctx := attend(qh, kh, vh, bias, p)
	qh.MustDrop()
	kh.MustDrop()
	vh.MustDrop()
	size := xq.MustSize()
	return ctx.MustTranspose(1, 2, true).MustContiguous(true).MustView([]int64{size[0], size[1], hidden}, true)
}

// fused says whether attention over the heads q with the additive bias runs as
// libtorch's scaled_dot_product_attention rather than as separate matmul, division,
// addition, softmax, dropout and matmul. It does when there is a padding bias (the
// BERT family) and q is float32 on the CPU, outside autocast, in training with dropout
// too; ViT (no bias) and autocast keep the eager path.
//
// Why: on the CPU, libtorch 2.1 runs a masked or dropout attention in its math kernel,
// which scales q and k by d^-1/4 before the matmul and adds the mask in place: one pass
// over the batch × heads × seq × seq scores fewer than the eager division and addition,
// forward and backward. Its dropout is the same at::dropout on the same shape, so a seed
// draws the same mask and a training step stays within float rounding of the eager one
// (TestFusedAttentionDropoutSeeded). Measured at BERT-base shapes on one thread
// (BenchmarkSelfAttention; README "Speed against PyTorch"): with a mask it is faster in
// eval and in training; without one there is no pass to save (gotch cannot pass "no
// mask", see fusedAttention) and it measured no faster, so ViT stays eager. Under
// autocast (q in bfloat16) scaled_dot_product_attention would take its softmax in
// bfloat16 and wants the mask in q's dtype, where transformers' eager attention, our
// reference, adds the float32 mask and takes the softmax in float32.
//
// CPU only: on CUDA libtorch picks other kernels (flash, memory-efficient) with their
// own dropout, not measured here.
func fused(q, bias *ts.Tensor) bool {
	return bias != nil && q.DType() == gotch.Float && SameDevice(q.MustDevice(), gotch.CPU) && !torchx.AutocastEnabled(false)
}

// fusedAttention is softmax(q kᵀ/√d + bias) dropout_p · v by scaled_dot_product_attention
// (the scale passed explicitly, d = q's last dimension). bias may be nil.
//
// gotch's C wrapper cannot pass "no mask": it turns a missing mask into an undefined
// tensor, which libtorch 2.1 rejects. Without a bias we pass a zero mask of one element,
// which adds exactly nothing (SelfAttention takes the eager path then; the benchmark
// and tests use it).
func fusedAttention(q, k, v, bias *ts.Tensor, p float64) *ts.Tensor {
	mask := bias
	if mask == nil {
		mask = ts.MustZeros([]int64{1, 1, 1, 1}, q.DType(), q.MustDevice())
		defer mask.MustDrop()
	}
	scale := 1 / math.Sqrt(float64(q.MustSize()[3]))
	out, err := ts.ScaledDotProductAttention(q, k, v, mask, p, false, []float64{scale})
	if err != nil {
		panic(err) // shapes and dtypes are the model code's: a defect, not user input
	}
	return out
}

// eagerAttention is the same function written out as transformers' eager attention
// computes it: matmul, division by √d, the additive bias, a float32 softmax, dropout,
// matmul.
func eagerAttention(q, k, v, bias *ts.Tensor, p float64) *ts.Tensor {
	d := q.MustSize()[3]
	kt := k.MustTranspose(-1, -2, false)
	scores := q.MustMatmul(kt, false).MustDivScalar(ts.FloatScalar(math.Sqrt(float64(d))), true)
	kt.MustDrop()
	if bias != nil {
		scores = scores.MustAdd(bias, true)
	}
	probs := scores.MustSoftmax(-1, gotch.Float, true)
	if p > 0 {
		dropped := ts.MustDropout(probs, p, true)
		probs.MustDrop()
		probs = dropped
	}
	ctx := probs.MustMatmul(v, false)
	probs.MustDrop()
	return ctx
}
