package bart

import (
	"math/rand/v2"
	"strconv"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// Spec is one parameter's name and shape, known from the configuration alone; absent
// from a checkpoint it is initialised as BartPreTrainedModel._init_weights does.
type Spec = models.ParamSpec

// prefix is the name of BartModel inside BartForConditionalGeneration's checkpoint.
const prefix = "model."

// shared is the token embedding of both stacks and, transposed, the LM head
// (BartForConditionalGeneration ties model.encoder.embed_tokens,
// model.decoder.embed_tokens and lm_head to it).
const shared = prefix + "shared.weight"

// finalLogitsBias is the buffer added to the LM logits: not a parameter in transformers
// (no method trains it), zero when a checkpoint lacks it.
const finalLogitsBias = "final_logits_bias"

func encoderLayer(i int64) string { return prefix + "encoder.layers." + strconv.FormatInt(i, 10) + "." }
func decoderLayer(i int64) string { return prefix + "decoder.layers." + strconv.FormatInt(i, 10) + "." }

// Specs lists the parameters of BartForConditionalGeneration, named as in its Hugging
// Face checkpoint and ordered as its named_parameters(). There is no task head: the LM
// head is the shared embedding, part of the base model, so no parameter is marked Head.
func Specs(c Config) []Spec {
	d := c.DModel
	var s models.SpecList
	add, linear := s.Add, s.Linear
	layerNorm := func(name string) { s.LayerNorm(name, d) }
	attention := func(name string) { // BartAttention registers k, v, q, out
		for _, p := range []string{"k_proj", "v_proj", "q_proj", "out_proj"} {
			linear(name+"."+p, d, d)
		}
	}
	add(shared, models.InitNormal, c.VocabSize, d)
	for _, side := range []struct {
		name   string
		layers int64
		ffn    int64
		layer  func(int64) string
		cross  bool
	}{
		{"encoder", c.EncoderLayers, c.EncoderFFNDim, encoderLayer, false},
		{"decoder", c.DecoderLayers, c.DecoderFFNDim, decoderLayer, true},
	} {
		add(prefix+side.name+".embed_positions.weight", models.InitNormal, c.MaxPositionEmbeddings+positionOffset, d)
		for i := range side.layers {
			l := side.layer(i)
			attention(l + "self_attn")
			layerNorm(l + "self_attn_layer_norm")
			if side.cross {
				attention(l + "encoder_attn")
				layerNorm(l + "encoder_attn_layer_norm")
			}
			linear(l+"fc1", side.ffn, d)
			linear(l+"fc2", d, side.ffn)
			layerNorm(l + "final_layer_norm")
		}
		layerNorm(prefix + side.name + ".layernorm_embedding")
	}
	return s
}

// Each attention block's four linears in block order. Cross-attention reuses the
// self-attention layer types: a target "query" selects q_proj of both, as PEFT's
// suffix match of "q_proj" does on BART.
func attentionLinears(block string) []models.BlockLinear {
	return []models.BlockLinear{
		{Name: block + ".q_proj", Type: models.Query},
		{Name: block + ".k_proj", Type: models.Key},
		{Name: block + ".v_proj", Type: models.Value},
		{Name: block + ".out_proj", Type: models.AttnOut},
	}
}

var ffnLinears = []models.BlockLinear{{Name: "fc1", Type: models.FFNUp}, {Name: "fc2", Type: models.FFNDown}}

// encoderLinears (6 per layer) and decoderLinears (10 per layer: self-attention,
// cross-attention, FFN) are the adaptable linears of one layer, in order.
var (
	encoderLinears = append(attentionLinears("self_attn"), ffnLinears...)
	decoderLinears = append(append(attentionLinears("self_attn"), attentionLinears("encoder_attn")...), ffnLinears...)
)

// LinearSpecs lists the adaptable linears: every encoder layer's, then every decoder
// layer's.
func LinearSpecs(c Config) []models.LinearSpec {
	enc := models.BlockLinears(encoderLayer, c.EncoderLayers, encoderLinears, c.DModel, c.EncoderFFNDim)
	dec := models.BlockLinears(decoderLayer, c.DecoderLayers, decoderLinears, c.DModel, c.DecoderFFNDim)
	return append(enc, dec...)
}

// ShapeOf is the shape of the model from its configuration.
func ShapeOf(c Config) models.Shape { return models.ShapeOfSpecs(Specs(c), LinearSpecs(c)) }

// Model is BartForConditionalGeneration.
type Model struct {
	models.Weights
	Config Config
	// bias is final_logits_bias, 1 × vocab: a buffer, not among Params.
	bias *ts.Tensor
	// enc[i] and dec[i] are layer i's linears in encoderLinears / decoderLinears order.
	enc, dec [][]*models.Linear
}

// New builds a model with transformers' random initialisation drawn from seed on the
// CPU: the same seed gives the same weights on every machine.
func New(c Config, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := models.NewRNG(seed, 0)
	init := func(s Spec) *ts.Tensor { return initTensor(s, c, rng) }
	return assemble(c, models.InitAll(Specs(c), init), nil)
}

// initTensor draws a fresh tensor for s, zeroing the pad token's row of the shared
// embedding (nn.Embedding with padding_idx; the position tables have none).
func initTensor(s Spec, c Config, rng *rand.Rand) *ts.Tensor {
	t := models.InitTensor(s, c.InitStd, rng)
	if s.Name == shared {
		row := t.MustNarrow(0, c.PadTokenID, 1, false) // a view: zeroing it zeroes t's row
		row.MustZero_()
		row.MustDrop()
	}
	return t
}

// assemble wires named tensors into a model; bias nil means zeros.
func assemble(c Config, tensors map[string]*ts.Tensor, bias *ts.Tensor) (*Model, error) {
	w, err := models.Assemble("bart", Specs(c), LinearSpecs(c), tensors)
	if err != nil {
		return nil, err
	}
	if bias == nil {
		bias = ts.MustZeros([]int64{1, c.VocabSize}, gotch.Float, gotch.CPU)
	}
	m := &Model{Weights: w, Config: c, bias: bias}
	ls := m.Linears()
	ne, nd := int64(len(encoderLinears)), int64(len(decoderLinears))
	for i := range c.EncoderLayers {
		m.enc = append(m.enc, ls[i*ne:(i+1)*ne])
	}
	ls = ls[c.EncoderLayers*ne:]
	for i := range c.DecoderLayers {
		m.dec = append(m.dec, ls[i*nd:(i+1)*nd])
	}
	return m, nil
}

// To moves the parameters and final_logits_bias to dev (before a method is applied).
func (m *Model) To(dev gotch.Device) {
	m.Weights.To(dev)
	if m.bias.MustDevice() != dev {
		m.bias = m.bias.MustTo(dev, true)
	}
}

// FinalLogitsBias is the 1 × vocab bias added to the LM logits.
func (m *Model) FinalLogitsBias() *ts.Tensor { return m.bias }

var _ models.Model = (*Model)(nil)
