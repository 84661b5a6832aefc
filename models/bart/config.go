// Package bart is BART (Lewis et al., "BART: Denoising Sequence-to-Sequence
// Pre-training", 2019), the encoder-decoder of the summarisation suite, on gotch. It
// follows transformers 4.44.2's modeling_bart.py (BartForConditionalGeneration): learned
// positions offset by 2, optional √d_model-scaled embeddings, a LayerNorm on the
// embeddings, post-LayerNorm encoder and decoder layers (self-attention, cross-attention
// in the decoder, FFN), and the LM head tied to the shared embedding plus
// final_logits_bias. It is built from a Hugging Face config.json and loaded from
// model.safetensors or pytorch_model.bin by Hugging Face's names. Every linear of both
// stacks is exposed with a layer type, so the methods apply to it unchanged.
package bart

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/vectorfit/harness/models"
)

// Config is the subset of a Hugging Face BartConfig the model reads.
type Config struct {
	ModelType             string `json:"model_type"`
	VocabSize             int64  `json:"vocab_size"`
	MaxPositionEmbeddings int64  `json:"max_position_embeddings"`
	DModel                int64  `json:"d_model"`

	EncoderLayers         int64 `json:"encoder_layers"`
	EncoderFFNDim         int64 `json:"encoder_ffn_dim"`
	EncoderAttentionHeads int64 `json:"encoder_attention_heads"`
	DecoderLayers         int64 `json:"decoder_layers"`
	DecoderFFNDim         int64 `json:"decoder_ffn_dim"`
	DecoderAttentionHeads int64 `json:"decoder_attention_heads"`

	// ActivationFunction is the FFN's activation (ACT2FN name).
	ActivationFunction string `json:"activation_function"`
	// Dropout acts on the embeddings and after each attention block and FFN;
	// AttentionDropout on the attention probabilities; ActivationDropout after the
	// FFN's activation.
	Dropout           float64 `json:"dropout"`
	AttentionDropout  float64 `json:"attention_dropout"`
	ActivationDropout float64 `json:"activation_dropout"`
	// Layerdrop (skipping whole layers in training) is not implemented: read only to
	// refuse a value > 0 (facebook/bart-* use 0).
	EncoderLayerdrop float64 `json:"encoder_layerdrop"`
	DecoderLayerdrop float64 `json:"decoder_layerdrop"`
	InitStd          float64 `json:"init_std"`
	// ScaleEmbedding multiplies the token embeddings by √d_model.
	ScaleEmbedding bool `json:"scale_embedding"`

	PadTokenID          int64 `json:"pad_token_id"`
	BosTokenID          int64 `json:"bos_token_id"`
	EosTokenID          int64 `json:"eos_token_id"`
	DecoderStartTokenID int64 `json:"decoder_start_token_id"`
	// Forced BOS/EOS are generation settings (nil: unset), read here for the decoder.
	ForcedBosTokenID *int64 `json:"forced_bos_token_id"`
	ForcedEosTokenID *int64 `json:"forced_eos_token_id"`
	// TieWordEmbeddings false (an LM head of its own) is not implemented.
	TieWordEmbeddings *bool `json:"tie_word_embeddings"`

	// Keys of the original fairseq-era BartConfig that facebook/bart-* config.json files
	// still carry. transformers 4.44.2 ignores them and always runs post-LayerNorm BART
	// with a LayerNorm on the embeddings and learned positions offset by 2, so a value
	// that asks for anything else would be silently ignored there: it is refused here.
	NormalizeBefore          *bool  `json:"normalize_before"`
	AddFinalLayerNorm        *bool  `json:"add_final_layer_norm"`
	NormalizeEmbedding       *bool  `json:"normalize_embedding"`
	StaticPositionEmbeddings *bool  `json:"static_position_embeddings"`
	AddBiasLogits            *bool  `json:"add_bias_logits"`
	ExtraPosEmbeddings       *int64 `json:"extra_pos_embeddings"`
}

// layerNormEps is nn.LayerNorm's default, which every LayerNorm of BART uses.
const layerNormEps = 1e-5

// positionOffset: BartLearnedPositionalEmbedding looks up position p at row p + 2 (a
// fairseq legacy), so its table has max_position_embeddings + 2 rows.
const positionOffset = 2

// defaults are BartConfig's defaults, for keys a config.json leaves out.
func defaults() Config {
	return Config{
		VocabSize: 50265, MaxPositionEmbeddings: 1024, DModel: 1024,
		EncoderLayers: 12, EncoderFFNDim: 4096, EncoderAttentionHeads: 16,
		DecoderLayers: 12, DecoderFFNDim: 4096, DecoderAttentionHeads: 16,
		ActivationFunction: "gelu", Dropout: 0.1, InitStd: 0.02,
		PadTokenID: 1, BosTokenID: 0, EosTokenID: 2, DecoderStartTokenID: 2,
		ForcedEosTokenID: ptr[int64](2),
	}
}

func ptr[T any](v T) *T { return &v }

// LargeShape is facebook/bart-large's config.json (406M parameters), for parameter
// counts and benchmarks without weights.
func LargeShape() Config {
	c := defaults()
	c.ModelType = "bart"
	c.ForcedBosTokenID = ptr[int64](0)
	return c
}

// Tiny is a small configuration for demos and tests.
func Tiny(vocabSize int64) Config {
	c := defaults()
	c.ModelType, c.VocabSize, c.MaxPositionEmbeddings, c.DModel = "bart", vocabSize, 128, 32
	c.EncoderLayers, c.EncoderFFNDim, c.EncoderAttentionHeads = 2, 64, 4
	c.DecoderLayers, c.DecoderFFNDim, c.DecoderAttentionHeads = 2, 64, 4
	return c
}

// LoadConfig reads a Hugging Face config.json of model_type "bart".
func LoadConfig(path string) (Config, error) {
	return models.ReadConfig(path, ParseConfig)
}

// ParseConfig reads the bytes of a config.json; source names it in errors.
func ParseConfig(raw []byte, source string) (Config, error) {
	c := defaults()
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("%s: not a config.json: %w", source, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// activations are the activation_function values implemented (models.Activation).
var activations = []string{"gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh"}

// Validate checks the values the model depends on and refuses the options it does not
// implement.
func (c Config) Validate() error {
	var errs []error
	if c.ModelType != "bart" {
		errs = append(errs, fmt.Errorf("model_type %q: this model reads bart (facebook/bart-base, bart-large and their fine-tunes)", c.ModelType))
	}
	sizes := []models.Field{
		{Key: "vocab_size", V: c.VocabSize}, {Key: "max_position_embeddings", V: c.MaxPositionEmbeddings},
		{Key: "d_model", V: c.DModel},
		{Key: "encoder_layers", V: c.EncoderLayers}, {Key: "encoder_ffn_dim", V: c.EncoderFFNDim},
		{Key: "encoder_attention_heads", V: c.EncoderAttentionHeads},
		{Key: "decoder_layers", V: c.DecoderLayers}, {Key: "decoder_ffn_dim", V: c.DecoderFFNDim},
		{Key: "decoder_attention_heads", V: c.DecoderAttentionHeads},
	}
	errs = append(errs, models.CheckPositive(sizes...)...)
	errs = append(errs, models.CheckSizes(sizes...)...)
	for _, f := range []models.Field{{Key: "encoder_layers", V: c.EncoderLayers}, {Key: "decoder_layers", V: c.DecoderLayers}} {
		if f.V > models.MaxLayers {
			errs = append(errs, fmt.Errorf("%s = %d, want at most %d", f.Key, f.V, models.MaxLayers))
		}
	}
	for _, h := range []models.Field{{Key: "encoder_attention_heads", V: c.EncoderAttentionHeads}, {Key: "decoder_attention_heads", V: c.DecoderAttentionHeads}} {
		if h.V > 0 && c.DModel%h.V != 0 {
			errs = append(errs, fmt.Errorf("d_model %d is not a multiple of %s %d", c.DModel, h.Key, h.V))
		}
	}
	errs = append(errs, models.CheckProbs(
		models.FloatField{Key: "dropout", V: c.Dropout},
		models.FloatField{Key: "attention_dropout", V: c.AttentionDropout},
		models.FloatField{Key: "activation_dropout", V: c.ActivationDropout},
		models.FloatField{Key: "encoder_layerdrop", V: c.EncoderLayerdrop},
		models.FloatField{Key: "decoder_layerdrop", V: c.DecoderLayerdrop},
	)...)
	errs = append(errs, models.CheckNonNegative(models.FloatField{Key: "init_std", V: c.InitStd})...)
	for _, l := range []models.FloatField{{Key: "encoder_layerdrop", V: c.EncoderLayerdrop}, {Key: "decoder_layerdrop", V: c.DecoderLayerdrop}} {
		if l.V > 0 && l.V <= 1 {
			errs = append(errs, fmt.Errorf("%s = %g: layerdrop is not implemented, want 0 (as facebook/bart-* have)", l.Key, l.V))
		}
	}
	for _, id := range []struct {
		key string
		v   *int64
	}{
		{"pad_token_id", &c.PadTokenID}, {"bos_token_id", &c.BosTokenID}, {"eos_token_id", &c.EosTokenID},
		{"decoder_start_token_id", &c.DecoderStartTokenID},
		{"forced_bos_token_id", c.ForcedBosTokenID}, {"forced_eos_token_id", c.ForcedEosTokenID},
	} {
		if id.v != nil && (*id.v < 0 || *id.v >= c.VocabSize) {
			errs = append(errs, fmt.Errorf("%s = %d, want in [0, vocab_size %d)", id.key, *id.v, c.VocabSize))
		}
	}
	if !slices.Contains(activations, c.ActivationFunction) {
		errs = append(errs, fmt.Errorf("activation_function %q: want one of %s", c.ActivationFunction, strings.Join(activations, ", ")))
	}
	if c.TieWordEmbeddings != nil && !*c.TieWordEmbeddings {
		errs = append(errs, errors.New("tie_word_embeddings false: an LM head not tied to the shared embedding is not implemented (facebook/bart-* tie it)"))
	}
	errs = append(errs, c.legacyErrors()...)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Only a configuration whose every size is sane can be counted.
	return models.CheckParamCount(Specs(c), "the model")
}

// legacyErrors refuses fairseq-era keys whose value asks for an architecture other than
// the one transformers 4.44.2 runs (it ignores these keys). BART is post-LayerNorm and
// has no pre-LayerNorm switch; pre-LayerNorm with final LayerNorms is mBART.
func (c Config) legacyErrors() []error {
	var errs []error
	is := func(b *bool, v bool) bool { return b != nil && *b == v }
	const ignored = "transformers' BartModel ignores this key and would run standard BART"
	if is(c.NormalizeBefore, true) {
		errs = append(errs, fmt.Errorf("normalize_before true: pre-LayerNorm is mBART's layout (model_type mbart), not implemented; %s", ignored))
	}
	if is(c.AddFinalLayerNorm, true) {
		errs = append(errs, fmt.Errorf("add_final_layer_norm true: final LayerNorms are mBART's layout (model_type mbart), not implemented; %s", ignored))
	}
	if is(c.NormalizeEmbedding, false) {
		errs = append(errs, fmt.Errorf("normalize_embedding false: BART always normalises its embeddings; %s", ignored))
	}
	if is(c.StaticPositionEmbeddings, true) {
		errs = append(errs, fmt.Errorf("static_position_embeddings true: sinusoidal positions are not BART's; %s", ignored))
	}
	if is(c.AddBiasLogits, true) {
		errs = append(errs, fmt.Errorf("add_bias_logits true: not implemented; %s", ignored))
	}
	if c.ExtraPosEmbeddings != nil && *c.ExtraPosEmbeddings != positionOffset {
		errs = append(errs, fmt.Errorf("extra_pos_embeddings %d: BART's position offset is %d; %s", *c.ExtraPosEmbeddings, positionOffset, ignored))
	}
	return errs
}

// embedScale is the factor of the token embeddings.
func (c Config) embedScale() float64 {
	if c.ScaleEmbedding {
		return math.Sqrt(float64(c.DModel))
	}
	return 1
}
