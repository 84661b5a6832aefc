package diffusion

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/imaging"
	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/models"
)

// Sampling generates images from a pipeline.
type Sampling struct {
	Pipe          Pipeline
	Device        gotch.Device
	Resolution    int
	GuidanceScale float64
	emptyCond     *ts.Tensor // the empty prompt's conditioning, once
}

// Generate samples n images of one prompt as StableDiffusionPipeline does: Gaussian
// latents (from seed, on the CPU, so a GPU run draws the same noise) times the
// sampler's initial sigma, the sampler's steps with classifier-free guidance
// (ε = ε_uncond + s·(ε_text − ε_uncond), the empty prompt as the unconditional one),
// then the VAE's decoder. Runs under no-grad.
func (s *Sampling) Generate(prompt string, n int, seed int64) ([]*imaging.RGB, error) {
	var out []*imaging.RGB
	var err error
	models.NoGrad(func() { out, err = s.generate(prompt, n, seed) })
	return out, err
}

func (s *Sampling) generate(prompt string, n int, seed int64) ([]*imaging.RGB, error) {
	latents := s.initialLatents(n, seed)
	defer latents.MustDrop()
	pixels, err := s.denoise(prompt, latents)
	if err != nil {
		return nil, err
	}
	defer pixels.MustDrop()
	return toImages(pixels)
}

// GenerateFrom is Generate from given Gaussian latents (n × channels × h × w, on the
// model's device) instead of drawn ones, as StableDiffusionPipeline's latents=
// argument: they are scaled by the sampler's initial sigma, sampled with guidance and
// decoded. It returns the decoder's pixels (n × 3 × H × W in [−1, 1]; ToImage makes
// the 8-bit images). Runs under no-grad.
func (s *Sampling) GenerateFrom(prompt string, latents *ts.Tensor) (*ts.Tensor, error) {
	var out *ts.Tensor
	var err error
	models.NoGrad(func() { out, err = s.denoise(prompt, latents) })
	return out, err
}

// denoise is the guided sampler from initial latents, then the VAE's decoder.
func (s *Sampling) denoise(prompt string, initial *ts.Tensor) (*ts.Tensor, error) {
	if s.emptyCond == nil {
		var err error
		if s.emptyCond, err = s.Pipe.Text.EncodePrompts([]string{""}); err != nil {
			return nil, err
		}
	}
	cond, err := s.Pipe.Text.EncodePrompts([]string{prompt})
	if err != nil {
		return nil, err
	}
	defer cond.MustDrop()
	n := initial.MustSize()[0]
	// Unconditional rows first, as the diffusers pipeline concatenates them.
	uncond, text := s.emptyCond.MustRepeat([]int64{n, 1, 1}, false), cond.MustRepeat([]int64{n, 1, 1}, false)
	both := ts.MustCat([]*ts.Tensor{uncond, text}, 0)
	uncond.MustDrop()
	text.MustDrop()
	defer both.MustDrop()
	latents := initial.MustMulScalar(ts.FloatScalar(s.Pipe.Sampler.InitNoiseSigma()), false)
	predict := func(x *ts.Tensor, t int64) (*ts.Tensor, error) { return s.guided(x, t, both, int(n)) }
	final, err := s.Pipe.Sampler.Sample(latents, predict)
	latents.MustDrop()
	if err != nil {
		return nil, err
	}
	defer final.MustDrop()
	return s.Pipe.VAE.DecodeLatents(final)
}

// initialLatents are n Gaussian latents drawn on the CPU from seed, on the model's
// device.
func (s *Sampling) initialLatents(n int, seed int64) *ts.Tensor {
	side := int64(s.Resolution) / s.Pipe.LatentFactor
	torchx.ManualSeed(seed)
	x := ts.MustRandn([]int64{int64(n), s.Pipe.LatentChannels, side, side}, gotch.Float, gotch.CPU)
	return x.MustTo(s.Device, true)
}

// guided is one classifier-free-guided prediction for n latents.
func (s *Sampling) guided(x *ts.Tensor, t int64, cond *ts.Tensor, n int) (*ts.Tensor, error) {
	in := ts.MustCat([]*ts.Tensor{x, x}, 0)
	defer in.MustDrop()
	steps := ts.MustOfSlice(repeat(t, 2*n)).MustTo(s.Device, true)
	defer steps.MustDrop()
	out, err := s.Pipe.UNet.Predict(in, steps, cond)
	if err != nil {
		return nil, err
	}
	defer out.MustDrop()
	uncond, text := out.MustNarrow(0, 0, int64(n), false), out.MustNarrow(0, int64(n), int64(n), false)
	defer uncond.MustDrop()
	diff := text.MustSub(uncond, true).MustMulScalar(ts.FloatScalar(s.GuidanceScale), true)
	return diff.MustAdd(uncond, true), nil
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// toImages turns decoded pixels (batch × 3 × H × W in [−1, 1]) into 8-bit images.
func toImages(pixels *ts.Tensor) ([]*imaging.RGB, error) {
	size := pixels.MustSize()
	if len(size) != 4 || size[1] != 3 {
		return nil, fmt.Errorf("diffusion: decoded images of shape %v, want batch × 3 × H × W", size)
	}
	cpu := pixels.MustTo(gotch.CPU, false).MustTotype(gotch.Float, true).MustContiguous(true) // bfloat16/float16 under -dtype's autocast
	vals := cpu.Vals().([]float32)
	cpu.MustDrop()
	per := int(3 * size[2] * size[3])
	out := make([]*imaging.RGB, size[0])
	for i := range out {
		m, err := ToImage(vals[i*per:(i+1)*per], int(size[2]), int(size[3]))
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}
