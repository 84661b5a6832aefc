package deberta

import (
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// relative is what every layer's disentangled attention shares for one sequence length:
// the relative embeddings and, for each term, where every (query, key) pair reads them.
type relative struct {
	// emb are the rows of the relative embedding table the sequence reaches, after
	// encoder.LayerNorm when norm_rel_ebd says so: 1 × r × hidden.
	emb *ts.Tensor
	// c2p[i, j] is the row of emb for the content-to-position term of query i, key j:
	// clamp(δ(i, j) + span, 0, 2·span − 1), shifted to emb's first row. p2c[j, i] is the
	// row for the position-to-content term: clamp(−δ(j, i) + span, …). seq × seq, int64.
	c2p, p2c *ts.Tensor
}

func (r *relative) drop() {
	for _, t := range []*ts.Tensor{r.emb, r.c2p, r.p2c} {
		t.MustDrop()
	}
}

// relativeTable builds the shared relative-attention inputs for sequences of n tokens.
//
// transformers projects all 2·span rows of the table in every layer; a sequence shorter
// than the span reaches only the rows between the smallest and largest index (for
// deberta-v3-base at 128 tokens, 255 of 512). Only those rows are normalised and
// projected: LayerNorm, dropout and the projections act row by row, so the result is
// the same and the relative terms cost about half.
func (m *Model) relativeTable(n int64, dev gotch.Device) *relative {
	c := m.Config
	var s models.Scratch
	defer s.Drop()
	span := c.attSpan()
	delta := s.Keep(relativePosition(n, n, c.PositionBuckets, c.maxRelativePositions(), dev))
	c2p := s.Keep(delta.MustAddScalar(ts.IntScalar(span), false).MustClamp(ts.IntScalar(0), ts.IntScalar(2*span-1), true))
	p2c := s.Keep(delta.MustNeg(false).MustAddScalar(ts.IntScalar(span), true).MustClamp(ts.IntScalar(0), ts.IntScalar(2*span-1), true))
	// Both index sets cover the same rows (δ is odd in its argument), but take both.
	lo := min(c2p.MustMin(false).Int64Values(true)[0], p2c.MustMin(false).Int64Values(true)[0])
	hi := max(c2p.MustMax(false).Int64Values(true)[0], p2c.MustMax(false).Int64Values(true)[0])
	rows := s.Keep(m.T(prefix+"encoder.rel_embeddings.weight").MustNarrow(0, lo, hi-lo+1, false))
	emb := rows
	if c.relEmbeddingLayerNorm() {
		emb = s.Keep(m.layerNorm(prefix+"encoder.LayerNorm", rows))
	}
	return &relative{
		emb: emb.MustUnsqueeze(0, false),
		c2p: c2p.MustSubScalar(ts.IntScalar(lo), false),
		p2c: p2c.MustSubScalar(ts.IntScalar(lo), false),
	}
}

// relativePosition is build_relative_position: δ(i, j) = i − j for query i and key j,
// mapped to log buckets when bucketSize > 0. qLen × kLen, int64.
func relativePosition(qLen, kLen, bucketSize, maxPosition int64, dev gotch.Device) *ts.Tensor {
	q := ts.MustArange(ts.IntScalar(qLen), gotch.Int64, dev).MustUnsqueeze(1, true)
	k := ts.MustArange(ts.IntScalar(kLen), gotch.Int64, dev).MustUnsqueeze(0, true)
	rel := q.MustSub(k, true)
	k.MustDrop()
	if bucketSize > 0 && maxPosition > 0 {
		b := logBucketPosition(rel, bucketSize, maxPosition)
		rel.MustDrop()
		return b
	}
	return rel
}

// logBucketPosition is make_log_bucket_position: distances below bucketSize/2 keep their
// value; farther ones share buckets whose width grows logarithmically, reaching
// bucketSize/2 + (bucketSize/2 − 1) = bucketSize − 1 at maxPosition − 1:
//
//	sign(δ) · (mid + ⌈log(|δ|/mid) / log((maxPosition−1)/mid) · (mid−1)⌉),  mid = bucketSize/2.
//
// It runs the same float32 tensor operations as transformers, so the rounding at bucket
// edges is the same.
func logBucketPosition(rel *ts.Tensor, bucketSize, maxPosition int64) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	mid := bucketSize / 2
	sign := s.Keep(rel.MustSign(false))
	near := s.Keep(rel.MustLt(ts.IntScalar(mid), false).MustLogicalAnd(s.Keep(rel.MustGt(ts.IntScalar(-mid), false)), true))
	absRel := s.Keep(rel.MustAbs(false))
	absPos := s.Keep(ts.MustWhereScalarself(near, ts.IntScalar(mid-1), absRel)) // int64
	// abs_pos / mid: true division, float32.
	ratio := s.Keep(absPos.MustTotype(gotch.Float, false).MustDivScalar(ts.FloatScalar(float64(mid)), true))
	// torch.log(torch.tensor((max_position - 1) / mid)): a float32 made from the float64 quotient.
	den := s.Keep(ts.MustOfSlice([]float32{float32(float64(maxPosition-1) / float64(mid))}).MustLog(true))
	logPos := s.Keep(ratio.MustLog(false).MustDiv(den, true).MustMulScalar(ts.IntScalar(mid-1), true).
		MustCeil(true).MustAddScalar(ts.IntScalar(mid), true))
	signed := s.Keep(logPos.MustMul(sign, false))
	exact := s.Keep(absPos.MustLe(ts.IntScalar(mid), false))
	relF := s.Keep(rel.MustTotype(gotch.Float, false))
	bucket := s.Keep(relF.MustWhereSelf(exact, signed, false))
	return bucket.MustTotype(gotch.Int64, false)
}
