// Package clip is CLIP (Radford et al., "Learning Transferable Visual Models From
// Natural Language Supervision", 2021) on gotch, as Stable Diffusion v1.4 conditions on
// it and as the DreamBooth metrics (CLIP-I, CLIP-T) score with it. It follows
// transformers 4.44.2's modeling_clip.py: CLIPTextModel (token + position embeddings,
// causal pre-LayerNorm encoder, final LayerNorm, pooled state at the EOS token),
// CLIPVisionModel (patch convolution without bias, class embedding, pre_layrnorm,
// encoder, post_layernorm on the class token) and CLIPModel's projections
// (get_text_features, get_image_features). It also has CLIPTokenizer (tokenizer.go) and
// CLIPImageProcessor (image.go). Every linear of the encoders is exposed with a layer
// type, so VectorFit, LoRA and full fine-tuning apply unchanged.
package clip

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vectorfit/harness/models"
)

// TextConfig is the subset of transformers' CLIPTextConfig the text model reads.
type TextConfig struct {
	ModelType             string  `json:"model_type"`
	VocabSize             int64   `json:"vocab_size"`
	HiddenSize            int64   `json:"hidden_size"`
	IntermediateSize      int64   `json:"intermediate_size"`
	ProjectionDim         int64   `json:"projection_dim"`
	NumHiddenLayers       int64   `json:"num_hidden_layers"`
	NumAttentionHeads     int64   `json:"num_attention_heads"`
	MaxPositionEmbeddings int64   `json:"max_position_embeddings"`
	HiddenAct             string  `json:"hidden_act"`
	LayerNormEps          float64 `json:"layer_norm_eps"`
	AttentionDropout      float64 `json:"attention_dropout"`
	InitializerRange      float64 `json:"initializer_range"`
	PadTokenID            int64   `json:"pad_token_id"`
	BosTokenID            int64   `json:"bos_token_id"`
	// EosTokenID chooses the pooled position: 2 (the value of configs saved before
	// transformers PR #24773, SD v1.4's among them) pools at argmax(input_ids), any
	// other value at the first position holding it, exactly as CLIPTextTransformer.
	EosTokenID int64 `json:"eos_token_id"`
}

// VisionConfig is the subset of transformers' CLIPVisionConfig the vision model reads.
type VisionConfig struct {
	ModelType         string  `json:"model_type"`
	HiddenSize        int64   `json:"hidden_size"`
	IntermediateSize  int64   `json:"intermediate_size"`
	ProjectionDim     int64   `json:"projection_dim"`
	NumHiddenLayers   int64   `json:"num_hidden_layers"`
	NumAttentionHeads int64   `json:"num_attention_heads"`
	NumChannels       int64   `json:"num_channels"`
	ImageSize         int64   `json:"image_size"`
	PatchSize         int64   `json:"patch_size"`
	HiddenAct         string  `json:"hidden_act"`
	LayerNormEps      float64 `json:"layer_norm_eps"`
	AttentionDropout  float64 `json:"attention_dropout"`
	InitializerRange  float64 `json:"initializer_range"`
}

// Config is transformers' CLIPConfig: both towers and the shared projection size.
type Config struct {
	ModelType     string       `json:"model_type"`
	Text          TextConfig   `json:"text_config"`
	Vision        VisionConfig `json:"vision_config"`
	ProjectionDim int64        `json:"projection_dim"`
	// LogitScaleInitValue is the initial log temperature (CLIPModel's logit_scale).
	LogitScaleInitValue float64 `json:"logit_scale_init_value"`
}

// Defaults of CLIPTextConfig / CLIPVisionConfig / CLIPConfig (openai/clip-vit-base-patch32).
func textDefaults() TextConfig {
	return TextConfig{ModelType: "clip_text_model", VocabSize: 49408, HiddenSize: 512, IntermediateSize: 2048,
		ProjectionDim: 512, NumHiddenLayers: 12, NumAttentionHeads: 8, MaxPositionEmbeddings: 77,
		HiddenAct: "quick_gelu", LayerNormEps: 1e-5, InitializerRange: 0.02,
		PadTokenID: 1, BosTokenID: 49406, EosTokenID: 49407}
}

func visionDefaults() VisionConfig {
	return VisionConfig{ModelType: "clip_vision_model", HiddenSize: 768, IntermediateSize: 3072, ProjectionDim: 512,
		NumHiddenLayers: 12, NumAttentionHeads: 12, NumChannels: 3, ImageSize: 224, PatchSize: 32,
		HiddenAct: "quick_gelu", LayerNormEps: 1e-5, InitializerRange: 0.02}
}

// activations are the hidden_act values implemented.
var activations = []string{"quick_gelu", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu"}

// LoadTextConfig reads a config.json of model_type "clip_text_model" (a diffusers
// text_encoder/ folder) or "clip" (its text_config, as CLIPTextConfig.from_pretrained).
func LoadTextConfig(path string) (TextConfig, error) {
	return models.ReadConfig(path, ParseTextConfig)
}

// ParseTextConfig reads the bytes of a config.json; source names it in errors.
func ParseTextConfig(raw []byte, source string) (TextConfig, error) {
	var head struct {
		ModelType  string          `json:"model_type"`
		TextConfig json.RawMessage `json:"text_config"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return TextConfig{}, fmt.Errorf("%s: not a config.json: %w", source, err)
	}
	c := textDefaults()
	switch head.ModelType {
	case "clip":
		if len(head.TextConfig) > 0 && string(head.TextConfig) != "null" {
			if err := json.Unmarshal(head.TextConfig, &c); err != nil {
				return TextConfig{}, fmt.Errorf("%s: text_config: %w", source, err)
			}
		}
		c.ModelType = "clip_text_model"
	default:
		if err := json.Unmarshal(raw, &c); err != nil {
			return TextConfig{}, fmt.Errorf("%s: not a CLIP text config.json: %w", source, err)
		}
	}
	if err := c.Validate(); err != nil {
		return TextConfig{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// LoadConfig reads a full CLIP config.json (model_type "clip", openai/clip-vit-*).
func LoadConfig(path string) (Config, error) {
	return models.ReadConfig(path, ParseConfig)
}

// ParseConfig reads the bytes of a full CLIP config.json; source names it in errors.
func ParseConfig(raw []byte, source string) (Config, error) {
	c := Config{Text: textDefaults(), Vision: visionDefaults(), ProjectionDim: 512, LogitScaleInitValue: 2.6592}
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("%s: not a CLIP config.json: %w", source, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// tower checks what both towers share.
func tower(prefix string, hidden, inter, layers, heads int64, act string, eps, dropout float64) []error {
	sizes := []models.Field{
		{Key: prefix + "hidden_size", V: hidden}, {Key: prefix + "intermediate_size", V: inter},
		{Key: prefix + "num_hidden_layers", V: layers}, {Key: prefix + "num_attention_heads", V: heads},
	}
	errs := append(models.CheckPositive(sizes...), models.CheckSizes(sizes...)...)
	if layers > models.MaxLayers {
		errs = append(errs, fmt.Errorf("%snum_hidden_layers = %d, want at most %d", prefix, layers, models.MaxLayers))
	}
	if heads > 0 && hidden%heads != 0 {
		errs = append(errs, fmt.Errorf("%shidden_size %d is not a multiple of num_attention_heads %d", prefix, hidden, heads))
	}
	if !slices.Contains(activations, act) {
		errs = append(errs, fmt.Errorf("%shidden_act %q: want one of %s", prefix, act, strings.Join(activations, ", ")))
	}
	if !(eps > 0) {
		errs = append(errs, fmt.Errorf("%slayer_norm_eps = %g, want > 0", prefix, eps))
	}
	return append(errs, models.CheckProbs(models.FloatField{Key: prefix + "attention_dropout", V: dropout})...)
}

// Validate checks the values the text model depends on.
func (c TextConfig) Validate() error {
	var errs []error
	if c.ModelType != "clip_text_model" {
		errs = append(errs, fmt.Errorf("model_type %q: want clip_text_model (a diffusers text_encoder/) or clip", c.ModelType))
	}
	errs = append(errs, c.errors("")...)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return models.CheckParamCount(TextSpecs(c), "the text model")
}

func (c TextConfig) errors(prefix string) []error {
	errs := tower(prefix, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.HiddenAct, c.LayerNormEps, c.AttentionDropout)
	sizes := []models.Field{{Key: prefix + "vocab_size", V: c.VocabSize}, {Key: prefix + "max_position_embeddings", V: c.MaxPositionEmbeddings}}
	errs = append(errs, models.CheckPositive(sizes...)...)
	errs = append(errs, models.CheckSizes(sizes...)...)
	if c.EosTokenID != 2 && (c.EosTokenID < 0 || c.EosTokenID >= c.VocabSize) {
		errs = append(errs, fmt.Errorf("%seos_token_id = %d, want 2 (legacy argmax pooling) or an id in [0, vocab_size %d)", prefix, c.EosTokenID, c.VocabSize))
	}
	return errs
}

// Validate checks both towers and the projection size.
func (c Config) Validate() error {
	var errs []error
	if c.ModelType != "clip" {
		errs = append(errs, fmt.Errorf("model_type %q: want clip (openai/clip-vit-*)", c.ModelType))
	}
	errs = append(errs, c.Text.errors("text_config.")...)
	v := c.Vision
	errs = append(errs, tower("vision_config.", v.HiddenSize, v.IntermediateSize, v.NumHiddenLayers, v.NumAttentionHeads, v.HiddenAct, v.LayerNormEps, v.AttentionDropout)...)
	sizes := []models.Field{{Key: "projection_dim", V: c.ProjectionDim}, {Key: "vision_config.image_size", V: v.ImageSize},
		{Key: "vision_config.patch_size", V: v.PatchSize}, {Key: "vision_config.num_channels", V: v.NumChannels}}
	errs = append(errs, models.CheckPositive(sizes...)...)
	errs = append(errs, models.CheckSizes(sizes...)...)
	if v.PatchSize > 0 && v.ImageSize%v.PatchSize != 0 {
		errs = append(errs, fmt.Errorf("vision_config.image_size %d is not a multiple of patch_size %d", v.ImageSize, v.PatchSize))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return models.CheckParamCount(Specs(c), "the model")
}
