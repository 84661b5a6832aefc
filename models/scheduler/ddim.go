package scheduler

import (
	"errors"
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// Sampler is one reverse-diffusion scheduler: SetTimesteps, then Step at each of
// Timesteps() in order.
type Sampler interface {
	// SetTimesteps picks the n inference timesteps (and resets any multistep state).
	SetTimesteps(n int) error
	// Timesteps are the model evaluation times, in order (valid after SetTimesteps).
	Timesteps() []int64
	// Step maps the model output at timestep t and the current sample to the previous
	// sample. noise is the Gaussian draw of a stochastic step (DDIM with Eta > 0, DDPM
	// at t > 0), shaped like sample; nil elsewhere. The caller owns the result.
	Step(modelOutput *ts.Tensor, t int64, sample, noise *ts.Tensor) (*ts.Tensor, error)
	// Schedule is the sampler's noise schedule.
	Schedule() *Schedule
}

// New returns the sampler of c.Class.
func New(c Config) (Sampler, error) {
	s, err := NewSchedule(c)
	if err != nil {
		return nil, err
	}
	switch c.Class {
	case DDIM:
		return &DDIMScheduler{sched: s}, nil
	case DDPM:
		return &DDPMScheduler{sched: s}, nil
	default:
		return &PNDMScheduler{sched: s}, nil
	}
}

// DDIMScheduler is diffusers' DDIMScheduler (Song et al. 2021, eq. 12 and 16).
type DDIMScheduler struct {
	sched *Schedule
	// Eta is η: 0 is deterministic DDIM, 1 has DDPM's variance.
	Eta       float64
	n         int
	timesteps []int64
}

// NewDDIM is New for a DDIM config, with η.
func NewDDIM(c Config, eta float64) (*DDIMScheduler, error) {
	if c.Class != DDIM {
		return nil, fmt.Errorf("scheduler: NewDDIM of a %s config", c.Class)
	}
	if !(eta >= 0) {
		return nil, fmt.Errorf("scheduler: DDIM eta %v (want >= 0)", eta)
	}
	s, err := NewSchedule(c)
	if err != nil {
		return nil, err
	}
	return &DDIMScheduler{sched: s, Eta: eta}, nil
}

func (d *DDIMScheduler) Schedule() *Schedule { return d.sched }
func (d *DDIMScheduler) Timesteps() []int64  { return d.timesteps }

func (d *DDIMScheduler) SetTimesteps(n int) error {
	t, err := d.sched.Config.Spaced(n)
	if err != nil {
		return err
	}
	d.n, d.timesteps = n, t
	return nil
}

// errNoTimesteps is Step before SetTimesteps.
var errNoTimesteps = errors.New("scheduler: Step before SetTimesteps")

// prevTimestep is diffusers' t − N // n (also for spacings that are not uniform).
func prevTimestep(c Config, n int, t int64) int64 {
	return t - int64(c.NumTrainTimesteps/n)
}

func (d *DDIMScheduler) Step(modelOutput *ts.Tensor, t int64, sample, noise *ts.Tensor) (*ts.Tensor, error) {
	s, c := d.sched, d.sched.Config
	if d.n == 0 {
		return nil, errNoTimesteps
	}
	if err := checkStep(s, modelOutput, t, sample); err != nil {
		return nil, err
	}
	if !(d.Eta >= 0) {
		return nil, fmt.Errorf("scheduler: DDIM eta %v (want >= 0)", d.Eta)
	}
	if d.Eta > 0 {
		if err := checkLike("noise (DDIM with eta > 0)", noise, sample); err != nil {
			return nil, err
		}
	}
	prev := prevTimestep(c, d.n, t)
	a, ap := s.AlphasCumprod[t], s.alphaPrev(prev)
	b := 1 - a

	x0, eps := predict(c, a, b, modelOutput, sample)
	defer eps.MustDrop()
	x0 = clip(c, x0)
	defer x0.MustDrop()

	// σ_t = η · sqrt((1 − ᾱ_prev)/(1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_prev))
	variance := float32((1-ap)/b) * float32(1-a/ap)
	std := float32(float32(d.Eta) * sqrt32(variance))
	dirCoef := sqrt32(float32(1-ap) - float32(std*std))

	dir := mul(eps, dirCoef)
	defer dir.MustDrop()
	mean := mul(x0, sqrt32(ap))
	out := mean.MustAdd(dir, true)
	if d.Eta > 0 {
		z := mul(noise, std)
		out = out.MustAdd(z, true)
		z.MustDrop()
	}
	return out, nil
}

// checkStep validates the common Step arguments.
func checkStep(s *Schedule, modelOutput *ts.Tensor, t int64, sample *ts.Tensor) error {
	if err := checkSample(sample); err != nil {
		return err
	}
	if err := checkLike("model output", modelOutput, sample); err != nil {
		return err
	}
	return s.checkT(t)
}

// predict is the predicted x0 and ε from the model output (new tensors):
//
//	epsilon:      x0 = (x − sqrt(1−ᾱ)·ε) / sqrt(ᾱ)
//	v_prediction: x0 = sqrt(ᾱ)·x − sqrt(1−ᾱ)·v,  ε = sqrt(ᾱ)·v + sqrt(1−ᾱ)·x
func predict(c Config, a, b float32, out, x *ts.Tensor) (x0, eps *ts.Tensor) {
	if c.PredictionType == "v_prediction" {
		sv := mul(out, sqrt32(b))
		sx := mul(x, sqrt32(a))
		x0 = sx.MustSub(sv, true)
		sv.MustDrop()
		return x0, axpby(sqrt32(a), out, sqrt32(b), x)
	}
	se := mul(out, sqrt32(b))
	num := x.MustSub(se, false)
	se.MustDrop()
	x0 = div(num, sqrt32(a))
	num.MustDrop()
	return x0, out.MustShallowClone()
}

// clip is clip_sample: x0 clamped to ±clip_sample_range (x0 is consumed).
func clip(c Config, x0 *ts.Tensor) *ts.Tensor {
	if !c.ClipSample {
		return x0
	}
	r := c.ClipSampleRange
	return x0.MustClamp(ts.FloatScalar(-r), ts.FloatScalar(r), true)
}
