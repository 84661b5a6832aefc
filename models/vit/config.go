// Package vit is the Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16
// Words") on gotch, as Hugging Face's ViTForImageClassification computes it: 16×16
// patches embedded by a strided convolution, a learned [CLS] token, learned position
// embeddings (resized bicubically, when asked, for images of another size than at
// pre-training), pre-LayerNorm encoder blocks, a final LayerNorm and a linear head on
// the [CLS] token. It is built from a config.json and loaded from model.safetensors by Hugging Face's
// names, and exposes its six block linears to the methods exactly as the BERT encoder
// does, so VectorFit, LoRA and full fine-tuning run on it unchanged.
package vit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/vectorfit/harness/models"
)

// Config is the subset of a Hugging Face ViTConfig the model reads.
type Config struct {
	ModelType                 string  `json:"model_type"`
	HiddenSize                int64   `json:"hidden_size"`
	NumHiddenLayers           int64   `json:"num_hidden_layers"`
	NumAttentionHeads         int64   `json:"num_attention_heads"`
	IntermediateSize          int64   `json:"intermediate_size"`
	HiddenAct                 string  `json:"hidden_act"`
	HiddenDropoutProb         float64 `json:"hidden_dropout_prob"`
	AttentionProbsDropoutProb float64 `json:"attention_probs_dropout_prob"`
	InitializerRange          float64 `json:"initializer_range"`
	LayerNormEps              float64 `json:"layer_norm_eps"`
	// ImageSize is the (square) pre-training resolution: it fixes the number of
	// position embeddings, (ImageSize/PatchSize)² + 1.
	ImageSize   int64 `json:"image_size"`
	PatchSize   int64 `json:"patch_size"`
	NumChannels int64 `json:"num_channels"`
	// QKVBias: whether query, key and value have biases (true in every ViT checkpoint).
	QKVBias bool `json:"qkv_bias"`
	// NumLabels as transformers derives it: from num_labels, else from id2label.
	NumLabels int64             `json:"num_labels"`
	ID2Label  map[string]string `json:"id2label"`
}

// defaults are ViTConfig's defaults in transformers 4.44, for keys a config.json omits.
func defaults() Config {
	return Config{
		ModelType: "vit", HiddenSize: 768, NumHiddenLayers: 12, NumAttentionHeads: 12,
		IntermediateSize: 3072, HiddenAct: "gelu", InitializerRange: 0.02, LayerNormEps: 1e-12,
		ImageSize: 224, PatchSize: 16, NumChannels: 3, QKVBias: true,
	}
}

// Tiny is the built-in configuration of the tests and the demo: 32×32 images in 4×4
// patches (64 patches + [CLS]), hidden 64, 2 layers of 4 heads, FFN 128, 10 classes.
// It trains in seconds on a CPU.
func Tiny() Config {
	c := defaults()
	c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.IntermediateSize = 64, 2, 4, 128
	c.ImageSize, c.PatchSize = 32, 4
	c.NumLabels = 10
	return c
}

// BaseShape is google/vit-base-patch16-224's configuration (85.8M parameters without
// its 1000-class ImageNet head), for benchmarks and parameter counts without weights.
func BaseShape() Config {
	c := defaults()
	c.NumLabels = 1000
	return c
}

// LoadConfig reads a Hugging Face config.json; absent keys take ViTConfig's defaults.
func LoadConfig(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(raw, path)
}

// ParseConfig reads the bytes of a config.json; source names it in errors.
func ParseConfig(raw []byte, source string) (Config, error) {
	c := defaults()
	c.ModelType = ""
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("%s: not a ViT config.json: %w", source, err)
	}
	c.NumLabels = models.NumLabelsFrom(c.NumLabels, c.ID2Label)
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// Validate checks the values the model depends on.
func (c Config) Validate() error {
	var errs []error
	if c.ModelType != "vit" {
		errs = append(errs, fmt.Errorf("model_type %q: this model reads vit", c.ModelType))
	}
	errs = append(errs, models.CheckPositive(
		models.Field{Key: "hidden_size", V: c.HiddenSize}, models.Field{Key: "num_hidden_layers", V: c.NumHiddenLayers},
		models.Field{Key: "num_attention_heads", V: c.NumAttentionHeads}, models.Field{Key: "intermediate_size", V: c.IntermediateSize},
		models.Field{Key: "image_size", V: c.ImageSize}, models.Field{Key: "patch_size", V: c.PatchSize},
		models.Field{Key: "num_channels", V: c.NumChannels}, models.Field{Key: "num_labels", V: c.NumLabels},
	)...)
	errs = append(errs, models.CheckSizes(
		models.Field{Key: "hidden_size", V: c.HiddenSize}, models.Field{Key: "intermediate_size", V: c.IntermediateSize},
		models.Field{Key: "image_size", V: c.ImageSize}, models.Field{Key: "patch_size", V: c.PatchSize},
		models.Field{Key: "num_channels", V: c.NumChannels}, models.Field{Key: "num_labels", V: c.NumLabels},
	)...)
	errs = append(errs, models.CheckLayers(c.NumHiddenLayers), models.CheckHeads(c.HiddenSize, c.NumAttentionHeads))
	errs = append(errs, models.CheckProbs(
		models.FloatField{Key: "hidden_dropout_prob", V: c.HiddenDropoutProb},
		models.FloatField{Key: "attention_probs_dropout_prob", V: c.AttentionProbsDropoutProb},
	)...)
	errs = append(errs, models.CheckNonNegative(
		models.FloatField{Key: "layer_norm_eps", V: c.LayerNormEps},
		models.FloatField{Key: "initializer_range", V: c.InitializerRange},
	)...)
	if c.PatchSize > 0 && c.ImageSize%c.PatchSize != 0 {
		errs = append(errs, fmt.Errorf("image_size %d is not a multiple of patch_size %d", c.ImageSize, c.PatchSize))
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
	return models.CheckParamCount(Specs(c), "the model")
}

// GridSize is the number of patches along each side at the pre-training resolution.
func (c Config) GridSize() int64 { return c.ImageSize / c.PatchSize }

// NumPatches is the number of patches at the pre-training resolution.
func (c Config) NumPatches() int64 { return c.GridSize() * c.GridSize() }
