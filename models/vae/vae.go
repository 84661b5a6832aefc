package vae

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// Spec is one parameter's name and shape, known from the configuration alone.
type Spec = models.ParamSpec

// specList adds the VAE's module kinds to models.SpecList.
type specList struct{ models.SpecList }

// conv appends a Conv2d's weight (out × in × k × k) and bias.
func (s *specList) conv(name string, out, in, k int64) {
	s.Add(name+".weight", models.InitNormal, out, in, k, k)
	s.Add(name+".bias", models.InitZero, out)
}

// norm appends a GroupNorm's affine weight (ones) and bias (zeros).
func (s *specList) norm(name string, ch int64) { s.LayerNorm(name, ch) }

// resnet appends a ResnetBlock2D: norm1, conv1, norm2, conv2, and a 1 × 1
// conv_shortcut when the channel count changes.
func (s *specList) resnet(name string, in, out int64) {
	s.norm(name+".norm1", in)
	s.conv(name+".conv1", out, in, 3)
	s.norm(name+".norm2", out)
	s.conv(name+".conv2", out, out, 3)
	if in != out {
		s.conv(name+".conv_shortcut", out, in, 1)
	}
}

// attention appends the mid block's single-head Attention: group_norm, to_q, to_k,
// to_v, to_out.0 (diffusers' current names).
func (s *specList) attention(name string, ch int64) {
	s.norm(name+".group_norm", ch)
	for _, p := range []string{"to_q", "to_k", "to_v", "to_out.0"} {
		s.Linear(name+"."+p, ch, ch)
	}
}

// midBlock appends UNetMidBlock2D: resnet, attention (if any), resnet.
func (s *specList) midBlock(name string, c Config, ch int64) {
	s.resnet(name+".resnets.0", ch, ch)
	if c.MidBlockAddAttention {
		s.attention(name+".attentions.0", ch)
	}
	s.resnet(name+".resnets.1", ch, ch)
}

// Specs lists the parameters of AutoencoderKL named as in its diffusers checkpoint, in
// forward order: encoder, quant_conv, post_quant_conv, decoder.
func Specs(c Config) []Spec {
	var s specList
	ch, n := c.BlockOutChannels, len(c.BlockOutChannels)
	// Encoder: conv_in, down blocks (layers_per_block resnets, then a stride-2 conv on
	// all but the last level), mid block, norm, conv_out to mean and logvar.
	s.conv("encoder.conv_in", ch[0], c.InChannels, 3)
	prev := ch[0]
	for i := range n {
		for j := range c.LayersPerBlock {
			s.resnet(downResnet(i, j), prev, ch[i])
			prev = ch[i]
		}
		if i < n-1 {
			s.conv(downsampler(i), ch[i], ch[i], 3)
		}
	}
	s.midBlock("encoder.mid_block", c, ch[n-1])
	s.norm("encoder.conv_norm_out", ch[n-1])
	s.conv("encoder.conv_out", 2*c.LatentChannels, ch[n-1], 3)
	if c.UseQuantConv {
		s.conv("quant_conv", 2*c.LatentChannels, 2*c.LatentChannels, 1)
	}
	if c.UsePostQuantConv {
		s.conv("post_quant_conv", c.LatentChannels, c.LatentChannels, 1)
	}
	// Decoder: conv_in, mid block, up blocks over the levels coarsest first
	// (layers_per_block + 1 resnets, then nearest ×2 and a conv on all but the last),
	// norm, conv_out.
	s.conv("decoder.conv_in", ch[n-1], c.LatentChannels, 3)
	s.midBlock("decoder.mid_block", c, ch[n-1])
	prev = ch[n-1]
	for i := range n {
		out := ch[n-1-i]
		for j := range c.LayersPerBlock + 1 {
			s.resnet(upResnet(i, j), prev, out)
			prev = out
		}
		if i < n-1 {
			s.conv(upsampler(i), out, out, 3)
		}
	}
	s.norm("decoder.conv_norm_out", ch[0])
	s.conv("decoder.conv_out", c.OutChannels, ch[0], 3)
	return s.SpecList
}

func downResnet(i int, j int64) string { return fmt.Sprintf("encoder.down_blocks.%d.resnets.%d", i, j) }
func downsampler(i int) string         { return fmt.Sprintf("encoder.down_blocks.%d.downsamplers.0.conv", i) }
func upResnet(i int, j int64) string   { return fmt.Sprintf("decoder.up_blocks.%d.resnets.%d", i, j) }
func upsampler(i int) string           { return fmt.Sprintf("decoder.up_blocks.%d.upsamplers.0.conv", i) }

// Model is AutoencoderKL. Its parameters require no grad: the VAE is frozen.
type Model struct {
	models.Weights
	Config Config
}

// New builds a VAE with weights drawn from seed on the CPU (N(0, 0.02²) convolutions
// and linears, GroupNorms (1, 0), zero biases): not diffusers' initialisation, only for
// shapes and benchmarks without a checkpoint.
func New(c Config, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := models.NewRNG(seed, 0)
	return assemble(c, models.InitAll(Specs(c), func(s Spec) *ts.Tensor { return models.InitTensor(s, 0.02, rng) }))
}

// assemble wires named tensors into a model, frozen.
func assemble(c Config, tensors map[string]*ts.Tensor) (*Model, error) {
	w, err := models.Assemble("vae", Specs(c), nil, tensors)
	if err != nil {
		return nil, err
	}
	m := &Model{Weights: w, Config: c}
	models.Freeze(m)
	return m, nil
}

var _ models.Model = (*Model)(nil)
