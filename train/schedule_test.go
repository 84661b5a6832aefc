package train

import (
	"math"
	"testing"

	"github.com/sugarme/gotch/ts"
)

func TestLinearSchedule(t *testing.T) {
	cases := []struct {
		step, warmup, total int
		want                float64
	}{
		{0, 0, 10, 1},   // no warm-up: full rate at the first update
		{5, 0, 10, 0.5}, // halfway down
		{9, 0, 10, 0.1}, // the last update
		{10, 0, 10, 0},  // step == total
		{12, 0, 10, 0},  // past the end: clamped, never negative
		{0, 4, 10, 0},   // warm-up starts at 0, as in Hugging Face
		{1, 4, 10, 0.25},
		{4, 4, 10, 1}, // peak at the end of warm-up
		{7, 4, 10, 0.5},
		{10, 4, 10, 0},
		{3, 5, 4, 0.6}, // warm-up longer than training
		{0, 0, 0, 0},   // empty schedule
	}
	for _, c := range cases {
		if got := LinearSchedule(c.step, c.warmup, c.total); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("LinearSchedule(%d, %d, %d) = %v, want %v", c.step, c.warmup, c.total, got, c.want)
		}
	}
}

func TestWarmupSteps(t *testing.T) {
	cases := []struct {
		steps int
		ratio float64
		total int
		want  int
	}{
		{100, 0.5, 1000, 100}, // explicit steps win
		{0, 0.06, 1000, 60},
		{0, 0.06, 1001, 61}, // ceil, as transformers
		{0, 0, 1000, 0},
	}
	for _, c := range cases {
		if got := warmupSteps(c.steps, c.ratio, c.total); got != c.want {
			t.Errorf("warmupSteps(%d, %v, %d) = %d, want %d", c.steps, c.ratio, c.total, got, c.want)
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	// Gradients [3 4] and [12]: global norm √(9+16+144) = 13. A frozen param's grad [100]
	// and a param without grad do not count.
	cases := []struct {
		maxNorm float64
		coef    float64 // expected scale of the grads
	}{
		{6.5, 6.5 / (13 + 1e-6)},
		{1, 1 / (13 + 1e-6)},
		{13, 13 / (13 + 1e-6)}, // just below 1: still scaled, as torch
		{20, 1},                // clamped: untouched
	}
	for _, c := range cases {
		a, b, frozen, none := leaf([]float64{0, 0}), leaf([]float64{0}), leaf([]float64{0}), leaf([]float64{0})
		setGrads(t, []*ts.Tensor{a, b, frozen, none}, [][]float64{{3, 4}, {12}, {100}, nil})
		frozen.MustRequiresGrad_(false)
		params := []Param{{Name: "a", T: a}, {Name: "b", T: b}, {Name: "frozen", T: frozen}, {Name: "none", T: none}}

		norm := ClipGradNorm(params, c.maxNorm)
		if math.Abs(norm-13) > 1e-12 {
			t.Errorf("maxNorm %v: norm = %v, want 13", c.maxNorm, norm)
		}
		checks := []struct {
			p    *ts.Tensor
			want []float64
		}{
			{a, []float64{3 * c.coef, 4 * c.coef}},
			{b, []float64{12 * c.coef}},
			{frozen, []float64{100}},
		}
		for _, ch := range checks {
			if got := values(ch.p.MustGrad(false)); !closeSlices(got, ch.want, 1e-12) {
				t.Errorf("maxNorm %v: grad %v, want %v", c.maxNorm, got, ch.want)
			}
		}
	}
}

func TestConstantSchedule(t *testing.T) {
	for _, c := range []struct {
		step, warmup int
		want         float64
	}{{0, 0, 1}, {5, 0, 1}, {0, 4, 0}, {2, 4, 0.5}, {4, 4, 1}, {99, 4, 1}} {
		if got := ConstantSchedule(c.step, c.warmup, 10); got != c.want {
			t.Errorf("step %d warm-up %d: %v, want %v", c.step, c.warmup, got, c.want)
		}
	}
}
