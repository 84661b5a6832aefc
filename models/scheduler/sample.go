package scheduler

import (
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// ModelFunc is the denoiser: the model output (ε or v, per prediction_type) for the
// latents at timestep t. The caller of Sample owns neither argument; the returned
// tensor is dropped by Sample.
type ModelFunc func(latents *ts.Tensor, t int64) (*ts.Tensor, error)

// NoiseFunc returns the Gaussian draw for step i (at timestep t) of a stochastic
// sampler, shaped like the latents; Sample drops it. nil for deterministic samplers.
type NoiseFunc func(i int, t int64) (*ts.Tensor, error)

// StepFunc observes the latents after step i (at timestep t); it must not keep them
// beyond the call without a new handle (MustShallowClone).
type StepFunc func(i int, t int64, latents *ts.Tensor)

// Sample runs the sampler for steps inference steps from the initial latents (as
// StableDiffusionPipeline does with init_noise_sigma = 1 and an identity
// scale_model_input, true of PNDM, DDIM and DDPM): at each timestep, x ← Step(model(x, t), t, x).
// noise and onStep may be nil. The caller owns the result; latents stay the caller's.
func Sample(s Sampler, latents *ts.Tensor, steps int, model ModelFunc, noise NoiseFunc, onStep StepFunc) (*ts.Tensor, error) {
	if err := checkSample(latents); err != nil {
		return nil, err
	}
	if model == nil {
		return nil, fmt.Errorf("scheduler: Sample without a model function")
	}
	if err := s.SetTimesteps(steps); err != nil {
		return nil, err
	}
	if p, ok := s.(*PNDMScheduler); ok {
		defer p.Reset()
	}
	x := latents.MustShallowClone()
	for i, t := range s.Timesteps() {
		next, err := sampleStep(s, x, i, t, model, noise)
		x.MustDrop()
		if err != nil {
			return nil, fmt.Errorf("scheduler: step %d (t=%d): %w", i, t, err)
		}
		x = next
		if onStep != nil {
			onStep(i, t, x)
		}
	}
	return x, nil
}

// sampleStep is one model call and one scheduler step.
func sampleStep(s Sampler, x *ts.Tensor, i int, t int64, model ModelFunc, noise NoiseFunc) (*ts.Tensor, error) {
	out, err := model(x, t)
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("model function returned no tensor")
	}
	defer out.MustDrop()
	var z *ts.Tensor
	if noise != nil {
		if z, err = noise(i, t); err != nil {
			return nil, err
		}
		if z != nil {
			defer z.MustDrop()
		}
	}
	return s.Step(out, t, x, z)
}

// Guidance is classifier-free guidance (Ho & Salimans 2022), as StableDiffusionPipeline
// combines the two halves of its batch: ε = ε_uncond + s·(ε_text − ε_uncond).
func Guidance(uncond, text *ts.Tensor, scale float64) (*ts.Tensor, error) {
	if err := checkSample(uncond); err != nil {
		return nil, fmt.Errorf("Guidance: unconditional output: %w", err)
	}
	if err := checkLike("text-conditioned output", text, uncond); err != nil {
		return nil, fmt.Errorf("Guidance: %w", err)
	}
	diff := text.MustSub(uncond, false)
	scaled := diff.MustMulScalar(ts.FloatScalar(scale), true)
	defer scaled.MustDrop()
	return uncond.MustAdd(scaled, false), nil
}

// Guided wraps a model that takes the doubled batch cat([x, x]) (its first half
// conditioned on the empty prompt, its second on the text, as the pipeline stacks the
// prompt embeddings) into a ModelFunc on x with guidance scale.
func Guided(model ModelFunc, scale float64) ModelFunc {
	return func(x *ts.Tensor, t int64) (*ts.Tensor, error) {
		x2 := ts.MustCat([]*ts.Tensor{x, x}, 0)
		out, err := model(x2, t)
		x2.MustDrop()
		if err != nil {
			return nil, err
		}
		if out == nil {
			return nil, fmt.Errorf("guided model returned no tensor")
		}
		defer out.MustDrop()
		if got, want := out.MustSize(), x.MustSize(); len(got) == 0 || got[0] != 2*want[0] {
			return nil, fmt.Errorf("guided model output has shape %v for latents %v (want twice the batch)", got, want)
		}
		halves := out.MustChunk(2, 0, false)
		defer halves[0].MustDrop()
		defer halves[1].MustDrop()
		return Guidance(halves[0], halves[1], scale)
	}
}
