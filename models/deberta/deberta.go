package deberta

import (
	"math/rand/v2"
	"strconv"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// Head is the task head on top of the encoder.
type Head int

const (
	// Classification: DebertaV2ForSequenceClassification's ContextPooler (first token,
	// dropout, dense, activation), dropout, then a linear to NumLabels; with NumLabels = 1
	// it is a regression head (STS-B).
	Classification Head = iota
	// Span: start and end logits for every token (SQuAD), "qa_outputs" in transformers.
	Span
)

// Spec is one parameter's name and shape, known from the configuration alone; absent
// from a checkpoint it is initialised as DebertaV2PreTrainedModel._init_weights does.
type Spec = models.ParamSpec

// wordEmbeddings is the one parameter initialised differently: N(0, initializer_range²)
// with the pad_token_id row zero, as nn.Embedding(padding_idx=pad_token_id) does.
const wordEmbeddings = prefix + "embeddings.word_embeddings.weight"

// Specs lists the parameters of the encoder with the given head, named and ordered as in
// the task model's Hugging Face checkpoint. Counting parameters needs nothing else.
//
// The head (the ContextPooler's dense and the classifier, or qa_outputs) is marked Head:
// DeBERTa checkpoints carry no pre-trained pooler, so it starts from scratch for every
// task and is trained by every method, as the LoRA/AdaLoRA DeBERTa scripts train
// everything outside "deberta.". The base model is then exactly DebertaV2Model.
func Specs(c Config, head Head) []Spec {
	h, p := c.HiddenSize, prefix
	var s models.SpecList
	add, linear := s.Add, s.Linear
	layerNorm := func(name string) { s.LayerNorm(name, h) }
	add(wordEmbeddings, models.InitNormal, c.VocabSize, h)
	if c.PositionBiasedInput {
		add(p+"embeddings.position_embeddings.weight", models.InitNormal, c.MaxPositionEmbeddings, h)
	}
	if c.TypeVocabSize > 0 {
		add(p+"embeddings.token_type_embeddings.weight", models.InitNormal, c.TypeVocabSize, h)
	}
	layerNorm(p + "embeddings.LayerNorm")
	for i := range c.NumHiddenLayers {
		l := layerName(i)
		linear(l+"attention.self.query_proj", h, h)
		linear(l+"attention.self.key_proj", h, h)
		linear(l+"attention.self.value_proj", h, h)
		if c.RelativeAttention && !c.ShareAttKey {
			if c.PosAttType.Has("c2p") {
				linear(l+"attention.self.pos_key_proj", h, h)
			}
			if c.PosAttType.Has("p2c") {
				linear(l+"attention.self.pos_query_proj", h, h)
			}
		}
		linear(l+"attention.output.dense", h, h)
		layerNorm(l + "attention.output.LayerNorm")
		linear(l+"intermediate.dense", c.IntermediateSize, h)
		linear(l+"output.dense", h, c.IntermediateSize)
		layerNorm(l + "output.LayerNorm")
	}
	if c.RelativeAttention {
		add(p+"encoder.rel_embeddings.weight", models.InitNormal, 2*c.attSpan(), h)
	}
	if c.relEmbeddingLayerNorm() {
		layerNorm(p + "encoder.LayerNorm")
	}
	base := len(s)
	if head == Span {
		linear("qa_outputs", 2, h)
	} else {
		linear("pooler.dense", c.PoolerHiddenSize, c.PoolerHiddenSize)
		linear("classifier", c.NumLabels, h)
	}
	for i := base; i < len(s); i++ {
		s[i].Head = true
	}
	return s
}

func layerName(i int64) string { return prefix + "encoder.layer." + strconv.FormatInt(i, 10) + "." }

// blockLinears are the adaptable linears of one encoder layer, in order, by their
// Hugging Face module names. With share_att_key (DeBERTa-v3) query_proj and key_proj
// also project the relative embeddings, so an adapter on them acts there too, as PEFT's
// does. The separate pos_query_proj/pos_key_proj of share_att_key = false are not
// among the six.
var blockLinears = []models.BlockLinear{
	{Name: "attention.self.query_proj", Type: models.Query},
	{Name: "attention.self.key_proj", Type: models.Key},
	{Name: "attention.self.value_proj", Type: models.Value},
	{Name: "attention.output.dense", Type: models.AttnOut},
	{Name: "intermediate.dense", Type: models.FFNUp},
	{Name: "output.dense", Type: models.FFNDown},
}

// LinearSpecs lists the adaptable linears of an encoder from its configuration.
func LinearSpecs(c Config) []models.LinearSpec {
	return models.BlockLinears(layerName, c.NumHiddenLayers, blockLinears, c.HiddenSize, c.IntermediateSize)
}

// ShapeOf is the shape of an encoder with the given head, from its configuration.
func ShapeOf(c Config, head Head) models.Shape {
	return models.ShapeOfSpecs(Specs(c, head), LinearSpecs(c))
}

// Model is a DeBERTa-v2/v3 encoder with a task head.
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
	init := func(s Spec) *ts.Tensor { return initTensor(s, c, rng) }
	return assemble(c, head, models.InitAll(Specs(c, head), init))
}

// initTensor draws a fresh tensor for s, zeroing the pad token's word embedding.
func initTensor(s Spec, c Config, rng *rand.Rand) *ts.Tensor {
	t := models.InitTensor(s, c.InitializerRange, rng)
	if s.Name == wordEmbeddings {
		row := t.MustNarrow(0, c.PadTokenID, 1, false) // a view: zeroing it zeroes t's row
		row.MustZero_()
		row.MustDrop()
	}
	return t
}

// assemble wires named tensors into a model; every Spec name must be present.
func assemble(c Config, head Head, tensors map[string]*ts.Tensor) (*Model, error) {
	w, err := models.Assemble("deberta", Specs(c, head), LinearSpecs(c), tensors)
	if err != nil {
		return nil, err
	}
	return &Model{Weights: w, Config: c, HeadKind: head}, nil
}

// NumLabels is the width of the classification head (1 for regression).
func (m *Model) NumLabels() int64 { return m.Config.NumLabels }

var _ models.LayerStates[models.Batch] = (*Model)(nil)
