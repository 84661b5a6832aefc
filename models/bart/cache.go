package bart

import (
	"github.com/sugarme/gotch/ts"
)

// Cache is the decoder's key/value cache for a batch of sequences being generated, as
// transformers' past_key_values: per decoder layer the self-attention keys and values of
// every token decoded so far (grown by one position per step) and the cross-attention
// keys and values of the encoder output (computed once per sequence). A step then costs
// one token's projections plus attention over the current length, not a re-run of the
// whole prefix. Rows are batch × beams sequences.
type Cache struct {
	// selfK[i], selfV[i]: layer i's rows × heads × length × head_dim.
	selfK, selfV []*ts.Tensor
	// crossK[i], crossV[i]: layer i's rows × heads × source × head_dim.
	crossK, crossV []*ts.Tensor
	// crossBias is the additive source padding mask, rows × 1 × 1 × source.
	crossBias *ts.Tensor
	// length is the number of tokens decoded (the next token's position).
	length int64
}

// NewCache prepares decoding against the encoder output enc (rows × source × d_model,
// already repeated per beam) and its source mask (rows × source, nil: no padding).
func (m *Model) NewCache(enc, mask *ts.Tensor) *Cache {
	c := &Cache{crossBias: paddingBias(mask, enc)}
	for i := range m.Config.DecoderLayers {
		k, v := m.keysValues(m.dec[i][4:8], enc, m.Config.DecoderAttentionHeads)
		c.crossK, c.crossV = append(c.crossK, k), append(c.crossV, v)
	}
	return c
}

// Len is the number of tokens decoded so far.
func (c *Cache) Len() int64 { return c.length }

// Reorder keeps row idx[r] as row r (beam search's survivors). Only the self-attention
// entries move: every beam of a source shares its cross-attention keys and values, so
// those are already right (BartForConditionalGeneration._reorder_cache does the same).
func (c *Cache) Reorder(idx []int64) {
	index := ts.MustOfSlice(idx)
	defer index.MustDrop()
	for i := range c.selfK {
		dev := c.selfK[i].MustDevice()
		ix := index.MustTo(dev, false)
		c.selfK[i] = c.selfK[i].MustIndexSelect(0, ix, true)
		c.selfV[i] = c.selfV[i].MustIndexSelect(0, ix, true)
		ix.MustDrop()
	}
}

// Free releases the cache's tensors.
func (c *Cache) Free() {
	for _, ts := range [][]*ts.Tensor{c.selfK, c.selfV, c.crossK, c.crossV} {
		for _, t := range ts {
			t.MustDrop()
		}
	}
	c.crossBias.MustDrop()
	*c = Cache{}
}

// Step decodes one token per row, ids rows × 1 at position c.Len(), appends its keys and
// values to the cache and returns the LM logits of the next token, rows × vocab.
func (m *Model) Step(c *Cache, ids *ts.Tensor) *ts.Tensor {
	h := m.embedAt("decoder", ids, c.length)
	for i := range m.Config.DecoderLayers {
		next := m.decoderStep(c, i, h)
		h.MustDrop()
		h = next
	}
	c.length++
	logits := m.lmHead(h) // rows × 1 × vocab
	h.MustDrop()
	return logits.MustSqueezeDim(1, true)
}

// decoderStep is decoderLayer for one new position: its self-attention keys and values
// are appended to layer i's cache and it attends to all of them (nothing lies in its
// future); cross-attention uses the cached encoder keys and values.
func (m *Model) decoderStep(c *Cache, i int64, h *ts.Tensor) *ts.Tensor {
	lin, p, heads := m.dec[i], decoderLayer(i), m.Config.DecoderAttentionHeads
	k, v := m.keysValues(lin[0:4], h, heads)
	if int64(len(c.selfK)) == i { // first step
		c.selfK, c.selfV = append(c.selfK, k), append(c.selfV, v)
	} else {
		c.selfK[i] = appendSeq(c.selfK[i], k)
		c.selfV[i] = appendSeq(c.selfV[i], v)
	}
	a := m.attend(lin[0:4], h, c.selfK[i], c.selfV[i], nil, heads)
	h1 := m.residualNorm(p+"self_attn_layer_norm", a, h)
	x := m.attend(lin[4:8], h1, c.crossK[i], c.crossV[i], c.crossBias, heads)
	h2 := m.residualNorm(p+"encoder_attn_layer_norm", x, h1)
	h1.MustDrop()
	out := m.ffn(lin[8:10], p, h2)
	h2.MustDrop()
	return out
}

// appendSeq concatenates cached (rows × heads × len × hd) and one new position along the
// sequence, freeing both. The copy is O(length) per step, like transformers' torch.cat.
func appendSeq(cached, next *ts.Tensor) *ts.Tensor {
	out := ts.MustCat([]*ts.Tensor{cached, next}, 2)
	cached.MustDrop()
	next.MustDrop()
	return out
}

// repeatRows repeats each row of t n times in place (torch.repeat_interleave on dim 0),
// the layout of beams: rows b·n … b·n+n−1 belong to source b.
func repeatRows(t *ts.Tensor, n int64) *ts.Tensor {
	rows := t.MustSize()[0]
	idx := make([]int64, 0, rows*n)
	for r := range rows {
		for range n {
			idx = append(idx, r)
		}
	}
	index := ts.MustOfSlice(idx).MustTo(t.MustDevice(), true)
	defer index.MustDrop()
	return t.MustIndexSelect(0, index, false)
}
