package bart

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// Batch is one padded sequence-to-sequence batch, all int64 (batch × seq).
type Batch struct {
	// InputIDs and AttentionMask (1 on real tokens) are the source.
	InputIDs, AttentionMask *ts.Tensor
	// DecoderInputIDs may be nil: then they are Labels shifted right
	// (ShiftTokensRight), as BartForConditionalGeneration builds them.
	DecoderInputIDs *ts.Tensor
	// DecoderAttentionMask may be nil: the decoder is then masked causally only, as
	// transformers does when none is given.
	DecoderAttentionMask *ts.Tensor
	// Labels are the target ids, −100 where no loss is taken (padding).
	Labels *ts.Tensor
}

// IgnoreIndex is the label of positions the loss skips, as transformers pads labels.
const IgnoreIndex = -100

// ShiftTokensRight is transformers' shift_tokens_right: the decoder input that teaches
// the model to predict labels[t] from labels[<t]: decoder_start_token_id first, then
// labels[:, :-1], with −100 replaced by pad_token_id.
func ShiftTokensRight(labels *ts.Tensor, padID, startID int64) *ts.Tensor {
	size := labels.MustSize()
	start := ts.MustFull([]int64{size[0], 1}, ts.IntScalar(startID), gotch.Int64, labels.MustDevice())
	body := labels.MustNarrow(1, 0, size[1]-1, false)
	shifted := ts.MustCat([]*ts.Tensor{start, body}, 1)
	start.MustDrop()
	body.MustDrop()
	ignored := shifted.MustEq(ts.IntScalar(IgnoreIndex), false)
	out := shifted.MustMaskedFill(ignored, ts.IntScalar(padID), true)
	ignored.MustDrop()
	return out
}

// Forward returns the LM logits, batch × target seq × vocab. decoderAttentionMask may
// be nil (causal masking only).
func (m *Model) Forward(inputIDs, attentionMask, decoderInputIDs, decoderAttentionMask *ts.Tensor) *ts.Tensor {
	return m.run(inputIDs, attentionMask, decoderInputIDs, decoderAttentionMask, nil, nil)
}

// HiddenStates returns the logits and, as transformers' output_hidden_states, the
// encoder's and the decoder's states: each stack's embedding output, then the output of
// each of its layers (layers + 1 tensors each). The caller owns all of them.
func (m *Model) HiddenStates(inputIDs, attentionMask, decoderInputIDs, decoderAttentionMask *ts.Tensor) (logits *ts.Tensor, encoder, decoder []*ts.Tensor) {
	logits = m.run(inputIDs, attentionMask, decoderInputIDs, decoderAttentionMask, &encoder, &decoder)
	return logits, encoder, decoder
}

// Loss is the mean token cross-entropy of the logits against b.Labels over the
// positions whose label is not −100, with label smoothing ε in [0, 1) (0: plain
// cross-entropy, as BartForConditionalGeneration's loss; ε as torch's
// cross_entropy(label_smoothing=ε) and transformers' Trainer LabelSmoother).
func (m *Model) Loss(b Batch, labelSmoothing float64) *ts.Tensor {
	dec := b.DecoderInputIDs
	if dec == nil {
		dec = ShiftTokensRight(b.Labels, m.Config.PadTokenID, m.Config.DecoderStartTokenID)
		defer dec.MustDrop()
	}
	logits := m.Forward(b.InputIDs, b.AttentionMask, dec, b.DecoderAttentionMask)
	flat := logits.MustView([]int64{-1, m.Config.VocabSize}, true)
	labels := b.Labels.MustView([]int64{-1}, false)
	defer labels.MustDrop()
	const mean = 1 // at::Reduction::Mean
	return flat.MustCrossEntropyLoss(labels, ts.NewTensor(), mean, IgnoreIndex, labelSmoothing, true)
}

// run is the encoder, the decoder and the LM head; with encStates/decStates non-nil
// every hidden state is kept there.
func (m *Model) run(inputIDs, attentionMask, decoderInputIDs, decoderAttentionMask *ts.Tensor, encStates, decStates *[]*ts.Tensor) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	enc := m.encode(inputIDs, attentionMask, encStates)
	if encStates == nil {
		s.Keep(enc)
	}
	h := m.decode(decoderInputIDs, decoderAttentionMask, enc, attentionMask, decStates)
	if decStates == nil {
		s.Keep(h)
	}
	return m.lmHead(h)
}

// lmHead is h · sharedᵀ + final_logits_bias.
func (m *Model) lmHead(h *ts.Tensor) *ts.Tensor {
	return models.Dense(h, m.T(shared), m.bias)
}

// encode is BartEncoder: embeddings, then the encoder layers.
func (m *Model) encode(ids, mask *ts.Tensor, all *[]*ts.Tensor) *ts.Tensor {
	c := m.Config
	bias := paddingBias(mask, ids)
	defer bias.MustDrop()
	h := m.embed("encoder", ids)
	layer := func(i int64, h *ts.Tensor) *ts.Tensor {
		return m.encoderLayer(m.enc[i], encoderLayer(i), h, bias)
	}
	return models.RunLayers(h, c.EncoderLayers, layer, all)
}

// decode is BartDecoder: embeddings, then the decoder layers attending causally to
// themselves and to the encoder output enc (masked by the source mask encMask).
func (m *Model) decode(ids, mask, enc, encMask *ts.Tensor, all *[]*ts.Tensor) *ts.Tensor {
	c := m.Config
	tgt := ids.MustSize()[1]
	self := causalBias(mask, tgt, ids.MustDevice())
	defer self.MustDrop()
	cross := paddingBias(encMask, enc)
	defer cross.MustDrop()
	h := m.embed("decoder", ids)
	layer := func(i int64, h *ts.Tensor) *ts.Tensor {
		return m.decoderLayer(m.dec[i], decoderLayer(i), h, self, enc, cross)
	}
	return models.RunLayers(h, c.DecoderLayers, layer, all)
}

// embed is a stack's embedding output: LayerNorm(scale · shared[ids] + positions[t + 2]),
// then dropout.
func (m *Model) embed(side string, ids *ts.Tensor) *ts.Tensor { return m.embedAt(side, ids, 0) }

// embedAt embeds ids as positions start, start+1, …: an incremental decoder step feeds
// one token at position start = the number of tokens decoded before it.
func (m *Model) embedAt(side string, ids *ts.Tensor, start int64) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	seq := ids.MustSize()[1]
	tok := s.Keep(ts.MustEmbedding(m.T(shared), ids, -1, false, false))
	if scale := m.Config.embedScale(); scale != 1 {
		tok = s.Keep(tok.MustMulScalar(ts.FloatScalar(scale), false))
	}
	pos := s.Keep(ts.MustArangeStart(ts.IntScalar(start+positionOffset), ts.IntScalar(start+seq+positionOffset), gotch.Int64, ids.MustDevice()))
	pe := s.Keep(ts.MustEmbedding(m.T(prefix+side+".embed_positions.weight"), pos, -1, false, false))
	sum := s.Keep(tok.MustAdd(pe, false))
	ln := s.Keep(m.layerNorm(prefix+side+".layernorm_embedding", sum))
	return m.Dropout(ln, m.Config.Dropout)
}

// encoderLayer is BartEncoderLayer (post-LayerNorm): self-attention, residual,
// LayerNorm; FFN, residual, LayerNorm. lin is the layer's linears in encoderLinears
// order.
func (m *Model) encoderLayer(lin []*models.Linear, p string, h, bias *ts.Tensor) *ts.Tensor {
	c := m.Config
	a := m.attention(lin[0:4], h, h, bias, c.EncoderAttentionHeads)
	h1 := m.residualNorm(p+"self_attn_layer_norm", a, h)
	out := m.ffn(lin[4:6], p, h1)
	h1.MustDrop()
	return out
}

// decoderLayer is BartDecoderLayer (post-LayerNorm): causal self-attention, residual,
// LayerNorm; cross-attention to the encoder output, residual, LayerNorm; FFN,
// residual, LayerNorm.
func (m *Model) decoderLayer(lin []*models.Linear, p string, h, self, enc, cross *ts.Tensor) *ts.Tensor {
	c := m.Config
	a := m.attention(lin[0:4], h, h, self, c.DecoderAttentionHeads)
	h1 := m.residualNorm(p+"self_attn_layer_norm", a, h)
	x := m.attention(lin[4:8], h1, enc, cross, c.DecoderAttentionHeads)
	h2 := m.residualNorm(p+"encoder_attn_layer_norm", x, h1)
	h1.MustDrop()
	out := m.ffn(lin[8:10], p, h2)
	h2.MustDrop()
	return out
}

// ffn is LayerNorm(h + dropout(fc2(dropout_act(act(fc1(h)))))).
func (m *Model) ffn(lin []*models.Linear, p string, h *ts.Tensor) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	up := s.Keep(lin[0].Forward(h, m.Training()))
	act := s.Keep(models.Activation(m.Config.ActivationFunction, up))
	dropped := s.Keep(m.Dropout(act, m.Config.ActivationDropout))
	down := lin[1].Forward(dropped, m.Training())
	return m.residualNorm(p+"final_layer_norm", down, h)
}

// residualNorm is LayerNorm(dropout(x) + residual); it frees x.
func (m *Model) residualNorm(name string, x, residual *ts.Tensor) *ts.Tensor {
	out := m.ResidualNorm(name, x, residual, m.Config.Dropout, m.Config.DModel, layerNormEps)
	x.MustDrop()
	return out
}

func (m *Model) layerNorm(name string, x *ts.Tensor) *ts.Tensor {
	return m.LayerNorm(name, x, m.Config.DModel, layerNormEps)
}

// attention is BartAttention: queries from x, keys and values from kv (x itself for
// self-attention, the encoder output for cross-attention), per head
// softmax((q·d^−½) kᵀ + bias) v, merged and projected by out_proj. bias is additive,
// broadcast to batch × heads × tgt × src. lin is q, k, v, out.
func (m *Model) attention(lin []*models.Linear, x, kv, bias *ts.Tensor, heads int64) *ts.Tensor {
	k, v := m.keysValues(lin, kv, heads)
	defer k.MustDrop()
	defer v.MustDrop()
	return m.attend(lin, x, k, v, bias, heads)
}

// keysValues are k_proj(kv) and v_proj(kv) split into heads, batch × heads × src × hd:
// what the generation cache keeps (models.Linear computes them, so adapters apply).
func (m *Model) keysValues(lin []*models.Linear, kv *ts.Tensor, heads int64) (k, v *ts.Tensor) {
	train := m.Training()
	split := func(l *models.Linear) *ts.Tensor {
		p := l.Forward(kv, train)
		size := p.MustSize()
		return p.MustView([]int64{size[0], size[1], heads, size[2] / heads}, true).MustTranspose(1, 2, true)
	}
	return split(lin[1]), split(lin[2])
}

// attend is the rest of BartAttention given the keys and values kh, vh (batch × heads ×
// src × hd): queries from x, scores, softmax, context, out_proj. bias nil adds nothing
// (a decoder step attends to every cached position).
func (m *Model) attend(lin []*models.Linear, x, kh, vh, bias *ts.Tensor, heads int64) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	train := m.Training()
	size := x.MustSize()
	b, tgt, d := size[0], size[1], size[2]
	hd := d / heads
	// transformers scales the projected queries before the product: the same order
	// keeps the rounding the same.
	q := s.Keep(lin[0].Forward(x, train))
	q = s.Keep(q.MustMulScalar(ts.FloatScalar(math.Pow(float64(hd), -0.5)), false))
	qh := s.Keep(q.MustView([]int64{b, tgt, heads, hd}, false).MustTranspose(1, 2, true))
	kt := s.Keep(kh.MustTranspose(-1, -2, false))
	scores := s.Keep(qh.MustMatmul(kt, false))
	if bias != nil {
		scores = s.Keep(scores.MustAdd(bias, false))
	}
	probs := s.Keep(scores.MustSoftmax(-1, gotch.Float, false))
	dp := s.Keep(m.Dropout(probs, m.Config.AttentionDropout))
	ctx := s.Keep(dp.MustMatmul(vh, false))
	merged := s.Keep(ctx.MustTranspose(1, 2, false).MustContiguous(true).MustView([]int64{b, tgt, d}, true))
	return lin[3].Forward(merged, train)
}

// minFloat is what transformers fills masked scores with: torch.finfo(float32).min.
const minFloat = -math.MaxFloat32

// paddingBias is the additive mask of attention to a padded source, batch × 1 × 1 ×
// src: 0 on real tokens, the float32 minimum on padding (_prepare_4d_attention_mask).
// A nil mask (no padding) is a single 0 on ids' device.
func paddingBias(mask, ids *ts.Tensor) *ts.Tensor {
	if mask == nil {
		return ts.MustZeros([]int64{1, 1, 1, 1}, gotch.Float, ids.MustDevice())
	}
	pad := mask.MustEq(ts.IntScalar(0), false)
	z := ts.MustZeros(mask.MustSize(), gotch.Float, mask.MustDevice())
	bias := z.MustMaskedFill(pad, ts.FloatScalar(minFloat), true)
	pad.MustDrop()
	return bias.MustUnsqueeze(1, true).MustUnsqueeze(1, true)
}

// causalBias is the decoder's self-attention mask, (batch or 1) × 1 × tgt × tgt: the
// float32 minimum where the key is in the future or (with mask) padding, else 0. As
// transformers' AttentionMaskConverter, masked entries are set, not summed, so a key
// both future and padded gets the minimum once.
func causalBias(mask *ts.Tensor, tgt int64, dev gotch.Device) *ts.Tensor {
	ones := ts.MustOnes([]int64{tgt, tgt}, gotch.Bool, dev)
	future := ones.MustTriu(1, true).MustView([]int64{1, 1, tgt, tgt}, true)
	defer future.MustDrop()
	rows := int64(1)
	if mask != nil {
		rows = mask.MustSize()[0]
	}
	z := ts.MustZeros([]int64{rows, 1, tgt, tgt}, gotch.Float, dev)
	bias := z.MustMaskedFill(future, ts.FloatScalar(minFloat), true)
	if mask != nil {
		pad := mask.MustEq(ts.IntScalar(0), false).MustView([]int64{-1, 1, 1, tgt}, true)
		bias = bias.MustMaskedFill(pad, ts.FloatScalar(minFloat), true)
		pad.MustDrop()
	}
	return bias
}

// CheckBatch is the error for a batch the forward pass cannot take, or nil: every
// tensor int64 and batch × seq with its mask's shape, ids in [0, vocab_size), sequences
// no longer than max_position_embeddings, labels in [0, vocab_size) or −100 and shaped
// as the decoder inputs. libtorch would abort on most of these mid-computation; a
// caller (a data loader) checks first and names its file in the error.
func (m *Model) CheckBatch(b Batch) error {
	c := m.Config
	var errs []error
	shapeOf := func(key string, t *ts.Tensor) []int64 {
		if t == nil {
			return nil
		}
		s := t.MustSize()
		if t.DType() != gotch.Int64 || len(s) != 2 {
			errs = append(errs, fmt.Errorf("%s: want an int64 batch × seq tensor, got %v of shape %v", key, t.DType(), s))
			return nil
		}
		return s
	}
	ids := func(key string, t *ts.Tensor, allowIgnore bool) {
		s := shapeOf(key, t)
		if s == nil {
			return
		}
		if s[1] > c.MaxPositionEmbeddings {
			errs = append(errs, fmt.Errorf("%s: %d tokens, want at most max_position_embeddings %d", key, s[1], c.MaxPositionEmbeddings))
		}
		for i, v := range t.Int64Values() {
			if (v < 0 || v >= c.VocabSize) && !(allowIgnore && v == IgnoreIndex) {
				errs = append(errs, fmt.Errorf("%s: row %d position %d is %d, want an id in [0, vocab_size %d)", key, int64(i)/s[1], int64(i)%s[1], v, c.VocabSize))
				return
			}
		}
	}
	same := func(key string, t *ts.Tensor, ref string, refT *ts.Tensor) {
		if t == nil || refT == nil {
			return
		}
		if s, r := shapeOf(key, t), refT.MustSize(); s != nil && !slices.Equal(s, r) {
			errs = append(errs, fmt.Errorf("%s has shape %v, want %s's %v", key, s, ref, r))
		}
	}
	if b.InputIDs == nil {
		return errors.New("no input_ids")
	}
	if b.DecoderInputIDs == nil && b.Labels == nil {
		return errors.New("neither decoder_input_ids nor labels")
	}
	ids("input_ids", b.InputIDs, false)
	ids("decoder_input_ids", b.DecoderInputIDs, false)
	ids("labels", b.Labels, true)
	same("attention_mask", b.AttentionMask, "input_ids", b.InputIDs)
	dec := b.DecoderInputIDs
	if dec == nil {
		dec = b.Labels
	}
	same("decoder_attention_mask", b.DecoderAttentionMask, "the decoder inputs", dec)
	same("labels", b.Labels, "decoder_input_ids", b.DecoderInputIDs)
	return errors.Join(errs...)
}
