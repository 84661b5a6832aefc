package scheduler

import (
	"github.com/sugarme/gotch/ts"
)

// DDPMScheduler is diffusers' DDPMScheduler with variance_type fixed_small (Ho et al.
// 2020, eq. 6 and 7): the posterior mean from the predicted x0, plus σ_t·z with
// σ_t² = (1−ᾱ_prev)/(1−ᾱ_t)·β_t for t > 0.
type DDPMScheduler struct {
	sched     *Schedule
	n         int
	timesteps []int64
}

func (d *DDPMScheduler) Schedule() *Schedule { return d.sched }
func (d *DDPMScheduler) Timesteps() []int64  { return d.timesteps }

func (d *DDPMScheduler) SetTimesteps(n int) error {
	t, err := d.sched.Config.Spaced(n)
	if err != nil {
		return err
	}
	d.n, d.timesteps = n, t
	return nil
}

// Step needs noise (shaped like sample) when t > 0; at t = 0 it is ignored.
func (d *DDPMScheduler) Step(modelOutput *ts.Tensor, t int64, sample, noise *ts.Tensor) (*ts.Tensor, error) {
	s, c := d.sched, d.sched.Config
	if d.n == 0 {
		return nil, errNoTimesteps
	}
	if err := checkStep(s, modelOutput, t, sample); err != nil {
		return nil, err
	}
	if t > 0 {
		if err := checkLike("noise (DDPM step at t > 0)", noise, sample); err != nil {
			return nil, err
		}
	}
	prev := prevTimestep(c, d.n, t)
	a, ap := s.AlphasCumprod[t], s.alphaPrev(prev) // DDPM: ᾱ_prev = 1 before t = 0
	b, bp := 1-a, 1-ap
	curAlpha := a / ap
	curBeta := 1 - curAlpha

	x0, eps := predict(c, a, b, modelOutput, sample)
	eps.MustDrop()
	x0 = clip(c, x0)
	defer x0.MustDrop()

	// μ = sqrt(ᾱ_prev)·β_t/(1−ᾱ_t) · x0 + sqrt(α_t)·(1−ᾱ_prev)/(1−ᾱ_t) · x_t
	x0Coef := float32(sqrt32(ap)*curBeta) / b
	xCoef := float32(sqrt32(curAlpha)*bp) / b
	out := axpby(x0Coef, x0, xCoef, sample)
	if t > 0 {
		variance := float32(bp/b) * curBeta
		if variance < 1e-20 { // torch.clamp(variance, min=1e-20)
			variance = 1e-20
		}
		z := mul(noise, sqrt32(variance))
		out = out.MustAdd(z, true)
		z.MustDrop()
	}
	return out, nil
}
