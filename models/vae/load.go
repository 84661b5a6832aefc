package vae

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// WeightFiles are the files of a diffusers vae/ folder Load reads, in order of
// preference: the fp16 variant only when it is the only one (its weights are rounded).
var WeightFiles = []string{
	"diffusion_pytorch_model.safetensors",
	"diffusion_pytorch_model.bin",
	"diffusion_pytorch_model.fp16.safetensors",
}

// LoadReport says what loading a checkpoint did beyond copying tensors.
type LoadReport struct {
	// Weights is the file the tensors came from.
	Weights string
	// Renamed are the attention tensors found under diffusers' deprecated names
	// (query, key, value, proj_attn), as "old -> new".
	Renamed []string
	models.LoadReport
}

// WeightsFile is the first of WeightFiles present in dir.
func WeightsFile(dir string) (string, error) {
	if p, ok := models.FirstFile(dir, WeightFiles); ok {
		return p, nil
	}
	return "", fmt.Errorf("%s: no %s (a diffusers vae/ folder)", dir, strings.Join(WeightFiles, ", "))
}

// Load builds a VAE from a diffusers vae/ folder: config.json and the weights of
// WeightsFile (float16/bfloat16 weights become float32).
func Load(dir string) (*Model, LoadReport, error) {
	m, rep, weights, err := models.LoadFolder(dir, LoadConfig, WeightsFile, FromTensors)
	rep.Weights = weights
	return m, rep, err
}

// deprecatedAttention matches the mid-block attention names of checkpoints saved
// before diffusers 0.14 (some revisions of CompVis/stable-diffusion-v1-4's vae/), which
// diffusers' _convert_deprecated_attention_blocks renames on loading.
var deprecatedAttention = regexp.MustCompile(`^((?:encoder|decoder)\.mid_block\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$`)

var attentionRenames = map[string]string{"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}

// renameDeprecated returns ckpt with deprecated attention names mapped to the current
// ones, and the renames made; a tensor present under both names is an error.
func renameDeprecated(ckpt map[string]*ts.Tensor, source string) (map[string]*ts.Tensor, []string, error) {
	out := maps.Clone(ckpt)
	var renamed []string
	for _, old := range slices.Sorted(maps.Keys(ckpt)) {
		g := deprecatedAttention.FindStringSubmatch(old)
		if g == nil {
			continue
		}
		name := g[1] + "." + attentionRenames[g[2]] + "." + g[3]
		if _, dup := ckpt[name]; dup {
			return nil, nil, fmt.Errorf("%s: holds both %s and its deprecated name %s, want one", source, name, old)
		}
		out[name] = out[old]
		delete(out, old)
		renamed = append(renamed, old+" -> "+name)
	}
	return out, renamed, nil
}

// ldmHint explains unexpected tensors named as the original CompVis/LDM checkpoints
// name the autoencoder (encoder.down.0.block.0..., first_stage_model.*).
func ldmHint(unexpected []string) error {
	for _, n := range unexpected {
		if strings.HasPrefix(n, "first_stage_model.") || strings.HasPrefix(n, "encoder.down.") || strings.HasPrefix(n, "decoder.up.") {
			return fmt.Errorf("tensor %s is named as in an original CompVis/LDM checkpoint, not a diffusers one: "+
				"convert it with diffusers' scripts/convert_original_stable_diffusion_to_diffusers.py, or use the hub's vae/ folder", n)
		}
	}
	return nil
}

// FromTensors builds a VAE from a checkpoint's tensors, matched by diffusers name (the
// deprecated attention names accepted). Every parameter must be present: any missing,
// unexpected or mis-shaped tensor is one error listing all of them, named by source.
func FromTensors(c Config, ckpt map[string]*ts.Tensor, source string) (*Model, LoadReport, error) {
	if err := c.Validate(); err != nil {
		return nil, LoadReport{}, fmt.Errorf("%s: %w", source, err)
	}
	ckpt, renamed, err := renameDeprecated(ckpt, source)
	if err != nil {
		return nil, LoadReport{}, err
	}
	tensors, rep, err := models.MatchCheckpoint(Specs(c), ckpt, source, models.Match{
		Fresh: func(Spec) bool { return false }, // a VAE without one of its weights is no VAE
		Init:  func(s Spec) *ts.Tensor { return models.InitTensor(s, 0.02, models.NewRNG(0, 0)) },
		Hint:  ldmHint,
		Model: fmt.Sprintf("an AutoencoderKL with block_out_channels %v, layers_per_block %d, latent_channels %d, "+
			"use_quant_conv %t, use_post_quant_conv %t, mid_block_add_attention %t",
			c.BlockOutChannels, c.LayersPerBlock, c.LatentChannels, c.UseQuantConv, c.UsePostQuantConv, c.MidBlockAddAttention),
	})
	out := LoadReport{Renamed: renamed, LoadReport: rep}
	if err != nil {
		return nil, out, err
	}
	m, err := assemble(c, tensors)
	return m, out, err
}
