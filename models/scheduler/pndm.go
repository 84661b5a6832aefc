package scheduler

import (
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// PNDMScheduler is diffusers' PNDMScheduler with skip_prk_steps (the PLMS sampler
// Stable Diffusion v1 ships with; Liu et al. 2022, eq. 9 and the linear multistep of
// crowsonkb's latent-diffusion PR 51), including diffusers' handling of the first two
// calls: with timesteps [t0, t1, t1, t2, …]
//
//	call 0 at t0: keep ε0 and x_t0; return the Euler (order 1) step x_t0 → x_t1
//	call 1 at t1: ε' = (ε(x̃_t1) + ε0)/2; redo the step from the kept x_t0 to t1 with ε'
//	call 2 at t1: ε = (3ε2 − ε0)/2; step t1 → t2   (ε1 was not kept)
//	then the 3rd and 4th order Adams–Bashforth combinations of the last 3, 4 ε.
type PNDMScheduler struct {
	sched     *Schedule
	n         int
	timesteps []int64
	counter   int
	ets       []*ts.Tensor // the last ≤ 4 model outputs (own handles)
	curSample *ts.Tensor   // x_t0, between calls 0 and 1
}

func (p *PNDMScheduler) Schedule() *Schedule { return p.sched }
func (p *PNDMScheduler) Timesteps() []int64  { return p.timesteps }

func (p *PNDMScheduler) SetTimesteps(n int) error {
	t, err := p.sched.Config.PNDMTimesteps(n)
	if err != nil {
		return err
	}
	p.Reset()
	p.n, p.timesteps = n, t
	return nil
}

// Reset frees the multistep state (SetTimesteps does it too); call it when done.
func (p *PNDMScheduler) Reset() {
	for _, e := range p.ets {
		e.MustDrop()
	}
	p.ets = nil
	if p.curSample != nil {
		p.curSample.MustDrop()
		p.curSample = nil
	}
	p.counter = 0
}

// Step is step_plms. noise must be nil (PLMS is deterministic).
func (p *PNDMScheduler) Step(modelOutput *ts.Tensor, t int64, sample, noise *ts.Tensor) (*ts.Tensor, error) {
	s, c := p.sched, p.sched.Config
	if p.n == 0 {
		return nil, errNoTimesteps
	}
	if noise != nil {
		return nil, fmt.Errorf("scheduler: PNDM steps take no noise (got a tensor)")
	}
	if err := checkStep(s, modelOutput, t, sample); err != nil {
		return nil, err
	}
	if p.counter == 1 && p.curSample == nil {
		return nil, fmt.Errorf("scheduler: PNDM call 1 without the sample of call 0")
	}
	ratio := int64(c.NumTrainTimesteps / p.n)
	prev := t - ratio
	if p.counter == 1 {
		prev, t = t, t+ratio
		if err := s.checkT(t); err != nil {
			return nil, fmt.Errorf("scheduler: PNDM second call steps from t+%d: %w", ratio, err)
		}
	}

	if p.counter != 1 { // diffusers: ets = ets[-3:] + [model_output]
		if len(p.ets) == 4 {
			p.ets[0].MustDrop()
			p.ets = p.ets[1:]
		}
		p.ets = append(p.ets, modelOutput.MustShallowClone())
	}
	var eps *ts.Tensor
	x := sample
	e := p.ets
	k := len(e)
	switch {
	case k == 1 && p.counter == 0:
		eps = modelOutput.MustShallowClone()
		p.curSample = sample.MustShallowClone()
	case k == 1 && p.counter == 1:
		sum := modelOutput.MustAdd(e[0], false)
		eps = sum.MustDivScalar(ts.FloatScalar(2), true)
		x = p.curSample
		defer x.MustDrop()
		p.curSample = nil
	case k == 2:
		a := mul(e[1], 3)
		eps = a.MustSub(e[0], true).MustDivScalar(ts.FloatScalar(2), true)
	case k == 3:
		a, b, cc := mul(e[2], 23), mul(e[1], 16), mul(e[0], 5)
		eps = a.MustSub(b, true).MustAdd(cc, true).MustDivScalar(ts.FloatScalar(12), true)
		b.MustDrop()
		cc.MustDrop()
	default:
		a, b, cc, d := mul(e[3], 55), mul(e[2], 59), mul(e[1], 37), mul(e[0], 9)
		eps = a.MustSub(b, true).MustAdd(cc, true).MustSub(d, true).MustMulScalar(ts.FloatScalar(1.0/24), true)
		b.MustDrop()
		cc.MustDrop()
		d.MustDrop()
	}
	defer eps.MustDrop()
	out := p.prevSample(x, t, prev, eps)
	p.counter++
	return out, nil
}

// prevSample is _get_prev_sample, PNDM's eq. (9):
//
//	x_prev = sqrt(ᾱ_prev/ᾱ_t)·x − (ᾱ_prev − ᾱ_t)·ε / (ᾱ_t·sqrt(1−ᾱ_prev) + sqrt(ᾱ_t(1−ᾱ_t)ᾱ_prev))
func (p *PNDMScheduler) prevSample(x *ts.Tensor, t, prev int64, eps *ts.Tensor) *ts.Tensor {
	s, c := p.sched, p.sched.Config
	a, ap := s.AlphasCumprod[t], s.alphaPrev(prev)
	b, bp := 1-a, 1-ap
	if c.PredictionType == "v_prediction" {
		eps = axpby(sqrt32(a), eps, sqrt32(b), x)
		defer eps.MustDrop()
	}
	sampleCoef := sqrt32(ap / a)
	denom := float32(a*sqrt32(bp)) + sqrt32(float32(float32(a*b)*ap))
	xs := mul(x, sampleCoef)
	de := mul(eps, ap-a)
	de = de.MustDivScalar(ts.FloatScalar(float64(denom)), true)
	defer de.MustDrop()
	return xs.MustSub(de, true)
}
