package scheduler

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Schedule is the noise schedule of a Config: β_t and ᾱ_t = Π_{s≤t} (1 − β_s), as
// the float32 values diffusers holds.
type Schedule struct {
	Config        Config
	Betas         []float32
	AlphasCumprod []float32
	// FinalAlphaCumprod is ᾱ "before" t = 0 (PNDM, DDIM): 1 with set_alpha_to_one,
	// else ᾱ_0. DDPM always uses 1 there.
	FinalAlphaCumprod float32
}

// NewSchedule validates c and computes its schedule.
func NewSchedule(c Config) (*Schedule, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	betas := computeBetas(c)
	// alphas = 1 − betas in float32; torch.cumprod on CPU accumulates in double
	// (acc_type<float> is double) and rounds each prefix product to float32.
	ac := make([]float32, len(betas))
	prod := 1.0
	for i, b := range betas {
		prod *= float64(1 - b)
		ac[i] = float32(prod)
	}
	s := &Schedule{Config: c, Betas: betas, AlphasCumprod: ac, FinalAlphaCumprod: ac[0]}
	if c.SetAlphaToOne || c.Class == DDPM {
		s.FinalAlphaCumprod = 1
	}
	return s, nil
}

// computeBetas is diffusers' beta_schedule. linear and scaled_linear run libtorch's
// float32 linspace (its two-sided evaluation is what diffusers gets); the cosine
// schedule is betas_for_alpha_bar, float64 then cast to float32.
func computeBetas(c Config) []float32 {
	n := int64(c.NumTrainTimesteps)
	switch c.BetaSchedule {
	case "linear", "scaled_linear":
		start, end := c.BetaStart, c.BetaEnd
		if c.BetaSchedule == "scaled_linear" {
			start, end = math.Sqrt(start), math.Sqrt(end)
		}
		lin := ts.MustLinspace(ts.FloatScalar(start), ts.FloatScalar(end), n, gotch.Float, gotch.CPU)
		defer lin.MustDrop()
		vals := lin.Vals().([]float32)
		if c.BetaSchedule == "scaled_linear" {
			for i, v := range vals {
				vals[i] = v * v // torch's ** 2 is x·x in float32
			}
		}
		return vals
	default: // squaredcos_cap_v2 (Validate allows nothing else)
		alphaBar := func(t float64) float64 {
			x := math.Cos((t + 0.008) / 1.008 * math.Pi / 2)
			return x * x
		}
		out := make([]float32, n)
		for i := range out {
			t1, t2 := float64(i)/float64(n), float64(i+1)/float64(n)
			out[i] = float32(math.Min(1-alphaBar(t2)/alphaBar(t1), 0.999))
		}
		return out
	}
}

// alphaPrev is ᾱ at prev (ᾱ_final when prev < 0).
func (s *Schedule) alphaPrev(prev int64) float32 {
	if prev < 0 {
		return s.FinalAlphaCumprod
	}
	return s.AlphasCumprod[prev]
}

// checkT refuses a timestep outside the schedule.
func (s *Schedule) checkT(t int64) error {
	if t < 0 || t >= int64(len(s.AlphasCumprod)) {
		return fmt.Errorf("scheduler: timestep %d out of range (want 0..%d)", t, len(s.AlphasCumprod)-1)
	}
	return nil
}

// sqrt32 is torch's float32 x ** 0.5 on a 0-dim tensor, evaluated by libtorch: its
// CPU sqrt goes through MKL's vector math, which is not always the correctly rounded
// root (math.Sqrt differs from it in the last bit for some ᾱ, e.g. 1 − ᾱ_750 of the
// cosine schedule).
func sqrt32(x float32) float32 {
	t := ts.MustOfSlice([]float32{x}).MustSqrt(true)
	defer t.MustDrop()
	return t.Vals().([]float32)[0]
}

// Spaced returns diffusers' set_timesteps(n) timesteps of DDIM and DDPM (descending),
// per timestep_spacing:
//
//	leading:  (arange(n) · (N // n))[::-1] + steps_offset
//	linspace: round(linspace(0, N − 1, n))[::-1]
//	trailing: round(arange(N, 0, −N/n)) − 1
//
// PNDM's list is built from the same values (see PNDMTimesteps).
func (c Config) Spaced(n int) ([]int64, error) {
	N := c.NumTrainTimesteps
	if n < 1 || n > N {
		return nil, fmt.Errorf("scheduler: %d inference steps out of range (want 1..%d, num_train_timesteps)", n, N)
	}
	out := make([]int64, n)
	switch c.TimestepSpacing {
	case "leading":
		ratio := N / n
		for i := range out {
			out[i] = int64((n-1-i)*ratio + c.StepsOffset)
		}
	case "linspace":
		// numpy.linspace: i·step + start, the last point exactly stop.
		// numpy gives [start] for n = 1.
		step := float64(N-1) / float64(n-1)
		for i := range out {
			v := float64(N - 1)
			if n == 1 {
				v = 0
			} else if i < n-1 {
				v = float64(i) * step
			}
			out[n-1-i] = int64(math.RoundToEven(v))
		}
	case "trailing":
		// numpy.arange(N, 0, −N/n): length ceil(−N / −ratio); values start + i·delta
		// with delta = (start + step) − start, as numpy's fill computes them.
		step := -float64(N) / float64(n)
		length := int(math.Ceil((0 - float64(N)) / step))
		start := float64(N)
		delta := (start + step) - start
		out = make([]int64, length)
		for i := range out {
			v := start
			if i == 1 {
				v = start + step
			} else if i > 1 {
				v = start + float64(i)*delta
			}
			out[i] = int64(math.RoundToEven(v)) - 1
		}
	default:
		return nil, fmt.Errorf("scheduler: key \"timestep_spacing\": %q is not supported", c.TimestepSpacing)
	}
	for _, t := range out {
		if t < 0 || t >= int64(N) {
			return nil, fmt.Errorf("scheduler: %d steps with timestep_spacing %q and steps_offset %d reach timestep %d, outside 0..%d",
				n, c.TimestepSpacing, c.StepsOffset, t, N-1)
		}
	}
	return out, nil
}

// PNDMTimesteps is PNDMScheduler.set_timesteps with skip_prk_steps: the spaced
// timesteps (descending) with the second one repeated, [t0, t1, t1, t2, …, t_{n−1}]
// (its first PLMS step is an Euler step that is then redone from t0; see PNDM.Step).
func (c Config) PNDMTimesteps(n int) ([]int64, error) {
	sp, err := c.Spaced(n)
	if err != nil {
		return nil, err
	}
	// diffusers: concat(_t[:-1], _t[-2:-1], _t[-1:])[::-1] of the ascending _t.
	out := make([]int64, 0, n+1)
	out = append(out, sp[0])
	if n >= 2 {
		out = append(out, sp[1])
	}
	out = append(out, sp[1:]...)
	return out, nil
}
