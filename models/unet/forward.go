package unet

import (
	"errors"
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// transformerNormEps is Transformer2DModel's GroupNorm eps (fixed, not norm_eps) and
// layerNormEps BasicTransformerBlock's LayerNorm eps.
const (
	transformerNormEps = 1e-6
	layerNormEps       = 1e-5
)

// maxPeriod is get_timestep_embedding's max_period.
const maxPeriod = 10000

// TimestepEmbedding is diffusers' get_timestep_embedding(timesteps, dim, flip_sin_to_cos,
// downscale_freq_shift): for i < dim/2 the frequency exp(−ln(10000)·i / (dim/2 − shift)),
// the embedding [sin(t·f), cos(t·f)] (or [cos, sin] flipped), zero-padded to an odd dim.
// timesteps is 1-D (int64 or floating); the result is float32, len(timesteps) × dim.
// The operations are diffusers' own, in its order, so the rounding is the same.
func TimestepEmbedding(timesteps *ts.Tensor, dim int64, flip bool, shift float64) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	half := dim / 2
	dev := timesteps.MustDevice()
	exponent := s.Keep(ts.MustArange(ts.IntScalar(half), gotch.Float, dev))
	exponent = s.Keep(exponent.MustMulScalar(ts.FloatScalar(-math.Log(maxPeriod)), false))
	exponent = s.Keep(exponent.MustDivScalar(ts.FloatScalar(float64(half)-shift), false))
	freqs := s.Keep(exponent.MustExp(false).MustUnsqueeze(0, true))
	t := s.Keep(timesteps.MustTotype(gotch.Float, false).MustUnsqueeze(1, true))
	arg := s.Keep(t.MustMul(freqs, false))
	sin, cos := s.Keep(arg.MustSin(false)), s.Keep(arg.MustCos(false))
	parts := []*ts.Tensor{sin, cos}
	if flip {
		parts = []*ts.Tensor{cos, sin}
	}
	emb := ts.MustCat(parts, -1)
	if dim%2 == 1 {
		emb = emb.MustConstantPadNd([]int64{0, 1, 0, 0}, true)
	}
	return emb
}

// Forward is UNet2DConditionModel.forward(sample, timestep, encoder_hidden_states).sample:
// the noise (or v) prediction, shaped as sample. sample is batch × in_channels × H × W
// float32 latents; timesteps is 1-D of batch or 1 entries (or 0-D), int64 or floating;
// encoderHiddenStates is batch × seq × cross_attention_dim (the CLIP text encoder's last
// hidden state; 77 tokens in SD v1). CheckInputs says whether inputs fit.
func (m *Model) Forward(sample, timesteps, encoderHiddenStates *ts.Tensor) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	c := m.Config
	batch := sample.MustSize()[0]
	t := s.Keep(timesteps.MustView([]int64{-1}, false).MustExpand([]int64{batch}, false, true))
	emb := s.Keep(m.TimeEmbedding(t))
	act := s.Keep(emb.MustSilu(false)) // every resnet's time_emb_proj reads silu(emb)
	ctx := encoderHiddenStates

	x := sample
	if c.CenterInputSample {
		x = s.Keep(sample.MustMulScalar(ts.FloatScalar(2), false).MustSubScalar(ts.FloatScalar(1), true))
	}
	h := s.Keep(m.conv("conv_in", x, 1, 1))
	skips := []*ts.Tensor{h}
	for _, b := range m.plan.down {
		for j, r := range b.resnets {
			h = s.Keep(m.resnet(r, h, act, b.scale))
			if b.transformers != nil {
				h = s.Keep(m.transformer(b.transformers[j], h, ctx))
			}
			skips = append(skips, h)
		}
		if b.sampler != "" {
			h = s.Keep(m.downsample(b.name+"."+b.sampler, h))
			skips = append(skips, h)
		}
	}
	mid := m.plan.mid
	h = s.Keep(m.resnet(mid.resnets[0], h, act, mid.scale))
	for j, tr := range mid.transformers {
		h = s.Keep(m.transformer(tr, h, ctx))
		h = s.Keep(m.resnet(mid.resnets[j+1], h, act, mid.scale))
	}
	// diffusers forwards the skip's size to the upsampler when the sample is not a
	// multiple of 2^upsamplers (odd sizes round up when downsampled).
	size := sample.MustSize()
	factor := int64(1) << (len(m.plan.up) - 1)
	forwardSize := size[2]%factor != 0 || size[3]%factor != 0
	for _, b := range m.plan.up {
		for j, r := range b.resnets {
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			cat := s.Keep(ts.MustCat([]*ts.Tensor{h, skip}, 1))
			h = s.Keep(m.resnet(r, cat, act, b.scale))
			if b.transformers != nil {
				h = s.Keep(m.transformer(b.transformers[j], h, ctx))
			}
		}
		if b.sampler != "" {
			var to []int64
			if forwardSize {
				to = skips[len(skips)-1].MustSize()[2:]
			}
			h = s.Keep(m.upsample(b.name+"."+b.sampler, h, to))
		}
	}
	n := s.Keep(m.groupNorm("conv_norm_out", h, c.NormEps))
	n = s.Keep(n.MustSilu(false))
	return m.conv("conv_out", n, 1, 1)
}

// TimeEmbedding is the sinusoidal embedding of 1-D timesteps through TimestepEmbedding:
// linear_2(silu(linear_1(t_emb))), batch × 4·block_out_channels[0].
func (m *Model) TimeEmbedding(timesteps *ts.Tensor) *ts.Tensor {
	c := m.Config
	tEmb := TimestepEmbedding(timesteps, c.BlockOutChannels[0], c.FlipSinToCos, c.FreqShift)
	defer tEmb.MustDrop()
	h := m.Dense("time_embedding.linear_1", tEmb)
	a := h.MustSilu(true)
	defer a.MustDrop()
	return m.Dense("time_embedding.linear_2", a)
}

// conv is the Conv2d "<name>.weight", "<name>.bias" (square kernel) with the given
// stride and padding.
func (m *Model) conv(name string, x *ts.Tensor, stride, pad int64) *ts.Tensor {
	return ts.MustConv2d(x, m.T(name+".weight"), m.T(name+".bias"),
		[]int64{stride, stride}, []int64{pad, pad}, []int64{1, 1}, 1)
}

func (m *Model) groupNorm(name string, x *ts.Tensor, eps float64) *ts.Tensor {
	return ts.MustGroupNorm(x, m.Config.NormNumGroups, m.T(name+".weight"), m.T(name+".bias"), eps, false)
}

// resnet is ResnetBlock2D (pre-norm, time_embedding_norm "default"):
// (shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x))) + time_emb_proj(act))))) / scale,
// with act = silu(emb) and shortcut a 1×1 conv when the channels change.
func (m *Model) resnet(r resnet, x, act *ts.Tensor, scale float64) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	eps := m.Config.NormEps
	h := s.Keep(m.groupNorm(r.name+".norm1", x, eps))
	h = s.Keep(h.MustSilu(false))
	h = s.Keep(m.conv(r.name+".conv1", h, 1, 1))
	t := s.Keep(m.Dense(r.name+".time_emb_proj", act).MustUnsqueeze(-1, true).MustUnsqueeze(-1, true))
	h = s.Keep(h.MustAdd(t, false))
	h = s.Keep(m.groupNorm(r.name+".norm2", h, eps))
	h = s.Keep(h.MustSilu(false))
	h = s.Keep(m.conv(r.name+".conv2", h, 1, 1))
	short := x
	if r.in != r.out {
		short = s.Keep(m.conv(r.name+".conv_shortcut", x, 1, 0))
	}
	out := short.MustAdd(h, false)
	if scale != 1 {
		out = out.MustDivScalar(ts.FloatScalar(scale), true)
	}
	return out
}

// downsample is Downsample2D(use_conv): a 3×3 stride-2 conv with padding
// downsample_padding; padding 0 pads one zero row and column at the bottom and right
// first, as diffusers does.
func (m *Model) downsample(name string, x *ts.Tensor) *ts.Tensor {
	if m.Config.DownsamplePadding == 0 {
		p := x.MustConstantPadNd([]int64{0, 1, 0, 1}, false)
		defer p.MustDrop()
		return m.conv(name, p, 2, 0)
	}
	return m.conv(name, x, 2, m.Config.DownsamplePadding)
}

// upsample is Upsample2D(use_conv): nearest-neighbour ×2 (or to size when given), then a
// 3×3 conv.
func (m *Model) upsample(name string, x *ts.Tensor, size []int64) *ts.Tensor {
	var up *ts.Tensor
	if size != nil {
		up = x.MustUpsampleNearest2d(size, nil, nil, false)
	} else {
		s := x.MustSize()
		up = x.MustUpsampleNearest2d([]int64{2 * s[2], 2 * s[3]}, []float64{2}, []float64{2}, false)
	}
	defer up.MustDrop()
	return m.conv(name, up, 1, 1)
}

// transformer is Transformer2DModel on continuous input: GroupNorm (eps 1e-6), proj_in
// (1×1 conv, or a linear after flattening with use_linear_projection), the
// BasicTransformerBlocks over the H·W positions, proj_out back to NCHW, plus the input.
func (m *Model) transformer(t transformer, x, ctx *ts.Tensor) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	size := x.MustSize()
	b, ch, hh, ww := size[0], size[1], size[2], size[3]
	linear := m.Config.UseLinearProjection
	h := s.Keep(ts.MustGroupNorm(x, m.Config.NormNumGroups, m.T(t.name+".norm.weight"), m.T(t.name+".norm.bias"), transformerNormEps, false))
	if !linear {
		h = s.Keep(m.conv(t.name+".proj_in", h, 1, 0))
	}
	h = s.Keep(h.MustPermute([]int64{0, 2, 3, 1}, false).MustReshape([]int64{b, hh * ww, ch}, true))
	if linear {
		h = s.Keep(m.Dense(t.name+".proj_in", h))
	}
	for k := range t.layers {
		h = s.Keep(m.basicBlock(m.linears[t.blockName(k)], t.blockName(k), h, ctx, t.heads))
	}
	if linear {
		h = s.Keep(m.Dense(t.name+".proj_out", h))
	}
	h = s.Keep(h.MustReshape([]int64{b, hh, ww, ch}, false).MustPermute([]int64{0, 3, 1, 2}, true).MustContiguous(true))
	if !linear {
		h = s.Keep(m.conv(t.name+".proj_out", h, 1, 0))
	}
	return h.MustAdd(x, false)
}

// basicBlock is BasicTransformerBlock (norm_type "layer_norm"): self-attention,
// cross-attention to ctx and the GEGLU feed-forward, each on the LayerNorm of its input
// and added back to it. lin is the block's linears in transformerLinears order.
func (m *Model) basicBlock(lin []*models.Linear, p string, x, ctx *ts.Tensor, heads int64) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	d := x.MustSize()[2]
	train := m.Training()
	n1 := s.Keep(m.LayerNorm(p+".norm1", x, d, layerNormEps))
	a1 := s.Keep(m.attention(lin[0:4], n1, n1, heads))
	h := s.Keep(a1.MustAdd(x, false))
	n2 := s.Keep(m.LayerNorm(p+".norm2", h, d, layerNormEps))
	a2 := s.Keep(m.attention(lin[4:8], n2, ctx, heads))
	h = s.Keep(a2.MustAdd(h, false))
	n3 := s.Keep(m.LayerNorm(p+".norm3", h, d, layerNormEps))
	proj := s.Keep(lin[8].Forward(n3, train))
	parts := proj.MustChunk(2, -1, false) // GEGLU: value half, gate half
	value, gate := s.Keep(parts[0]), s.Keep(parts[1])
	g := s.Keep(gate.MustGelu("none", false))
	prod := s.Keep(value.MustMul(g, false))
	ff := s.Keep(lin[9].Forward(prod, train))
	return ff.MustAdd(h, false)
}

// attention is diffusers' Attention with AttnProcessor2_0: to_q(x), to_k(kv), to_v(kv)
// split into heads, torch's scaled_dot_product_attention (scale 1/√head_dim, no mask),
// heads merged, to_out.0. lin is to_q, to_k, to_v, to_out.0.
func (m *Model) attention(lin []*models.Linear, x, kv *ts.Tensor, heads int64) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	train := m.Training()
	size := x.MustSize()
	b, seq, d := size[0], size[1], lin[0].Out()
	hd := d / heads
	split := func(l *models.Linear, in *ts.Tensor) *ts.Tensor {
		p := s.Keep(l.Forward(in, train))
		return s.Keep(p.MustView([]int64{b, -1, heads, hd}, false).MustTranspose(1, 2, true))
	}
	q, k, v := split(lin[0], x), split(lin[1], kv), split(lin[2], kv)
	// gotch passes an undefined mask as a present one, which libtorch refuses: an
	// additive zero mask is the same attention. In q's dtype: bfloat16 under autocast.
	none := s.Keep(ts.MustZeros([]int64{1, 1, 1, 1}, q.DType(), q.MustDevice()))
	ctx := s.Keep(ts.MustScaledDotProductAttention(q, k, v, none, 0, false, nil))
	merged := s.Keep(ctx.MustTranspose(1, 2, false).MustReshape([]int64{b, seq, d}, true))
	return lin[3].Forward(merged, train)
}

// CheckInputs is the error for inputs Forward cannot take, or nil: sample float32
// batch × in_channels × H × W, timesteps 0-D or 1-D of 1 or batch entries,
// encoderHiddenStates float32 batch × seq × cross_attention_dim. libtorch would abort
// mid-computation on most of these; a caller checks first.
func (m *Model) CheckInputs(sample, timesteps, encoderHiddenStates *ts.Tensor) error {
	c := m.Config
	if sample == nil || timesteps == nil || encoderHiddenStates == nil {
		return errors.New("sample, timesteps and encoder_hidden_states are all required")
	}
	var errs []error
	floating := func(t *ts.Tensor) bool { return t.DType() == gotch.Float } // the weights' dtype
	s := sample.MustSize()
	if len(s) != 4 || s[1] != c.InChannels || !floating(sample) {
		errs = append(errs, fmt.Errorf("sample: %s of shape %v, want an F32 batch × in_channels %d × height × width tensor", safetensors.DTypeName(sample.DType()), s, c.InChannels))
	}
	batch := int64(-1)
	if len(s) == 4 {
		batch = s[0]
	}
	if ts_ := timesteps.MustSize(); len(ts_) > 1 || (len(ts_) == 1 && ts_[0] != 1 && ts_[0] != batch) {
		errs = append(errs, fmt.Errorf("timesteps: shape %v, want a scalar or 1-D of 1 or batch %d entries", ts_, batch))
	}
	e := encoderHiddenStates.MustSize()
	if len(e) != 3 || e[0] != batch || e[2] != c.crossDim() || !floating(encoderHiddenStates) {
		errs = append(errs, fmt.Errorf("encoder_hidden_states: %s of shape %v, want an F32 batch %d × seq × cross_attention_dim %d tensor",
			safetensors.DTypeName(encoderHiddenStates.DType()), e, batch, c.crossDim()))
	}
	return errors.Join(errs...)
}
