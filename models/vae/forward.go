package vae

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// Encode maps images (batch × in_channels × H × W, float32, values in [-1, 1]) to the
// latent distribution: mean and logvar, batch × latent_channels × ⌊H/2ᵏ⌋ × ⌊W/2ᵏ⌋ for
// k = levels − 1, logvar clamped to [-30, 20] as diffusers' DiagonalGaussianDistribution
// does. It runs without autograd.
func (m *Model) Encode(images *ts.Tensor) (mean, logvar *ts.Tensor, err error) {
	if err := m.checkInput("images", images, m.Config.InChannels, true); err != nil {
		return nil, nil, err
	}
	models.NoGrad(func() {
		moments := m.encoder(images)
		parts := moments.MustChunk(2, 1, true)
		mean = parts[0].MustContiguous(true)
		logvar = parts[1].MustClamp(ts.FloatScalar(logvarMin), ts.FloatScalar(logvarMax), true)
	})
	return mean, logvar, nil
}

// Sample is a draw of the latent distribution: mean + exp(logvar / 2) × noise, noise of
// mean's shape (N(0, 1) entries for a true sample).
func Sample(mean, logvar, noise *ts.Tensor) (*ts.Tensor, error) {
	if noise == nil {
		return nil, fmt.Errorf("noise: nil, want a tensor of shape %v", mean.MustSize())
	}
	if got, want := noise.MustSize(), mean.MustSize(); !slices.Equal(got, want) {
		return nil, fmt.Errorf("noise: shape %v, want the latents' shape %v", got, want)
	}
	if d := noise.DType(); d != gotch.Float {
		return nil, fmt.Errorf("noise: dtype %s, want F32 (float32)", safetensors.DTypeName(d))
	}
	if noise.MustDevice() != mean.MustDevice() {
		return nil, fmt.Errorf("noise: on %v, want %v (the latents' device)", noise.MustDevice(), mean.MustDevice())
	}
	var out *ts.Tensor
	models.NoGrad(func() {
		std := logvar.MustMulScalar(ts.FloatScalar(0.5), false).MustExp(true)
		out = std.MustMul(noise, true).MustAdd(mean, true)
	})
	return out, nil
}

// Latents are what the UNet is trained on: a sample of Encode(images) with the given
// noise, times scaling_factor.
func (m *Model) Latents(images, noise *ts.Tensor) (*ts.Tensor, error) {
	mean, logvar, err := m.Encode(images)
	if err != nil {
		return nil, err
	}
	defer mean.MustDrop()
	defer logvar.MustDrop()
	z, err := Sample(mean, logvar, noise)
	if err != nil {
		return nil, err
	}
	return z.MustMulScalar(ts.FloatScalar(m.Config.ScalingFactor), true), nil
}

// LatentsRNG is Latents with N(0, 1) noise drawn from rng (in Go, so that the same seed
// gives the same latents on every machine).
func (m *Model) LatentsRNG(images *ts.Tensor, rng *rand.Rand) (*ts.Tensor, error) {
	if err := m.checkInput("images", images, m.Config.InChannels, true); err != nil {
		return nil, err
	}
	noise := models.Normal(rng, 1, m.LatentShape(images.MustSize())...)
	defer noise.MustDrop()
	dev := noise
	if d := images.MustDevice(); d != gotch.CPU {
		dev = noise.MustTo(d, false)
		defer dev.MustDrop()
	}
	return m.Latents(images, dev)
}

// LatentShape is the shape of the latents of images of the given NCHW shape: each
// downsampling pads by one on the right and bottom and runs a stride-2 3 × 3 conv,
// ⌊(s + 1 − 3)/2⌋ + 1 = ⌊s/2⌋.
func (m *Model) LatentShape(imageShape []int64) []int64 {
	h, w := imageShape[2], imageShape[3]
	for range m.Config.levels() - 1 {
		h, w = h/2, w/2
	}
	return []int64{imageShape[0], m.Config.LatentChannels, h, w}
}

// Decode maps latents as Latents returns them (scaled by scaling_factor) to images:
// it divides by scaling_factor and runs DecodeUnscaled.
func (m *Model) Decode(latents *ts.Tensor) (*ts.Tensor, error) {
	if err := m.checkInput("latents", latents, m.Config.LatentChannels, false); err != nil {
		return nil, err
	}
	z := latents.MustDivScalar(ts.FloatScalar(m.Config.ScalingFactor), false)
	defer z.MustDrop()
	return m.DecodeUnscaled(z)
}

// DecodeUnscaled maps a sample z of the latent distribution (batch × latent_channels ×
// h × w) to images (batch × out_channels × 2ᵏh × 2ᵏw): diffusers' vae.decode(z). It
// runs without autograd.
func (m *Model) DecodeUnscaled(z *ts.Tensor) (*ts.Tensor, error) {
	if err := m.checkInput("latents", z, m.Config.LatentChannels, false); err != nil {
		return nil, err
	}
	var out *ts.Tensor
	models.NoGrad(func() { out = m.decoder(z) })
	return out, nil
}

// checkInput refuses what libtorch would abort on: not 4-D float32 on the model's
// device, another channel count, or (images) a side too small to downsample.
func (m *Model) checkInput(what string, x *ts.Tensor, channels int64, downsampled bool) error {
	if x == nil {
		return fmt.Errorf("%s: nil tensor", what)
	}
	size := x.MustSize()
	if len(size) != 4 {
		return fmt.Errorf("%s: shape %v, want batch × %d × height × width (NCHW)", what, size, channels)
	}
	if size[1] != channels {
		return fmt.Errorf("%s: %d channels (shape %v), want %d", what, size[1], size, channels)
	}
	if size[0] < 1 || size[2] < 1 || size[3] < 1 {
		return fmt.Errorf("%s: shape %v, want every dimension ≥ 1", what, size)
	}
	if d := x.DType(); d != gotch.Float {
		return fmt.Errorf("%s: dtype %s, want F32 (float32)", what, safetensors.DTypeName(d))
	}
	if d, want := x.MustDevice(), m.Device(); d != want {
		return fmt.Errorf("%s: on %v, want %v (the model's device)", what, d, want)
	}
	if downsampled {
		h, w := size[2], size[3]
		for k := range m.Config.levels() - 1 {
			if h < 2 || w < 2 {
				return fmt.Errorf("%s: %d × %d pixels is too small: downsampling %d of %d needs at least 2 × 2 (got %d × %d there)",
					what, size[2], size[3], k+1, m.Config.levels()-1, h, w)
			}
			h, w = h/2, w/2
		}
	}
	return nil
}

// encoder is Encoder followed by quant_conv: batch × 2·latent_channels moments.
func (m *Model) encoder(x *ts.Tensor) *ts.Tensor {
	c := m.Config
	h := m.conv("encoder.conv_in", x.MustShallowClone(), 1, 1) // conv drops its input
	for i := range c.levels() {
		for j := range c.LayersPerBlock {
			h = m.resnet(downResnet(i, j), h)
		}
		if i < c.levels()-1 {
			h = m.downsample(downsampler(i), h)
		}
	}
	h = m.midBlock("encoder.mid_block", h)
	h = m.outHead("encoder", h)
	if c.UseQuantConv {
		h = m.conv("quant_conv", h, 1, 0)
	}
	return h
}

// decoder is post_quant_conv followed by Decoder.
func (m *Model) decoder(z *ts.Tensor) *ts.Tensor {
	c := m.Config
	h := z.MustShallowClone() // each step below drops its input, not the caller's z
	if c.UsePostQuantConv {
		h = m.conv("post_quant_conv", h, 1, 0)
	}
	h = m.conv("decoder.conv_in", h, 1, 1)
	h = m.midBlock("decoder.mid_block", h)
	for i := range c.levels() {
		for j := range c.LayersPerBlock + 1 {
			h = m.resnet(upResnet(i, j), h)
		}
		if i < c.levels()-1 {
			h = m.upsample(upsampler(i), h)
		}
	}
	return m.outHead("decoder", h)
}

// The blocks below take ownership of their input (drop it) and return a new tensor, so
// that a 512 × 512 image does not keep every intermediate activation alive.

// conv applies the Conv2d name (stride, padding on both sides) and drops x.
func (m *Model) conv(name string, x *ts.Tensor, stride, pad int64) *ts.Tensor {
	out := ts.MustConv2d(x, m.T(name+".weight"), m.T(name+".bias"),
		[]int64{stride, stride}, []int64{pad, pad}, []int64{1, 1}, 1)
	x.MustDrop()
	return out
}

// normAct is GroupNorm then SiLU; x stays the caller's.
func (m *Model) normAct(name string, x *ts.Tensor) *ts.Tensor {
	n := ts.MustGroupNorm(x, m.Config.NormNumGroups, m.T(name+".weight"), m.T(name+".bias"), normEps, true)
	return n.MustSilu(true)
}

// resnet is ResnetBlock2D without a time embedding: x + conv2(silu(norm2(conv1(silu(
// norm1(x)))))), x through the 1 × 1 conv_shortcut when the channels change (dropout 0,
// output_scale_factor 1).
func (m *Model) resnet(name string, x *ts.Tensor) *ts.Tensor {
	h := m.conv(name+".conv1", m.normAct(name+".norm1", x), 1, 1)
	a := m.normAct(name+".norm2", h)
	h.MustDrop()
	h = m.conv(name+".conv2", a, 1, 1)
	short := x
	if _, ok := m.Param(name + ".conv_shortcut.weight"); ok {
		short = m.conv(name+".conv_shortcut", x, 1, 0) // drops x
	}
	out := short.MustAdd(h, true)
	h.MustDrop()
	return out
}

// downsample is Downsample2D with padding 0: pad one column right and one row bottom
// with zeros, then a stride-2 3 × 3 conv (diffusers' asymmetric padding, as in LDM).
func (m *Model) downsample(name string, x *ts.Tensor) *ts.Tensor {
	return m.conv(name, x.MustConstantPadNd([]int64{0, 1, 0, 1}, true), 2, 0)
}

// upsample is Upsample2D: nearest-neighbour ×2, then a 3 × 3 conv.
func (m *Model) upsample(name string, x *ts.Tensor) *ts.Tensor {
	size := x.MustSize()
	up := x.MustUpsampleNearest2d([]int64{2 * size[2], 2 * size[3]}, nil, nil, true)
	return m.conv(name, up, 1, 1)
}

// midBlock is UNetMidBlock2D: resnet, attention, resnet.
func (m *Model) midBlock(name string, h *ts.Tensor) *ts.Tensor {
	h = m.resnet(name+".resnets.0", h)
	if m.Config.MidBlockAddAttention {
		h = m.attention(name+".attentions.0", h)
	}
	return m.resnet(name+".resnets.1", h)
}

// attention is the mid block's Attention: one head over all H·W positions with head
// dimension C (attention_head_dim = channels), GroupNorm on the input, linear q, k, v,
// softmax(q·kᵀ/√C)·v, to_out.0, plus the residual (rescale_output_factor 1).
func (m *Model) attention(name string, x *ts.Tensor) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	size := x.MustSize()
	b, ch, hw := size[0], size[1], size[2]*size[3]
	n := s.Keep(ts.MustGroupNorm(x, m.Config.NormNumGroups, m.T(name+".group_norm.weight"), m.T(name+".group_norm.bias"), normEps, true))
	tokens := s.Keep(n.MustView([]int64{b, ch, hw}, false).MustTranspose(1, 2, true)) // b × hw × ch
	q := s.Keep(m.Dense(name+".to_q", tokens))
	k := s.Keep(m.Dense(name+".to_k", tokens))
	v := s.Keep(m.Dense(name+".to_v", tokens))
	scores := s.Keep(q.MustBmm(k.MustTranspose(1, 2, false).MustContiguous(true), false).
		MustMulScalar(ts.FloatScalar(1/math.Sqrt(float64(ch))), true))
	probs := s.Keep(scores.MustSoftmax(-1, gotch.Float, false))
	attn := s.Keep(probs.MustBmm(v, false))
	out := s.Keep(m.Dense(name+".to_out.0", attn))
	back := s.Keep(out.MustTranspose(1, 2, false).MustContiguous(true).MustView(size, true))
	res := back.MustAdd(x, false)
	x.MustDrop()
	return res
}

// outHead is conv_norm_out, SiLU, conv_out of the encoder or decoder.
func (m *Model) outHead(side string, h *ts.Tensor) *ts.Tensor {
	a := m.normAct(side+".conv_norm_out", h)
	h.MustDrop()
	return m.conv(side+".conv_out", a, 1, 1)
}
