package deberta

import (
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// Forward returns the head's output: batch × NumLabels logits for Classification, and
// batch × seq × 2 start/end logits for Span.
func (m *Model) Forward(b models.Batch) *ts.Tensor {
	h := m.Encode(b)
	defer h.MustDrop()
	if m.HeadKind == Span {
		return m.Dense("qa_outputs", h)
	}
	pooled := m.Pool(h)
	defer pooled.MustDrop()
	x := m.Dropout(pooled, m.Config.headDropout())
	defer x.MustDrop()
	return m.Dense("classifier", x)
}

// Pool is the ContextPooler: the first token's hidden state, dropout (pooler_dropout),
// dense, activation (pooler_hidden_act).
func (m *Model) Pool(h *ts.Tensor) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	first := s.Keep(h.MustSelect(1, 0, false))
	x := s.Keep(m.Dropout(first, m.Config.PoolerDropout))
	y := s.Keep(m.Dense("pooler.dense", x))
	return models.Activation(m.Config.PoolerHiddenAct, y)
}

// Encode returns the last hidden state, batch × seq × hidden.
func (m *Model) Encode(b models.Batch) *ts.Tensor { return m.encode(b, nil) }

// HiddenStates returns the embedding output and every layer's output (NumHiddenLayers + 1
// tensors), as transformers' output_hidden_states; the last one is Encode's result.
func (m *Model) HiddenStates(b models.Batch) []*ts.Tensor {
	var all []*ts.Tensor
	m.encode(b, &all)
	return all
}

// encode is the encoder stack; with all non-nil it also keeps every hidden state.
func (m *Model) encode(b models.Batch, all *[]*ts.Tensor) *ts.Tensor {
	mask := inputMask(b)
	defer mask.MustDrop()
	h := m.embed(b, mask)
	masked := maskedPairs(mask)
	defer masked.MustDrop()
	var rel *relative
	if m.Config.RelativeAttention {
		rel = m.relativeTable(mask.MustSize()[1], mask.MustDevice())
		defer rel.drop()
	}
	layer := func(i int64, h *ts.Tensor) *ts.Tensor { return m.layer(i, h, masked, rel) }
	return models.RunLayers(h, m.Config.NumHiddenLayers, layer, all)
}

// Embed is the embedding output (batch × seq × hidden), the input of the first layer.
func (m *Model) Embed(b models.Batch) *ts.Tensor {
	mask := inputMask(b)
	defer mask.MustDrop()
	return m.embed(b, mask)
}

// inputMask is the batch's 0/1 attention mask, all ones when it has none.
func inputMask(b models.Batch) *ts.Tensor {
	if b.AttentionMask == nil {
		return b.InputIDs.MustOnesLike(false)
	}
	return b.AttentionMask.MustShallowClone()
}

// embed is DebertaV2Embeddings: LayerNorm(word [+ position] [+ token type]), times the
// attention mask (padded positions become 0), dropout.
func (m *Model) embed(b models.Batch, mask *ts.Tensor) *ts.Tensor {
	c, p := m.Config, prefix+"embeddings."
	var s models.Scratch
	defer s.Drop()
	ids := b.InputIDs
	// padding_idx as nn.Embedding has it: the pad row gets no gradient.
	sum := s.Keep(ts.MustEmbedding(m.T(p+"word_embeddings.weight"), ids, c.PadTokenID, false, false))
	if c.PositionBiasedInput {
		pos := s.Keep(ts.MustArange(ts.IntScalar(ids.MustSize()[1]), gotch.Int64, ids.MustDevice()).MustUnsqueeze(0, true))
		pe := s.Keep(ts.MustEmbedding(m.T(p+"position_embeddings.weight"), pos, -1, false, false))
		sum = s.Keep(sum.MustAdd(pe, false))
	}
	if c.TypeVocabSize > 0 {
		tt := b.TokenTypeIDs
		if tt == nil {
			tt = s.Keep(ids.MustZerosLike(false))
		}
		te := s.Keep(ts.MustEmbedding(m.T(p+"token_type_embeddings.weight"), tt, -1, false, false))
		sum = s.Keep(sum.MustAdd(te, false))
	}
	ln := s.Keep(m.layerNorm(p+"LayerNorm", sum))
	keep := s.Keep(mask.MustUnsqueeze(2, false).MustTotype(ln.DType(), true))
	out := s.Keep(ln.MustMul(keep, false))
	return m.Dropout(out, c.HiddenDropoutProb)
}

// maskedPairs is the bool mask of score entries XSoftmax removes, batch × 1 × seq × seq:
// true where the query or the key is padding. As transformers' get_attention_mask, the
// pair mask is the outer product of the 0/1 mask with itself.
func maskedPairs(mask *ts.Tensor) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	q := s.Keep(mask.MustUnsqueeze(1, false).MustUnsqueeze(3, true))
	k := s.Keep(mask.MustUnsqueeze(1, false).MustUnsqueeze(2, true))
	both := s.Keep(q.MustMul(k, false))
	return both.MustEq(ts.IntScalar(0), false)
}

// layer is one DebertaV2Layer (post-LayerNorm, as BERT): attention, its output dense
// and LayerNorm, then the feed-forward block.
func (m *Model) layer(i int64, h, masked *ts.Tensor, rel *relative) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	lin, p := m.Linears()[6*i:6*i+6], layerName(i)
	ctx := s.Keep(m.selfAttention(i, h, masked, rel))
	a := s.Keep(m.residualNorm(p+"attention.output.LayerNorm", s.Keep(lin[3].Forward(ctx, m.Training())), h))
	up := s.Keep(lin[4].Forward(a, m.Training()))
	act := s.Keep(models.Activation(m.Config.HiddenAct, up))
	down := s.Keep(lin[5].Forward(act, m.Training()))
	return m.residualNorm(p+"output.LayerNorm", down, a)
}

// residualNorm is LayerNorm(dropout(x) + residual).
func (m *Model) residualNorm(name string, x, residual *ts.Tensor) *ts.Tensor {
	return m.ResidualNorm(name, x, residual, m.Config.HiddenDropoutProb, m.Config.HiddenSize, m.Config.LayerNormEps)
}

// selfAttention is DisentangledSelfAttention:
//
//	softmax((Q Kᵀ + c2p + p2c) / sqrt(d · scale_factor)) V,
//
// with scale_factor = 1 + the number of relative terms, each of which adds a dot product
// of the same size as Q Kᵀ.
func (m *Model) selfAttention(i int64, h, masked *ts.Tensor, rel *relative) *ts.Tensor {
	c := m.Config
	var s models.Scratch
	defer s.Drop()
	lin := m.Linears()[6*i : 6*i+6]
	size := h.MustSize()
	b, n := size[0], size[1]
	scale := math.Sqrt(float64(c.HiddenSize/c.NumAttentionHeads) * float64(c.scaleFactor()))
	q := s.Keep(m.heads(lin[0].Forward(h, m.Training())))
	k := s.Keep(m.heads(lin[1].Forward(h, m.Training())))
	v := s.Keep(m.heads(lin[2].Forward(h, m.Training())))
	kt := s.Keep(k.MustTranspose(-1, -2, false))
	scores := s.Keep(q.MustMatmul(kt, false).MustDivScalar(ts.FloatScalar(scale), true))
	if rel != nil {
		bias := s.Keep(m.disentangledBias(i, q, k, rel, scale))
		scores = s.Keep(scores.MustAdd(bias, false))
	}
	probs := s.Keep(xSoftmax(scores, masked))
	dp := s.Keep(m.Dropout(probs, c.AttentionProbsDropoutProb))
	ctx := dp.MustMatmul(v, false)
	return ctx.MustTranspose(1, 2, true).MustContiguous(true).MustView([]int64{b, n, c.HiddenSize}, true)
}

// heads splits the last dimension into heads: … × seq × hidden → … × heads × seq × d. It
// frees x.
func (m *Model) heads(x *ts.Tensor) *ts.Tensor {
	size := x.MustSize()
	nh := m.Config.NumAttentionHeads
	return x.MustView([]int64{size[0], size[1], nh, size[2] / nh}, true).MustTranspose(1, 2, true)
}

// xSoftmax is DeBERTa's XSoftmax: a softmax over the keys in which masked entries get
// probability exactly 0; rows whose query is padding are all 0.
func xSoftmax(scores, masked *ts.Tensor) *ts.Tensor {
	filled := scores.MustMaskedFill(masked, ts.FloatScalar(-math.MaxFloat32), false)
	probs := filled.MustSoftmax(-1, gotch.Float, true)
	return probs.MustMaskedFill(masked, ts.FloatScalar(0), true)
}

// disentangledBias is disentangled_attention_bias: the content-to-position term
// c2p[i, j] = q_i · k^r_{δ(i,j)} and the position-to-content term
// p2c[i, j] = k_j · q^r_{δ(j,i)}, where k^r, q^r are the relative embeddings projected
// by the key and query projections and δ the (bucketed, clamped) relative position.
// Both are divided by the same scale as Q Kᵀ.
func (m *Model) disentangledBias(i int64, q, k *ts.Tensor, rel *relative, scale float64) *ts.Tensor {
	c := m.Config
	var s models.Scratch
	defer s.Drop()
	size := q.MustSize()
	full := []int64{size[0], size[1], size[2], size[2]} // batch × heads × seq × seq
	// pos_dropout: each layer draws its own mask over the relative embeddings.
	e := s.Keep(m.Dropout(rel.emb, c.HiddenDropoutProb))
	var out *ts.Tensor
	accumulate := func(t *ts.Tensor) {
		t = s.Keep(t.MustDivScalar(ts.FloatScalar(scale), false))
		if out == nil {
			out = t
			return
		}
		out = s.Keep(out.MustAdd(t, false))
	}
	if c.PosAttType.Has("c2p") {
		posKey := s.Keep(m.heads(m.posProjection(i, "key", e))) // 1 × heads × r × d
		kt := s.Keep(posKey.MustTranspose(-1, -2, false))
		att := s.Keep(q.MustMatmul(kt, false)) // batch × heads × seq × r
		idx := s.Keep(rel.c2p.MustExpand(full, false, false))
		accumulate(s.Keep(att.MustGather(-1, idx, false, false)))
	}
	if c.PosAttType.Has("p2c") {
		posQuery := s.Keep(m.heads(m.posProjection(i, "query", e)))
		qt := s.Keep(posQuery.MustTranspose(-1, -2, false))
		att := s.Keep(k.MustMatmul(qt, false)) // batch × heads × seq(key) × r
		idx := s.Keep(rel.p2c.MustExpand(full, false, false))
		g := s.Keep(att.MustGather(-1, idx, false, false))
		accumulate(s.Keep(g.MustTranspose(-1, -2, false)))
	}
	if out == nil { // relative attention with no term: nothing to add
		return ts.MustZeros(full, q.DType(), q.MustDevice())
	}
	return out.MustShallowClone()
}

// posProjection projects the relative embeddings e (1 × r × hidden) with layer i's
// query or key projection: the content one (an adapted linear) under share_att_key, else
// pos_query_proj / pos_key_proj.
func (m *Model) posProjection(i int64, which string, e *ts.Tensor) *ts.Tensor {
	if m.Config.ShareAttKey {
		l := m.Linears()[6*i]
		if which == "key" {
			l = m.Linears()[6*i+1]
		}
		return l.Forward(e, m.Training())
	}
	return m.Dense(layerName(i)+"attention.self.pos_"+which+"_proj", e)
}

// layerNorm is a LayerNorm over the hidden size with the configured epsilon.
func (m *Model) layerNorm(name string, x *ts.Tensor) *ts.Tensor {
	return m.LayerNorm(name, x, m.Config.HiddenSize, m.Config.LayerNormEps)
}
