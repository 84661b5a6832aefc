// Package deberta is the DeBERTa-v2/v3 encoder (He et al., "DeBERTa: Decoding-enhanced
// BERT with Disentangled Attention", and "DeBERTaV3") on gotch: disentangled attention
// with content-to-position and position-to-content terms over log-bucketed relative
// positions. It follows transformers 4.44.2's modeling_deberta_v2.py, is built from a
// Hugging Face config.json, is loaded from model.safetensors or pytorch_model.bin by
// Hugging Face's names, and has heads for sequence classification, regression and span
// prediction. Its API mirrors models/bert so a runner can use both.
package deberta

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vectorfit/harness/models"
)

// Config is the subset of a Hugging Face DebertaV2Config the encoder reads.
type Config struct {
	ModelType                 string  `json:"model_type"`
	VocabSize                 int64   `json:"vocab_size"`
	HiddenSize                int64   `json:"hidden_size"`
	NumHiddenLayers           int64   `json:"num_hidden_layers"`
	NumAttentionHeads         int64   `json:"num_attention_heads"`
	IntermediateSize          int64   `json:"intermediate_size"`
	HiddenAct                 string  `json:"hidden_act"`
	HiddenDropoutProb         float64 `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64 `json:"attention_probs_dropout_prob"`
	MaxPositionEmbeddings     int64   `json:"max_position_embeddings"`
	// TypeVocabSize 0 (DeBERTa-v3) means no token type embeddings.
	TypeVocabSize    int64   `json:"type_vocab_size"`
	LayerNormEps     float64 `json:"layer_norm_eps"`
	InitializerRange float64 `json:"initializer_range"`
	PadTokenID       int64   `json:"pad_token_id"`

	// RelativeAttention switches on the disentangled (relative-position) terms.
	RelativeAttention bool `json:"relative_attention"`
	// MaxRelativePositions k: relative distances are clamped to [-k, k); < 1 means
	// max_position_embeddings.
	MaxRelativePositions int64 `json:"max_relative_positions"`
	// PositionBuckets > 0 maps distances to log buckets (DeBERTa-v3: 256) and sets the
	// attention span to that many buckets.
	PositionBuckets int64 `json:"position_buckets"`
	// NormRelEbd "layer_norm" applies encoder.LayerNorm to the relative embeddings.
	NormRelEbd string `json:"norm_rel_ebd"`
	// ShareAttKey projects the relative embeddings with the content query/key
	// projections instead of separate pos_query_proj/pos_key_proj.
	ShareAttKey bool `json:"share_att_key"`
	// PosAttType lists the relative terms: "c2p" (content to position), "p2c"
	// (position to content). config.json has a list or the older "p2c|c2p" string.
	PosAttType PosAttTypes `json:"pos_att_type"`
	// PositionBiasedInput adds absolute position embeddings to the input (DeBERTa-v3:
	// false, positions enter only through relative attention).
	PositionBiasedInput bool `json:"position_biased_input"`

	PoolerHiddenSize int64   `json:"pooler_hidden_size"`
	PoolerDropout    float64 `json:"pooler_dropout"`
	PoolerHiddenAct  string  `json:"pooler_hidden_act"`
	// ClassifierDropout ("cls_dropout") overrides HiddenDropoutProb before the
	// classifier when set, as DebertaV2ForSequenceClassification reads it.
	ClassifierDropout *float64 `json:"cls_dropout"`

	// Options of other DeBERTa-v2 checkpoints this encoder does not implement; read
	// only to refuse them (DeBERTa-v3 uses none).
	ConvKernelSize    int64 `json:"conv_kernel_size"`    // v2-xlarge's ConvLayer after layer 0
	EmbeddingSize     int64 `json:"embedding_size"`      // an embed_proj when != hidden_size
	AttentionHeadSize int64 `json:"attention_head_size"` // heads × head size != hidden_size

	// NumLabels as Hugging Face derives it: from num_labels, else from id2label.
	NumLabels int64             `json:"num_labels"`
	ID2Label  map[string]string `json:"id2label"`
}

// PosAttTypes is pos_att_type, read from a JSON list or a "p2c|c2p" string.
type PosAttTypes []string

// UnmarshalJSON accepts both forms transformers accepts (it lower-cases and splits the
// string on "|").
func (p *PosAttTypes) UnmarshalJSON(raw []byte) error {
	var list []string
	if err := json.Unmarshal(raw, &list); err == nil {
		*p = list
		return nil
	}
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("pos_att_type: want a list like [\"p2c\", \"c2p\"] or a string like \"p2c|c2p\", got %s", raw)
	}
	*p = nil
	if s != nil {
		for _, t := range strings.Split(strings.ToLower(*s), "|") {
			*p = append(*p, strings.TrimSpace(t))
		}
	}
	return nil
}

// Has says whether the relative term t ("c2p" or "p2c") is on.
func (p PosAttTypes) Has(t string) bool { return slices.Contains(p, t) }

// Tiny is a small configuration shaped like DeBERTa-v3 (log buckets, shared keys, no
// absolute positions), for demos and tests.
func Tiny(vocabSize int64) Config {
	c := BaseShape()
	c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads = vocabSize, 64, 2, 4
	c.IntermediateSize, c.PoolerHiddenSize, c.PositionBuckets = 128, 64, 32
	return c
}

// BaseShape is microsoft/deberta-v3-base's config.json (184M parameters, 98M of them
// in the 128k-token embedding), for benchmarks and parameter counts without weights.
func BaseShape() Config {
	return Config{
		ModelType: "deberta-v2", VocabSize: 128100, HiddenSize: 768, NumHiddenLayers: 12,
		NumAttentionHeads: 12, IntermediateSize: 3072, HiddenAct: "gelu",
		HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, MaxPositionEmbeddings: 512,
		TypeVocabSize: 0, LayerNormEps: 1e-7, InitializerRange: 0.02, PadTokenID: 0,
		RelativeAttention: true, MaxRelativePositions: -1, PositionBuckets: 256,
		NormRelEbd: "layer_norm", ShareAttKey: true, PosAttType: PosAttTypes{"p2c", "c2p"},
		PositionBiasedInput: false, PoolerHiddenSize: 768, PoolerDropout: 0,
		PoolerHiddenAct: "gelu", NumLabels: 2,
	}
}

// defaults are DebertaV2Config's defaults, for keys a config.json leaves out.
func defaults() Config {
	return Config{
		VocabSize: 128100, HiddenSize: 1536, NumHiddenLayers: 24, NumAttentionHeads: 24,
		IntermediateSize: 6144, HiddenAct: "gelu", HiddenDropoutProb: 0.1,
		AttentionProbsDropoutProb: 0.1, MaxPositionEmbeddings: 512, InitializerRange: 0.02,
		LayerNormEps: 1e-7, MaxRelativePositions: -1, PositionBuckets: -1, NormRelEbd: "none",
		PositionBiasedInput: true, PoolerHiddenAct: "gelu",
	}
}

// LoadConfig reads a Hugging Face config.json of model_type "deberta-v2" (DeBERTa-v2
// and v3 checkpoints both say so).
func LoadConfig(path string) (Config, error) {
	return models.ReadConfig(path, ParseConfig)
}

// ParseConfig reads the bytes of a config.json; source names it in errors.
func ParseConfig(raw []byte, source string) (Config, error) {
	c := defaults()
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("%s: not a config.json: %w", source, err)
	}
	if c.PoolerHiddenSize == 0 {
		c.PoolerHiddenSize = c.HiddenSize // DebertaV2Config: kwargs.get("pooler_hidden_size", hidden_size)
	}
	c.NumLabels = models.NumLabelsFrom(c.NumLabels, c.ID2Label)
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// Validate checks the values the encoder depends on, and refuses the DeBERTa-v2 options
// it does not implement.
func (c Config) Validate() error {
	var errs []error
	if c.ModelType != "deberta-v2" {
		errs = append(errs, fmt.Errorf("model_type %q: this encoder reads deberta-v2 (DeBERTa-v2 and v3 checkpoints)", c.ModelType))
	}
	errs = append(errs, models.CheckPositive(
		models.Field{Key: "vocab_size", V: c.VocabSize}, models.Field{Key: "hidden_size", V: c.HiddenSize},
		models.Field{Key: "num_hidden_layers", V: c.NumHiddenLayers}, models.Field{Key: "num_attention_heads", V: c.NumAttentionHeads},
		models.Field{Key: "intermediate_size", V: c.IntermediateSize}, models.Field{Key: "max_position_embeddings", V: c.MaxPositionEmbeddings},
	)...)
	// max_relative_positions and position_buckets may be negative ("unset").
	errs = append(errs, models.CheckSizes(
		models.Field{Key: "vocab_size", V: c.VocabSize}, models.Field{Key: "hidden_size", V: c.HiddenSize},
		models.Field{Key: "intermediate_size", V: c.IntermediateSize}, models.Field{Key: "max_position_embeddings", V: c.MaxPositionEmbeddings},
		models.Field{Key: "type_vocab_size", V: c.TypeVocabSize}, models.Field{Key: "num_labels", V: c.NumLabels},
		models.Field{Key: "max_relative_positions", V: c.MaxRelativePositions}, models.Field{Key: "position_buckets", V: c.PositionBuckets},
	)...)
	errs = append(errs, models.CheckLayers(c.NumHiddenLayers))
	if c.NumLabels < 0 {
		errs = append(errs, fmt.Errorf("num_labels = %d, want > 0", c.NumLabels))
	}
	errs = append(errs, models.CheckProbs(
		models.FloatField{Key: "hidden_dropout_prob", V: c.HiddenDropoutProb},
		models.FloatField{Key: "attention_probs_dropout_prob", V: c.AttentionProbsDropoutProb},
		models.FloatField{Key: "pooler_dropout", V: c.PoolerDropout},
	)...)
	if c.ClassifierDropout != nil {
		errs = append(errs, models.CheckProbs(models.FloatField{Key: "cls_dropout", V: *c.ClassifierDropout})...)
	}
	errs = append(errs, models.CheckNonNegative(
		models.FloatField{Key: "layer_norm_eps", V: c.LayerNormEps},
		models.FloatField{Key: "initializer_range", V: c.InitializerRange},
	)...)
	if c.TypeVocabSize < 0 {
		errs = append(errs, fmt.Errorf("type_vocab_size = %d, want >= 0", c.TypeVocabSize))
	}
	errs = append(errs, models.CheckHeads(c.HiddenSize, c.NumAttentionHeads))
	if c.PadTokenID < 0 || c.PadTokenID >= c.VocabSize {
		errs = append(errs, fmt.Errorf("pad_token_id = %d, want in [0, vocab_size %d)", c.PadTokenID, c.VocabSize))
	}
	for _, a := range []struct{ key, v string }{{"hidden_act", c.HiddenAct}, {"pooler_hidden_act", c.PoolerHiddenAct}} {
		if !slices.Contains(activations, a.v) {
			errs = append(errs, fmt.Errorf("%s %q: want one of %s", a.key, a.v, strings.Join(activations, ", ")))
		}
	}
	for _, t := range c.PosAttType {
		if t != "c2p" && t != "p2c" {
			errs = append(errs, fmt.Errorf("pos_att_type %q: want c2p and/or p2c (DeBERTa-v1's p2p is not part of v2)", t))
		}
	}
	for _, n := range c.normRelEbd() {
		if n != "layer_norm" && n != "none" {
			errs = append(errs, fmt.Errorf("norm_rel_ebd %q: want layer_norm or none", n))
		}
	}
	if c.PoolerHiddenSize != c.HiddenSize {
		// ContextPooler feeds the classifier hidden_size features: no other size works.
		errs = append(errs, fmt.Errorf("pooler_hidden_size %d: want hidden_size %d", c.PoolerHiddenSize, c.HiddenSize))
	}
	if c.ConvKernelSize > 0 {
		errs = append(errs, fmt.Errorf("conv_kernel_size %d: the ConvLayer of DeBERTa-v2 (xlarge, xxlarge) is not implemented; DeBERTa-v3 has none", c.ConvKernelSize))
	}
	if c.EmbeddingSize != 0 && c.EmbeddingSize != c.HiddenSize {
		errs = append(errs, fmt.Errorf("embedding_size %d != hidden_size %d: the embed_proj layer is not implemented", c.EmbeddingSize, c.HiddenSize))
	}
	if c.AttentionHeadSize != 0 && c.AttentionHeadSize*c.NumAttentionHeads != c.HiddenSize {
		errs = append(errs, fmt.Errorf("attention_head_size %d × %d heads != hidden_size %d: not implemented", c.AttentionHeadSize, c.NumAttentionHeads, c.HiddenSize))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Only a configuration whose every size is sane can be counted.
	return models.CheckParamCount(Specs(c, Classification), "the model")
}

// activations are the hidden_act / pooler_hidden_act values implemented.
var activations = []string{"gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh"}

// prefix is the name of the base model inside a task model's checkpoint.
const prefix = "deberta."

// normRelEbd splits norm_rel_ebd as DebertaV2Encoder does ("layer_norm|..." is a list).
func (c Config) normRelEbd() []string {
	var out []string
	for _, s := range strings.Split(strings.ToLower(c.NormRelEbd), "|") {
		out = append(out, strings.TrimSpace(s))
	}
	return out
}

// relEmbeddingLayerNorm says whether encoder.LayerNorm normalises the relative embeddings.
func (c Config) relEmbeddingLayerNorm() bool { return slices.Contains(c.normRelEbd(), "layer_norm") }

// maxRelativePositions is k with the default resolved: < 1 means max_position_embeddings.
func (c Config) maxRelativePositions() int64 {
	if c.MaxRelativePositions < 1 {
		return c.MaxPositionEmbeddings
	}
	return c.MaxRelativePositions
}

// attSpan is the number of relative positions (or buckets) on each side of 0: the
// relative embedding table has 2·attSpan rows.
func (c Config) attSpan() int64 {
	if c.PositionBuckets > 0 {
		return c.PositionBuckets
	}
	return c.maxRelativePositions()
}

// scaleFactor is 1 + the number of relative terms: the scores are divided by
// sqrt(head_dim · scaleFactor), since each term adds a dot product of that size.
func (c Config) scaleFactor() int64 {
	n := int64(1)
	for _, t := range []string{"c2p", "p2c"} {
		if c.PosAttType.Has(t) {
			n++
		}
	}
	return n
}

// headDropout is the dropout before the classifier, as transformers picks it.
func (c Config) headDropout() float64 {
	if c.ClassifierDropout != nil {
		return *c.ClassifierDropout
	}
	return c.HiddenDropoutProb
}
