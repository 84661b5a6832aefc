// Package vae is the variational autoencoder of Stable Diffusion v1.x (Rombach et al.,
// "High-Resolution Image Synthesis with Latent Diffusion Models", 2022) on gotch: diffusers
// 0.30.3's AutoencoderKL with DownEncoderBlock2D / UpDecoderBlock2D blocks. The encoder
// maps images in [-1, 1] to a diagonal Gaussian over latents (mean, logvar); the decoder
// maps latents back to images. It is built from a diffusers vae/config.json and loaded
// from diffusion_pytorch_model.safetensors (or .bin, or the .fp16.safetensors variant) by
// diffusers' names. DreamBooth keeps it frozen: it exposes no adaptable linears, only its
// parameters, and runs without autograd.
package vae

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/vectorfit/harness/models"
)

// Config is a diffusers AutoencoderKL config.json.
type Config struct {
	ClassName      string   `json:"_class_name"`
	InChannels     int64    `json:"in_channels"`
	OutChannels    int64    `json:"out_channels"`
	DownBlockTypes []string `json:"down_block_types"`
	UpBlockTypes   []string `json:"up_block_types"`
	// BlockOutChannels are the channels of each resolution level, finest first; every
	// level but the last halves the resolution (encoder) or doubles it (decoder).
	BlockOutChannels []int64 `json:"block_out_channels"`
	// LayersPerBlock resnets per encoder level, one more per decoder level.
	LayersPerBlock int64  `json:"layers_per_block"`
	ActFn          string `json:"act_fn"`
	LatentChannels int64  `json:"latent_channels"`
	NormNumGroups  int64  `json:"norm_num_groups"`
	// SampleSize is the training resolution (512 for SD v1): informative only, the
	// model runs at any size.
	SampleSize SampleSize `json:"sample_size"`
	// ScalingFactor multiplies the latents the UNet sees (0.18215 for SD v1): Latents
	// applies it, Decode undoes it.
	ScalingFactor float64 `json:"scaling_factor"`
	// ShiftFactor, LatentsMean and LatentsStd are other pipelines' latent
	// normalisations (SD3, Flux, ...): read only to refuse them.
	ShiftFactor *float64        `json:"shift_factor"`
	LatentsMean json.RawMessage `json:"latents_mean"`
	LatentsStd  json.RawMessage `json:"latents_std"`
	// ForceUpcast asks pipelines to run the VAE in float32: this one always does.
	ForceUpcast          bool `json:"force_upcast"`
	UseQuantConv         bool `json:"use_quant_conv"`
	UsePostQuantConv     bool `json:"use_post_quant_conv"`
	MidBlockAddAttention bool `json:"mid_block_add_attention"`
}

// SampleSize is sample_size: an integer, or [height, width].
type SampleSize struct{ H, W int64 }

// UnmarshalJSON accepts 512 or [512, 512].
func (s *SampleSize) UnmarshalJSON(raw []byte) error {
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		*s = SampleSize{n, n}
		return nil
	}
	var hw []int64
	if err := json.Unmarshal(raw, &hw); err != nil || len(hw) != 2 {
		return fmt.Errorf("sample_size %s: want an integer or [height, width]", bytes.TrimSpace(raw))
	}
	*s = SampleSize{hw[0], hw[1]}
	return nil
}

// MarshalJSON writes an integer when square.
func (s SampleSize) MarshalJSON() ([]byte, error) {
	if s.H == s.W {
		return json.Marshal(s.H)
	}
	return json.Marshal([]int64{s.H, s.W})
}

const (
	className = "AutoencoderKL"
	downBlock = "DownEncoderBlock2D"
	upBlock   = "UpDecoderBlock2D"
	// normEps is the eps of every GroupNorm of the VAE (diffusers' Encoder/Decoder pass
	// resnet_eps=1e-6 to the blocks and use 1e-6 in conv_norm_out).
	normEps = 1e-6
	// logvarMin, logvarMax bound logvar as DiagonalGaussianDistribution clamps it.
	logvarMin, logvarMax = -30.0, 20.0
)

// defaults are AutoencoderKL.__init__'s defaults, for keys a config.json leaves out.
func defaults() Config {
	return Config{
		InChannels: 3, OutChannels: 3,
		DownBlockTypes: []string{downBlock}, UpBlockTypes: []string{upBlock},
		BlockOutChannels: []int64{64}, LayersPerBlock: 1, ActFn: "silu",
		LatentChannels: 4, NormNumGroups: 32, SampleSize: SampleSize{32, 32},
		ScalingFactor: 0.18215, ForceUpcast: true,
		UseQuantConv: true, UsePostQuantConv: true, MidBlockAddAttention: true,
	}
}

func repeat(s string, n int) []string { return slices.Repeat([]string{s}, n) }

// SD1Shape is CompVis/stable-diffusion-v1-4's vae/config.json (83.7M parameters), for
// parameter counts and benchmarks without weights.
func SD1Shape() Config {
	c := defaults()
	c.ClassName = className
	c.DownBlockTypes, c.UpBlockTypes = repeat(downBlock, 4), repeat(upBlock, 4)
	c.BlockOutChannels = []int64{128, 256, 512, 512}
	c.LayersPerBlock = 2
	c.SampleSize = SampleSize{512, 512}
	return c
}

// Tiny is the layout of SD1Shape at toy size: two levels of 32 and 64 channels, one
// resnet per encoder level, 8 groups.
func Tiny() Config {
	c := defaults()
	c.ClassName = className
	c.DownBlockTypes, c.UpBlockTypes = repeat(downBlock, 2), repeat(upBlock, 2)
	c.BlockOutChannels = []int64{32, 64}
	c.NormNumGroups = 8
	return c
}

// LoadConfig reads a diffusers vae/config.json.
func LoadConfig(path string) (Config, error) {
	return models.ReadConfig(path, ParseConfig)
}

// ParseConfig reads the bytes of a config.json; source names it in errors.
func ParseConfig(raw []byte, source string) (Config, error) {
	c := defaults()
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("%s: not an AutoencoderKL config.json: %w", source, err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// activations are the act_fn values implemented: diffusers' get_activation maps both to
// nn.SiLU.
var activations = []string{"silu", "swish"}

// Validate checks the values the model depends on and refuses the options it does not
// implement.
func (c Config) Validate() error {
	var errs []error
	if c.ClassName != "" && c.ClassName != className {
		errs = append(errs, fmt.Errorf("_class_name %q: this model reads %s (a diffusers vae/ folder)", c.ClassName, className))
	}
	sizes := []models.Field{
		{Key: "in_channels", V: c.InChannels}, {Key: "out_channels", V: c.OutChannels},
		{Key: "layers_per_block", V: c.LayersPerBlock}, {Key: "latent_channels", V: c.LatentChannels},
		{Key: "norm_num_groups", V: c.NormNumGroups},
	}
	for i, ch := range c.BlockOutChannels {
		sizes = append(sizes, models.Field{Key: fmt.Sprintf("block_out_channels[%d]", i), V: ch})
	}
	errs = append(errs, models.CheckPositive(sizes...)...)
	errs = append(errs, models.CheckSizes(sizes...)...)
	errs = append(errs, c.blockErrors()...)
	if c.LayersPerBlock > models.MaxLayers {
		errs = append(errs, fmt.Errorf("layers_per_block = %d, want at most %d", c.LayersPerBlock, models.MaxLayers))
	}
	if g := c.NormNumGroups; g > 0 {
		for i, ch := range c.BlockOutChannels {
			if ch > 0 && ch%g != 0 {
				errs = append(errs, fmt.Errorf("block_out_channels[%d] = %d is not a multiple of norm_num_groups %d (GroupNorm)", i, ch, g))
			}
		}
	}
	if !slices.Contains(activations, c.ActFn) {
		errs = append(errs, fmt.Errorf("act_fn %q: want silu (as Stable Diffusion's VAE has)", c.ActFn))
	}
	if !(c.ScalingFactor > 0) || c.ScalingFactor > 1e6 {
		errs = append(errs, fmt.Errorf("scaling_factor = %g, want > 0 (0.18215 for SD v1)", c.ScalingFactor))
	}
	if c.ShiftFactor != nil {
		errs = append(errs, fmt.Errorf("shift_factor %g: a latent shift is not implemented, want null (SD v1 has none)", *c.ShiftFactor))
	}
	for _, f := range []struct {
		key string
		raw json.RawMessage
	}{{"latents_mean", c.LatentsMean}, {"latents_std", c.LatentsStd}} {
		if len(f.raw) > 0 && string(bytes.TrimSpace(f.raw)) != "null" {
			errs = append(errs, fmt.Errorf("%s: per-channel latent normalisation is not implemented, want null (SD v1 has none)", f.key))
		}
	}
	if s := c.SampleSize; s.H <= 0 || s.W <= 0 {
		errs = append(errs, fmt.Errorf("sample_size %dx%d, want > 0", s.H, s.W))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return models.CheckParamCount(Specs(c), "the VAE")
}

// blockErrors checks block_out_channels against the block type lists.
func (c Config) blockErrors() []error {
	var errs []error
	n := len(c.BlockOutChannels)
	switch {
	case n == 0:
		errs = append(errs, errors.New("block_out_channels is empty, want one channel count per level"))
	case n > 16: // 2¹⁵ downsampling is far past any image
		errs = append(errs, fmt.Errorf("block_out_channels has %d levels, want at most 16", n))
	}
	for _, b := range []struct {
		key   string
		types []string
		want  string
	}{{"down_block_types", c.DownBlockTypes, downBlock}, {"up_block_types", c.UpBlockTypes, upBlock}} {
		if len(b.types) != n {
			errs = append(errs, fmt.Errorf("%s has %d entries, want one per block_out_channels entry (%d)", b.key, len(b.types), n))
		}
		for i, t := range b.types {
			if t != b.want {
				errs = append(errs, fmt.Errorf("%s[%d] %q: only %s is implemented (Stable Diffusion's VAE)", b.key, i, t, b.want))
			}
		}
	}
	return errs
}

// levels is the number of resolution levels; downsamples = levels − 1.
func (c Config) levels() int { return len(c.BlockOutChannels) }
