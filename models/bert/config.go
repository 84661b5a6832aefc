// Package bert is the BERT-family encoder (BERT, RoBERTa, MiniLM) on gotch, built from a
// Hugging Face config.json and loaded from model.safetensors by Hugging Face's names,
// with heads for sequence classification, regression and span prediction.
package bert

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/vectorfit/harness/models"
)

// Config is the subset of a Hugging Face BertConfig/RobertaConfig the encoder reads.
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
	TypeVocabSize             int64   `json:"type_vocab_size"`
	LayerNormEps              float64 `json:"layer_norm_eps"`
	InitializerRange          float64 `json:"initializer_range"`
	PadTokenID                int64   `json:"pad_token_id"`
	// PositionEmbeddingType must be "absolute" (the default): relative_key variants
	// are not implemented.
	PositionEmbeddingType string `json:"position_embedding_type"`
	// ClassifierDropout overrides HiddenDropoutProb in the head when set.
	ClassifierDropout *float64 `json:"classifier_dropout"`
	// NumLabels as Hugging Face derives it: from num_labels, else from id2label.
	NumLabels int64             `json:"num_labels"`
	ID2Label  map[string]string `json:"id2label"`
}

// Tiny is the built-in configuration of the demo and the tests: small enough to train
// in seconds on a CPU, shaped like the real thing.
func Tiny(vocabSize int64) Config {
	return Config{
		ModelType: "bert", VocabSize: vocabSize, HiddenSize: 64, NumHiddenLayers: 2,
		NumAttentionHeads: 4, IntermediateSize: 128, HiddenAct: "gelu",
		HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, MaxPositionEmbeddings: 512,
		TypeVocabSize: 2, LayerNormEps: 1e-12, InitializerRange: 0.02, NumLabels: 2,
	}
}

// BaseShape is bert-base-uncased's configuration (110M parameters), for benchmarks and
// parameter counts without weights.
func BaseShape() Config {
	return Config{
		ModelType: "bert", VocabSize: 30522, HiddenSize: 768, NumHiddenLayers: 12,
		NumAttentionHeads: 12, IntermediateSize: 3072, HiddenAct: "gelu",
		HiddenDropoutProb: 0.1, AttentionProbsDropoutProb: 0.1, MaxPositionEmbeddings: 512,
		TypeVocabSize: 2, LayerNormEps: 1e-12, InitializerRange: 0.02, NumLabels: 2,
	}
}

// LoadConfig reads a Hugging Face config.json.
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(raw, path)
}

// ParseConfig reads the bytes of a config.json; source names it in errors.
func ParseConfig(raw []byte, source string) (Config, error) {
	c := Config{HiddenAct: "gelu", LayerNormEps: 1e-12, InitializerRange: 0.02, TypeVocabSize: 2}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("%s: not a config.json: %w", source, err)
	}
	// pad_token_id decides RoBERTa's position ids, so a config.json without it (or
	// with null) takes the default of the model type's config class.
	var pad struct {
		ID *int64 `json:"pad_token_id"`
	}
	_ = json.Unmarshal(raw, &pad) // raw parsed above
	if pad.ID == nil {
		c.PadTokenID = defaultPadTokenID(c.ModelType)
	}
	c.NumLabels = models.NumLabelsFrom(c.NumLabels, c.ID2Label)
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// defaultPadTokenID is BertConfig's and RobertaConfig's pad_token_id default.
func defaultPadTokenID(modelType string) int64 {
	if modelType == "roberta" {
		return 1 // <pad> in RoBERTa's vocabulary
	}
	return 0 // [PAD] in BERT's
}

// Validate checks the values the encoder depends on.
func (c Config) Validate() error {
	var errs []error
	switch c.ModelType {
	case "bert", "roberta":
	default:
		errs = append(errs, fmt.Errorf("model_type %q: this encoder reads bert and roberta (MiniLM checkpoints say bert)", c.ModelType))
	}
	errs = append(errs, models.CheckPositive(
		models.Field{Key: "vocab_size", V: c.VocabSize}, models.Field{Key: "hidden_size", V: c.HiddenSize},
		models.Field{Key: "num_hidden_layers", V: c.NumHiddenLayers}, models.Field{Key: "num_attention_heads", V: c.NumAttentionHeads},
		models.Field{Key: "intermediate_size", V: c.IntermediateSize}, models.Field{Key: "max_position_embeddings", V: c.MaxPositionEmbeddings},
		models.Field{Key: "type_vocab_size", V: c.TypeVocabSize},
	)...)
	errs = append(errs, models.CheckSizes(
		models.Field{Key: "vocab_size", V: c.VocabSize}, models.Field{Key: "hidden_size", V: c.HiddenSize},
		models.Field{Key: "intermediate_size", V: c.IntermediateSize}, models.Field{Key: "max_position_embeddings", V: c.MaxPositionEmbeddings},
		models.Field{Key: "type_vocab_size", V: c.TypeVocabSize}, models.Field{Key: "num_labels", V: c.NumLabels},
	)...)
	errs = append(errs, models.CheckLayers(c.NumHiddenLayers), models.CheckHeads(c.HiddenSize, c.NumAttentionHeads))
	if c.NumLabels < 0 {
		errs = append(errs, fmt.Errorf("num_labels = %d, want > 0", c.NumLabels))
	}
	// transformers' nn.Embedding(padding_idx=pad_token_id) refuses an id outside the
	// vocabulary too; RoBERTa's position ids start from it.
	if c.PadTokenID < 0 || c.VocabSize > 0 && c.PadTokenID >= c.VocabSize {
		errs = append(errs, fmt.Errorf("pad_token_id = %d, want in [0, vocab_size %d)", c.PadTokenID, c.VocabSize))
	}
	errs = append(errs, models.CheckProbs(
		models.FloatField{Key: "hidden_dropout_prob", V: c.HiddenDropoutProb},
		models.FloatField{Key: "attention_probs_dropout_prob", V: c.AttentionProbsDropoutProb},
	)...)
	if c.ClassifierDropout != nil {
		errs = append(errs, models.CheckProbs(models.FloatField{Key: "classifier_dropout", V: *c.ClassifierDropout})...)
	}
	errs = append(errs, models.CheckNonNegative(
		models.FloatField{Key: "layer_norm_eps", V: c.LayerNormEps},
		models.FloatField{Key: "initializer_range", V: c.InitializerRange},
	)...)
	if c.PositionEmbeddingType != "" && c.PositionEmbeddingType != "absolute" {
		errs = append(errs, fmt.Errorf("position_embedding_type %q: this encoder implements absolute positions only", c.PositionEmbeddingType))
	}
	switch c.HiddenAct {
	case "gelu", "gelu_new", "gelu_pytorch_tanh", "relu":
	default:
		errs = append(errs, fmt.Errorf("hidden_act %q: want gelu, gelu_new, gelu_pytorch_tanh or relu", c.HiddenAct))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Only a configuration whose every size is sane can be counted.
	return models.CheckParamCount(Specs(c, Classification), "the model")
}

// prefix is the name of the base model inside a task model's checkpoint.
func (c Config) prefix() string { return c.ModelType + "." }

// headDropout is the dropout before the classifier, as transformers picks it.
func (c Config) headDropout() float64 {
	if c.ClassifierDropout != nil {
		return *c.ClassifierDropout
	}
	return c.HiddenDropoutProb
}
