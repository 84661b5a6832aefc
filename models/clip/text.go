package clip

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// TextModel is transformers' CLIPTextModel, the text encoder Stable Diffusion conditions
// on (its last_hidden_state).
type TextModel struct {
	models.Weights
	Config TextConfig
	enc    *encoder
}

// TextOutput is CLIPTextModel's output.
type TextOutput struct {
	// LastHiddenState is batch × seq × hidden, after final_layer_norm.
	LastHiddenState *ts.Tensor
	// Pooled is batch × hidden: LastHiddenState at the EOS position (pooler_output).
	Pooled *ts.Tensor
}

// Drop frees both tensors.
func (o TextOutput) Drop() { o.LastHiddenState.MustDrop(); o.Pooled.MustDrop() }

func assembleText(c TextConfig, tensors map[string]*ts.Tensor) (*TextModel, error) {
	w, err := models.Assemble("clip", TextSpecs(c), TextLinearSpecs(c), tensors)
	if err != nil {
		return nil, err
	}
	m := &TextModel{Weights: w, Config: c}
	m.enc = newEncoder(&m.Weights, m.Linears(), textPrefix, c.NumHiddenLayers, c.HiddenSize, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps, c.AttentionDropout)
	return m, nil
}

// Forward encodes input_ids (int64 batch × seq, seq ≤ max_position_embeddings);
// attentionMask (1 on real tokens) may be nil, as Stable Diffusion calls it.
func (m *TextModel) Forward(inputIDs, attentionMask *ts.Tensor) TextOutput {
	return runText(&m.Weights, m.enc, m.Config, inputIDs, attentionMask, nil)
}

// HiddenStates is Forward plus transformers' output_hidden_states: the embedding output
// and each layer's output (before final_layer_norm), layers + 1 tensors the caller owns.
func (m *TextModel) HiddenStates(inputIDs, attentionMask *ts.Tensor) (TextOutput, []*ts.Tensor) {
	var all []*ts.Tensor
	out := runText(&m.Weights, m.enc, m.Config, inputIDs, attentionMask, &all)
	return out, all
}

// runText is CLIPTextTransformer on the weights w (a TextModel's or a Model's).
func runText(w *models.Weights, enc *encoder, c TextConfig, ids, mask *ts.Tensor, all *[]*ts.Tensor) TextOutput {
	var s models.Scratch
	defer s.Drop()
	dev := ids.MustDevice()
	n := ids.MustSize()[1]
	tok := s.Keep(ts.MustEmbedding(w.T(textPrefix+"embeddings.token_embedding.weight"), ids, -1, false, false))
	pos := s.Keep(ts.MustArange(ts.IntScalar(n), gotch.Int64, dev))
	pe := s.Keep(ts.MustEmbedding(w.T(textPrefix+"embeddings.position_embedding.weight"), pos, -1, false, false))
	h := tok.MustAdd(pe, false)
	bias := s.Keep(textBias(n, mask, dev))
	last := enc.run(h, bias, all)
	if all == nil {
		s.Keep(last)
	}
	out := w.LayerNorm(textPrefix+"final_layer_norm", last, c.HiddenSize, c.LayerNormEps)
	return TextOutput{LastHiddenState: out, Pooled: pool(out, eosPositions(ids, c.EosTokenID))}
}

// eosPositions is, per row, the position CLIPTextTransformer pools: with eos_token_id 2
// (configs saved before transformers PR #24773) argmax(input_ids), the highest id being
// <|endoftext|> in CLIP's vocabulary; otherwise the first position equal to
// eos_token_id (0 if the row has none, as argmax of all zeros). torch.argmax returns the
// first of equal maxima.
func eosPositions(ids *ts.Tensor, eos int64) *ts.Tensor {
	if eos == 2 {
		return ids.MustArgmax([]int64{-1}, false, false)
	}
	is := ids.MustEq(ts.IntScalar(eos), false).MustTotype(gotch.Int, true)
	out := is.MustArgmax([]int64{-1}, false, true)
	return out
}

// pool picks h[i, pos[i]] for each row i (batch × hidden); it frees pos.
func pool(h, pos *ts.Tensor) *ts.Tensor {
	size := h.MustSize()
	b, n := size[0], size[1]
	rows := ts.MustArange(ts.IntScalar(b), gotch.Int64, h.MustDevice()).MustMulScalar(ts.IntScalar(n), true)
	flat := rows.MustAdd(pos, true)
	pos.MustDrop()
	hv := h.MustView([]int64{b * n, size[2]}, false)
	out := hv.MustIndexSelect(0, flat, true)
	flat.MustDrop()
	return out
}

// CheckIDs is the error for input_ids the text model cannot take, or nil: int64 batch ×
// seq, seq in [1, max_position_embeddings], ids in [0, vocab_size). libtorch would
// abort mid-computation on most of these.
func (c TextConfig) CheckIDs(ids *ts.Tensor) error {
	s := ids.MustSize()
	if ids.DType() != gotch.Int64 || len(s) != 2 {
		return fmt.Errorf("input_ids: want an int64 batch × seq tensor, got %v of shape %v", ids.DType(), s)
	}
	if s[1] < 1 || s[1] > c.MaxPositionEmbeddings {
		return fmt.Errorf("input_ids: %d tokens, want 1 to max_position_embeddings %d", s[1], c.MaxPositionEmbeddings)
	}
	for i, v := range ids.Int64Values() {
		if v < 0 || v >= c.VocabSize {
			return fmt.Errorf("input_ids: row %d position %d is %d, want an id in [0, vocab_size %d)", int64(i)/s[1], int64(i)%s[1], v, c.VocabSize)
		}
	}
	return nil
}

// otherTower says which tensors of a full CLIP checkpoint a text model has no use for.
func otherTower(name string) bool {
	return strings.HasPrefix(name, visionPrefix) || name == "visual_projection.weight" ||
		name == "text_projection.weight" || name == "logit_scale"
}

// positionIDs is the position_ids buffer older checkpoints carry (not a parameter).
func positionIDs(name string) bool { return strings.HasSuffix(name, "embeddings.position_ids") }

var _ models.Model = (*TextModel)(nil)
