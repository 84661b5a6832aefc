package clip

import (
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// TinyText is the built-in tiny text encoder (2 layers, hidden 32, 4 heads) over vocab
// tokens, SD v1.4's layout otherwise (quick_gelu, legacy argmax pooling, 77
// positions): the text tower of the built-in tiny Stable Diffusion.
func TinyText(vocab int64) TextConfig {
	c := textDefaults()
	c.VocabSize, c.HiddenSize, c.IntermediateSize, c.NumHiddenLayers, c.NumAttentionHeads, c.ProjectionDim = vocab, 32, 64, 2, 4, 32
	c.EosTokenID = 2 // argmax pooling: the tokenizer's <|endoftext|> is its largest id
	return c
}

// Tiny is the built-in tiny CLIP (the TinyText tower and a 32×32, patch-8 vision
// tower, projections of 32) that scores CLIP-I and CLIP-T of a CPU run.
func Tiny(vocab int64) Config {
	v := visionDefaults()
	v.HiddenSize, v.IntermediateSize, v.NumHiddenLayers, v.NumAttentionHeads, v.ImageSize, v.PatchSize, v.ProjectionDim = 32, 64, 2, 4, 32, 8, 32
	return Config{ModelType: "clip", Text: TinyText(vocab), Vision: v, ProjectionDim: 32, LogitScaleInitValue: 2.6592}
}

// initTensors draws every parameter of specs from seed: N(0, std²), LayerNorms 1 and 0
// (not transformers' per-module initialisation; these models are built-in stand-ins).
func initTensors(specs []Spec, std float64, seed uint64) map[string]*ts.Tensor {
	rng := models.NewRNG(seed, 0)
	out := map[string]*ts.Tensor{}
	for _, s := range specs {
		if len(s.Shape) == 0 { // logit_scale: a 0-dim tensor, which gotch's ones() cannot make
			out[s.Name] = ts.MustOfSlice([]float32{2.6592}).MustSqueeze(true) // log(1/0.07), as CLIP
			continue
		}
		out[s.Name] = models.InitTensor(s, std, rng)
	}
	return out
}

// NewText builds a random-init text model (TinyText's, for the built-in model).
func NewText(c TextConfig, seed uint64) (*TextModel, error) {
	m, _, err := TextFromTensors(c, initTensors(TextSpecs(c), c.InitializerRange, seed), "random init")
	return m, err
}

// New builds a random-init CLIP model.
func New(c Config, seed uint64) (*Model, error) {
	m, _, err := FromTensors(c, initTensors(Specs(c), c.Text.InitializerRange, seed), "random init")
	return m, err
}
