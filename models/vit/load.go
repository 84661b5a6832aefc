package vit

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// LoadReport says what loading a checkpoint did beyond copying tensors: head tensors
// newly initialised (a bare ViTModel such as google/vit-base-patch16-224-in21k) or
// Replaced (the 1000-class ImageNet head of google/vit-base-patch16-224 on a 10-class
// task), and checkpoint tensors Ignored (the pooler of a bare ViTModel, the
// masked-image-modelling mask token and decoder).
type LoadReport = models.LoadReport

// ignorable are checkpoint tensors an image classifier drops, as transformers does.
func ignorable(name string) bool {
	name = strings.TrimPrefix(name, prefix)
	return strings.HasPrefix(name, "pooler.") || strings.HasPrefix(name, "decoder.") ||
		name == "embeddings.mask_token"
}

// Load builds a model from a Hugging Face folder: config.json and model.safetensors.
// numLabels > 0 overrides the config's label count (a new task on a pre-trained
// checkpoint); the head is then initialised from seed.
func Load(dir string, numLabels int64, seed uint64) (*Model, LoadReport, error) {
	c, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, LoadReport{}, err
	}
	if numLabels > 0 {
		c.NumLabels = numLabels
	}
	return LoadWithConfig(dir, c, seed)
}

// LoadWithConfig builds a model from dir/model.safetensors with a configuration the
// caller adjusted (label count, dropout).
func LoadWithConfig(dir string, c Config, seed uint64) (*Model, LoadReport, error) {
	weights := filepath.Join(dir, "model.safetensors")
	tensors, err := safetensors.Load(weights)
	if err != nil {
		return nil, LoadReport{}, err
	}
	return FromTensors(c, tensors, weights, seed)
}

// FromTensors builds a model from a checkpoint's tensors, matched by Hugging Face name
// with or without the base-model prefix "vit.". Any missing base tensor, unexpected
// tensor or mis-shaped base tensor is an error listing all of them, named by source; a
// missing or differently sized head is initialised from seed and reported.
func FromTensors(c Config, ckpt map[string]*ts.Tensor, source string, seed uint64) (*Model, LoadReport, error) {
	if err := c.Validate(); err != nil {
		return nil, LoadReport{}, fmt.Errorf("%s: %w", source, err)
	}
	rng := models.NewRNG(seed, 0)
	tensors, rep, err := models.MatchCheckpoint(Specs(c), ckpt, source, models.Match{
		Prefix:      prefix,
		Ignorable:   ignorable,
		ReplaceHead: true,
		Init:        func(s Spec) *ts.Tensor { return models.InitTensor(s, c.InitializerRange, rng) },
		Model: fmt.Sprintf("a ViT with %d layers, hidden %d, %d×%d patches of a %d×%d image",
			c.NumHiddenLayers, c.HiddenSize, c.PatchSize, c.PatchSize, c.ImageSize, c.ImageSize),
	})
	if err != nil {
		return nil, rep, err
	}
	m, err := assemble(c, tensors)
	return m, rep, err
}
