package bert

import (
	"math"
	"strconv"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// Head is the task head on top of the encoder.
type Head int

const (
	// Classification: logits over NumLabels from the first token ([CLS] / <s>); with
	// NumLabels = 1 it is a regression head (STS-B).
	Classification Head = iota
	// Span: start and end logits for every token (SQuAD), "qa_outputs" in transformers.
	Span
)

// Spec is one parameter's name and shape, known from the configuration alone; absent
// from a checkpoint it is initialised as transformers' BertPreTrainedModel._init_weights
// does.
type Spec = models.ParamSpec

// Specs lists the parameters of the encoder with the given head, named as in the task
// model's Hugging Face checkpoint. Counting parameters needs nothing else.
func Specs(c Config, head Head) []Spec {
	h, p := c.HiddenSize, c.prefix()
	var s models.SpecList
	add, linear := s.Add, s.Linear
	layerNorm := func(name string) { s.LayerNorm(name, h) }
	add(p+"embeddings.word_embeddings.weight", models.InitNormal, c.VocabSize, h)
	add(p+"embeddings.position_embeddings.weight", models.InitNormal, c.MaxPositionEmbeddings, h)
	add(p+"embeddings.token_type_embeddings.weight", models.InitNormal, c.TypeVocabSize, h)
	layerNorm(p + "embeddings.LayerNorm")
	for i := range c.NumHiddenLayers {
		l := p + "encoder.layer." + strconv.FormatInt(i, 10) + "."
		linear(l+"attention.self.query", h, h)
		linear(l+"attention.self.key", h, h)
		linear(l+"attention.self.value", h, h)
		linear(l+"attention.output.dense", h, h)
		layerNorm(l + "attention.output.LayerNorm")
		linear(l+"intermediate.dense", c.IntermediateSize, h)
		linear(l+"output.dense", h, c.IntermediateSize)
		layerNorm(l + "output.LayerNorm")
	}
	base := len(s)
	switch {
	case head == Span:
		linear("qa_outputs", 2, h)
	case c.ModelType == "roberta": // RobertaClassificationHead: dense, tanh, out_proj
		linear("classifier.dense", h, h)
		linear("classifier.out_proj", c.NumLabels, h)
	default: // BertForSequenceClassification: the pre-trained pooler, then a linear
		linear(p+"pooler.dense", h, h)
		linear("classifier", c.NumLabels, h)
	}
	for i := base; i < len(s); i++ {
		// The pooler is pre-trained and belongs to the base model (PEFT keeps it frozen
		// and trains only the "classifier" module).
		s[i].Head = s[i].Name != p+"pooler.dense.weight" && s[i].Name != p+"pooler.dense.bias"
	}
	return s
}

// blockLinears are the adaptable linears of one encoder layer, in order, by their
// Hugging Face module names.
var blockLinears = []models.BlockLinear{
	{Name: "attention.self.query", Type: models.Query},
	{Name: "attention.self.key", Type: models.Key},
	{Name: "attention.self.value", Type: models.Value},
	{Name: "attention.output.dense", Type: models.AttnOut},
	{Name: "intermediate.dense", Type: models.FFNUp},
	{Name: "output.dense", Type: models.FFNDown},
}

// LinearSpecs lists the adaptable linears of an encoder from its configuration.
func LinearSpecs(c Config) []models.LinearSpec {
	layer := func(i int64) string { return c.prefix() + "encoder.layer." + strconv.FormatInt(i, 10) + "." }
	return models.BlockLinears(layer, c.NumHiddenLayers, blockLinears, c.HiddenSize, c.IntermediateSize)
}

// ShapeOf is the shape of an encoder with the given head, from its configuration.
func ShapeOf(c Config, head Head) models.Shape {
	return models.ShapeOfSpecs(Specs(c, head), LinearSpecs(c))
}

// Model is a BERT-family encoder with a task head.
type Model struct {
	models.Weights
	Config   Config
	HeadKind Head
}

// New builds a model with transformers' random initialisation drawn from seed on the
// CPU: the same seed gives the same weights on every machine.
func New(c Config, head Head, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := models.NewRNG(seed, 0)
	init := func(s Spec) *ts.Tensor { return models.InitTensor(s, c.InitializerRange, rng) }
	return assemble(c, head, models.InitAll(Specs(c, head), init))
}

// assemble wires named tensors into a model; every Spec name must be present.
func assemble(c Config, head Head, tensors map[string]*ts.Tensor) (*Model, error) {
	w, err := models.Assemble("bert", Specs(c, head), LinearSpecs(c), tensors)
	if err != nil {
		return nil, err
	}
	return &Model{Weights: w, Config: c, HeadKind: head}, nil
}

// Forward returns the head's output: batch × NumLabels logits for Classification, and
// batch × seq × 2 start/end logits for Span.
func (m *Model) Forward(b models.Batch) *ts.Tensor {
	p := m.Config.prefix()
	drop := m.Config.headDropout()
	if m.HeadKind == Span {
		h := m.Encode(b)
		defer h.MustDrop()
		return m.Dense("qa_outputs", h)
	}
	cls := m.encodeFirst(b)
	defer cls.MustDrop()
	if m.Config.ModelType == "roberta" {
		x := m.Dropout(cls, drop)
		y := m.Dense("classifier.dense", x).MustTanh(true)
		x.MustDrop()
		z := m.Dropout(y, drop)
		y.MustDrop()
		defer z.MustDrop()
		return m.Dense("classifier.out_proj", z)
	}
	pooled := m.Dense(p+"pooler.dense", cls).MustTanh(true)
	x := m.Dropout(pooled, drop)
	pooled.MustDrop()
	defer x.MustDrop()
	return m.Dense("classifier", x)
}

// Pooled returns the pooler output tanh(dense(h[:,0])) of a BERT model with the
// Classification head (RoBERTa and span models are built without a pooler).
func (m *Model) Pooled(b models.Batch) *ts.Tensor {
	cls := m.encodeFirst(b)
	return m.Dense(m.Config.prefix()+"pooler.dense", cls).MustTanh(true)
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

// encodeFirst is Encode's first token, batch × hidden, for the classification heads,
// which read nothing else. The last layer runs its attention query, output projection,
// LayerNorms and feed-forward on that token alone, the keys and values on all tokens:
// the same numbers (rows of a matmul do not depend on each other; within float
// rounding of the full layer, TestForwardFirstTokenMatchesFullEncoder) for about 5/6
// less of the last layer's multiply-adds — a twelfth of BERT-base's forward and
// backward. In training its dropout masks are drawn for that token only, so the same
// seed draws other masks than the full layer would (equally distributed).
func (m *Model) encodeFirst(b models.Batch) *ts.Tensor {
	mask := m.attentionBias(b.AttentionMask)
	defer mask.MustDrop()
	n := m.Config.NumHiddenLayers
	layer := func(i int64, h *ts.Tensor) *ts.Tensor { return m.layer(int(i), h, h, mask) }
	h := models.RunLayers(m.Embed(b), n-1, layer, nil)
	defer h.MustDrop()
	first := h.MustNarrow(1, 0, 1, false)
	defer first.MustDrop()
	return m.layer(int(n-1), first, h, mask).MustSqueezeDim(1, true)
}

// encode is the encoder stack; with all non-nil it also keeps every hidden state.
func (m *Model) encode(b models.Batch, all *[]*ts.Tensor) *ts.Tensor {
	mask := m.attentionBias(b.AttentionMask)
	defer mask.MustDrop()
	layer := func(i int64, h *ts.Tensor) *ts.Tensor { return m.layer(int(i), h, h, mask) }
	return models.RunLayers(m.Embed(b), m.Config.NumHiddenLayers, layer, all)
}

// Embed is the embedding output: LayerNorm(word + position + token type), dropout.
func (m *Model) Embed(b models.Batch) *ts.Tensor {
	p := m.Config.prefix() + "embeddings."
	size := b.InputIDs.MustSize()
	pos := m.positionIDs(b.InputIDs, size[1])
	defer pos.MustDrop()
	we := ts.MustEmbedding(m.T(p+"word_embeddings.weight"), b.InputIDs, -1, false, false)
	pe := ts.MustEmbedding(m.T(p+"position_embeddings.weight"), pos, -1, false, false)
	sum := we.MustAdd(pe, true)
	pe.MustDrop()
	tt := b.TokenTypeIDs
	if tt == nil || m.Config.TypeVocabSize == 1 {
		// With a single token type (RoBERTa) every token gets row 0: its tokenizer
		// returns no token_type_ids, so ids from a BERT-style pair encoding are
		// ignored rather than indexed past the table.
		tt = ts.MustZeros(size, gotch.Int64, b.InputIDs.MustDevice())
		defer tt.MustDrop()
	}
	te := ts.MustEmbedding(m.T(p+"token_type_embeddings.weight"), tt, -1, false, false)
	sum = sum.MustAdd(te, true)
	te.MustDrop()
	ln := m.layerNorm(p+"LayerNorm", sum)
	sum.MustDrop()
	out := m.Dropout(ln, m.Config.HiddenDropoutProb)
	ln.MustDrop()
	return out
}

// positionIDs: 0..seq-1 for BERT; for RoBERTa padding_idx+1+cumsum over non-pad tokens
// (pad tokens keep padding_idx), as create_position_ids_from_input_ids does.
func (m *Model) positionIDs(ids *ts.Tensor, seq int64) *ts.Tensor {
	dev := ids.MustDevice()
	if m.Config.ModelType != "roberta" {
		return ts.MustArange(ts.IntScalar(seq), gotch.Int64, dev).MustUnsqueeze(0, true)
	}
	pad := m.Config.PadTokenID
	notPad := ids.MustNe(ts.IntScalar(pad), false).MustTotype(gotch.Int64, true)
	pos := notPad.MustCumsum(1, gotch.Int64, false).MustMul(notPad, true)
	notPad.MustDrop()
	return pos.MustAddScalar(ts.IntScalar(pad), true)
}

// attentionBias turns a 0/1 mask (batch × seq) into the additive bias transformers uses:
// 0 where attended, the float32 minimum where masked, shaped batch × 1 × 1 × seq.
func (m *Model) attentionBias(mask *ts.Tensor) *ts.Tensor {
	f := mask.MustTotype(gotch.Float, false)
	inv := f.MustNeg(true).MustAddScalar(ts.FloatScalar(1), true)
	return inv.MustMulScalar(ts.FloatScalar(-math.MaxFloat32), true).MustUnsqueeze(1, true).MustUnsqueeze(1, true)
}

// layer is one transformer block (post-LayerNorm, as BERT) at the positions hq of h
// (hq is h, or some of its positions: encodeFirst).
func (m *Model) layer(i int, hq, h, bias *ts.Tensor) *ts.Tensor {
	lin := m.Linears()[6*i : 6*i+6]
	p := lin[0].Name[:len(lin[0].Name)-len("attention.self.query")]
	ctx := m.QueryAttention(lin[0], lin[1], lin[2], hq, h, bias, m.Config.NumAttentionHeads, m.Config.AttentionProbsDropoutProb)
	a := lin[3].Forward(ctx, m.Training())
	ctx.MustDrop()
	a = m.residualNorm(p+"attention.output.LayerNorm", a, hq)
	up := lin[4].Forward(a, m.Training())
	act := models.Activation(m.Config.HiddenAct, up)
	up.MustDrop()
	down := lin[5].Forward(act, m.Training())
	act.MustDrop()
	out := m.residualNorm(p+"output.LayerNorm", down, a)
	a.MustDrop()
	return out
}

// residualNorm is LayerNorm(dropout(x) + residual); it frees x.
func (m *Model) residualNorm(name string, x, residual *ts.Tensor) *ts.Tensor {
	out := m.ResidualNorm(name, x, residual, m.Config.HiddenDropoutProb, m.Config.HiddenSize, m.Config.LayerNormEps)
	x.MustDrop()
	return out
}

func (m *Model) layerNorm(name string, x *ts.Tensor) *ts.Tensor {
	return m.LayerNorm(name, x, m.Config.HiddenSize, m.Config.LayerNormEps)
}

// NumLabels is the width of the classification head (1 for regression).
func (m *Model) NumLabels() int64 { return m.Config.NumLabels }

var _ models.LayerStates[models.Batch] = (*Model)(nil)
