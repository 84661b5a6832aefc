package vit

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// LoadReport says what loading a checkpoint did beyond copying tensors.
type LoadReport struct {
	// NewlyInitialised are head tensors the checkpoint lacks (a bare ViTModel such as
	// google/vit-base-patch16-224-in21k), initialised from the seed.
	NewlyInitialised []string
	// Replaced are head tensors the checkpoint has with another label count (the
	// 1000-class ImageNet head of google/vit-base-patch16-224 on a 10-class task),
	// replaced by fresh ones as transformers' ignore_mismatched_sizes=True does. Each
	// entry names the tensor and both shapes.
	Replaced []string
	// Ignored are checkpoint tensors the model has no use for (the pooler of a bare
	// ViTModel, the masked-image-modelling mask token and decoder).
	Ignored []string
}

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
	var (
		rep                            LoadReport
		missing, unexpected, misshaped []string
		used                           = map[string]bool{}
		tensors                        = map[string]*ts.Tensor{}
		rng                            = models.NewRNG(seed, 0)
	)
	for _, s := range Specs(c) {
		name, t := s.Name, ckpt[s.Name]
		if t == nil && strings.HasPrefix(s.Name, prefix) { // saved from the bare ViTModel
			name = strings.TrimPrefix(s.Name, prefix)
			t = ckpt[name]
		}
		if t != nil {
			used[name] = true
		}
		switch {
		case t == nil && s.Head:
			rep.NewlyInitialised = append(rep.NewlyInitialised, s.Name)
			tensors[s.Name] = initTensor(s, c.InitializerRange, rng)
		case t == nil:
			missing = append(missing, s.Name)
		case !slices.Equal(t.MustSize(), s.Shape) && s.Head:
			rep.Replaced = append(rep.Replaced, fmt.Sprintf("%s: checkpoint %v, model %v", name, t.MustSize(), s.Shape))
			tensors[s.Name] = initTensor(s, c.InitializerRange, rng)
		case !slices.Equal(t.MustSize(), s.Shape):
			misshaped = append(misshaped, fmt.Sprintf("%s: checkpoint %v, model %v", name, t.MustSize(), s.Shape))
		default:
			tensors[s.Name] = t.MustTotype(gotch.Float, false).MustDetach(true)
		}
	}
	for name := range ckpt {
		switch {
		case used[name]:
		case ignorable(name):
			rep.Ignored = append(rep.Ignored, name)
		default:
			unexpected = append(unexpected, name)
		}
	}
	slices.Sort(rep.Ignored)
	slices.Sort(unexpected)
	var errs []error
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing tensors: %s", strings.Join(missing, ", ")))
	}
	if len(unexpected) > 0 {
		errs = append(errs, fmt.Errorf("unexpected tensors: %s", strings.Join(unexpected, ", ")))
	}
	if len(misshaped) > 0 {
		errs = append(errs, fmt.Errorf("mis-shaped tensors: %s", strings.Join(misshaped, "; ")))
	}
	if len(errs) > 0 {
		return nil, rep, fmt.Errorf("%s does not fit a ViT with %d layers, hidden %d, %d×%d patches of a %d×%d image: %w",
			source, c.NumHiddenLayers, c.HiddenSize, c.PatchSize, c.PatchSize, c.ImageSize, c.ImageSize, errors.Join(errs...))
	}
	m, err := assemble(c, tensors)
	return m, rep, err
}
