package scheduler

import (
	"fmt"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// AddNoise is diffusers' add_noise, the forward process q(x_t | x0):
//
//	x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·ε
//
// with one timestep per batch row (x0 and noise: batch × …, same shape). The
// coefficients are float32 (as diffusers casts ᾱ to the float32 latents' dtype).
func (s *Schedule) AddNoise(x0, noise *ts.Tensor, timesteps []int64) (*ts.Tensor, error) {
	sa, so, err := s.coefs("AddNoise", x0, noise, timesteps)
	if err != nil {
		return nil, err
	}
	defer sa.MustDrop()
	defer so.MustDrop()
	a := sa.MustMul(x0, false)
	b := so.MustMul(noise, false)
	defer b.MustDrop()
	return a.MustAdd(b, true), nil
}

// Velocity is diffusers' get_velocity, the v-prediction target (Salimans & Ho 2022):
//
//	v = sqrt(ᾱ_t)·ε − sqrt(1 − ᾱ_t)·x0
func (s *Schedule) Velocity(x0, noise *ts.Tensor, timesteps []int64) (*ts.Tensor, error) {
	sa, so, err := s.coefs("Velocity", x0, noise, timesteps)
	if err != nil {
		return nil, err
	}
	defer sa.MustDrop()
	defer so.MustDrop()
	a := sa.MustMul(noise, false)
	b := so.MustMul(x0, false)
	defer b.MustDrop()
	return a.MustSub(b, true), nil
}

// Target is what the model is trained to predict under the config's prediction_type
// (as diffusers' train_dreambooth.py picks it): the noise for epsilon, the velocity
// for v_prediction. The caller owns the result (for epsilon a new handle on noise).
func (s *Schedule) Target(x0, noise *ts.Tensor, timesteps []int64) (*ts.Tensor, error) {
	if s.Config.PredictionType == "v_prediction" {
		return s.Velocity(x0, noise, timesteps)
	}
	if _, _, err := s.coefs("Target", x0, noise, timesteps); err != nil {
		return nil, err
	}
	return noise.MustShallowClone(), nil
}

// coefs checks the arguments and returns sqrt(ᾱ_t) and sqrt(1 − ᾱ_t) per row, shaped
// batch × 1 × … × 1 to broadcast over x0, in x0's dtype and on its device.
func (s *Schedule) coefs(op string, x0, noise *ts.Tensor, timesteps []int64) (sa, so *ts.Tensor, err error) {
	if err := checkSample(x0); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := checkLike("noise", noise, x0); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, err)
	}
	size := x0.MustSize()
	if len(size) == 0 || size[0] != int64(len(timesteps)) {
		return nil, nil, fmt.Errorf("scheduler: %s: %d timesteps for samples of shape %v (want one per row)", op, len(timesteps), size)
	}
	a := make([]float32, len(timesteps))
	o := make([]float32, len(timesteps))
	for i, t := range timesteps {
		if err := s.checkT(t); err != nil {
			return nil, nil, fmt.Errorf("%s: timesteps[%d]: %w", op, i, err)
		}
		a[i] = sqrt32(s.AlphasCumprod[t])
		o[i] = sqrt32(1 - s.AlphasCumprod[t])
	}
	shape := make([]int64, len(size))
	for i := range shape {
		shape[i] = 1
	}
	shape[0] = size[0]
	return column(a, shape, x0), column(o, shape, x0), nil
}

// column is vals as a tensor of the given shape, in like's dtype and on its device.
func column(vals []float32, shape []int64, like *ts.Tensor) *ts.Tensor {
	t := ts.MustOfSlice(vals).MustView(shape, true)
	if like.DType() != gotch.Float {
		t = t.MustTotype(like.DType(), true)
	}
	if dev := like.MustDevice(); dev != gotch.CPU {
		t = t.MustTo(dev, true)
	}
	return t
}
