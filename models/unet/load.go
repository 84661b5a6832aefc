package unet

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// WeightFiles are the names a diffusers unet/ folder keeps its weights under, in the
// order Load tries them: diffusers' default (safetensors, then .bin), then the fp16
// variant a pipeline saved with variant="fp16" (CompVis/stable-diffusion-v1-4's fp16
// branch). F16/BF16 weights become float32.
var WeightFiles = []string{
	"diffusion_pytorch_model.safetensors",
	"diffusion_pytorch_model.bin",
	"diffusion_pytorch_model.fp16.safetensors",
	"diffusion_pytorch_model.fp16.bin",
}

// LoadReport says what loading did beyond copying tensors.
type LoadReport struct {
	// Weights is the file the tensors came from.
	Weights string
	models.LoadReport
}

// WeightsFile is the first of WeightFiles present in dir.
func WeightsFile(dir string) (string, error) {
	if p, ok := models.FirstFile(dir, WeightFiles); ok {
		return p, nil
	}
	return "", fmt.Errorf("%s: no UNet weights, want one of %s", dir, strings.Join(WeightFiles, ", "))
}

// Load builds a model from a diffusers unet/ folder: config.json and one of WeightFiles.
func Load(dir string) (*Model, LoadReport, error) {
	m, rep, weights, err := models.LoadFolder(dir, LoadConfig, WeightsFile, FromTensors)
	rep.Weights = weights
	return m, rep, err
}

// FromTensors builds a model from a checkpoint's tensors by diffusers name. Every
// parameter must be present; any missing, unexpected, mis-shaped or non-floating tensor
// is one error listing all of them, naming source.
func FromTensors(c Config, ckpt map[string]*ts.Tensor, source string) (*Model, LoadReport, error) {
	if err := c.Validate(); err != nil {
		return nil, LoadReport{}, fmt.Errorf("%s: %w", source, err)
	}
	tensors, rep, err := models.MatchCheckpoint(Specs(c), ckpt, source, models.Match{
		Fresh: func(Spec) bool { return false },
		Init:  func(s Spec) *ts.Tensor { return models.InitTensor(s, 0.02, models.NewRNG(0, 0)) },
		Model: c.String(),
	})
	if err != nil {
		return nil, LoadReport{LoadReport: rep}, err
	}
	m, err := assemble(c, tensors)
	return m, LoadReport{LoadReport: rep}, err
}
