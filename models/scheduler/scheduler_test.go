package scheduler

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models/safetensors"
)

// The references come from diffusers 0.30.3 (scripts/fixtures/gen_scheduler.py; see
// testdata/README.md).

// tol is per element (float32 latents of magnitude ≲ 30). The trajectories are in
// fact bit-identical with the same libtorch 2.1.0; the slack allows another build.
const tol = 1e-6

func reference(t *testing.T) map[string]*ts.Tensor {
	t.Helper()
	ref, err := safetensors.Load(filepath.Join("testdata", "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, v := range ref {
			v.MustDrop()
		}
	})
	return ref
}

func loadCase(t *testing.T, name string) Config {
	t.Helper()
	c, err := LoadConfig(filepath.Join("testdata", name, "scheduler_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func maxAbsDiff(t *testing.T, a, b *ts.Tensor) float64 {
	t.Helper()
	if !slices.Equal(a.MustSize(), b.MustSize()) {
		t.Fatalf("shape %v, want %v", a.MustSize(), b.MustSize())
	}
	d := a.MustSub(b, false)
	defer d.MustDrop()
	m := d.MustAbs(true).MustMax(true)
	defer m.MustDrop()
	return m.Float64Values()[0]
}

func TestSD14Config(t *testing.T) {
	c := loadCase(t, "sd14_pndm")
	want := Config{Class: PNDM, NumTrainTimesteps: 1000, BetaStart: 0.00085, BetaEnd: 0.012,
		BetaSchedule: "scaled_linear", SkipPRKSteps: true, StepsOffset: 1, PredictionType: "epsilon",
		TimestepSpacing: "leading", ClipSampleRange: 1, VarianceType: "fixed_small"}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	// DDIMScheduler.from_config(SD v1.4's PNDM config): DDIM's defaults for the keys
	// the file leaves out, skip_prk_steps dropped, clip_sample false from the file.
	d, err := LoadConfigAs(filepath.Join("testdata", "sd14_pndm", "scheduler_config.json"), DDIM)
	if err != nil {
		t.Fatal(err)
	}
	if d.Class != DDIM || d.ClipSample || d.SetAlphaToOne || d.StepsOffset != 1 || d.SkipPRKSteps {
		t.Fatalf("DDIM from SD v1.4 config: %+v", d)
	}
	// ddim_sd is diffusers' own DDIMScheduler.from_config(SD v1.4) written back.
	if got := loadCase(t, "ddim_sd"); got != d {
		t.Fatalf("got %+v\nwant %+v (diffusers' save_config)", d, got)
	}
}

func TestSchedules(t *testing.T) {
	ref := reference(t)
	for _, tc := range []struct{ name, kind string }{
		{"sd14_pndm", "scaled_linear"}, {"ddim_linspace_clip", "linear"}, {"ddpm_cos", "squaredcos_cap_v2"},
	} {
		s, err := NewSchedule(loadCase(t, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []struct {
			key string
			got []float32
		}{{"betas", s.Betas}, {"alphas_cumprod", s.AlphasCumprod}} {
			want := ref["schedule."+tc.kind+"."+v.key].Vals().([]float32)
			if len(v.got) != len(want) {
				t.Fatalf("%s %s: %d values, want %d", tc.kind, v.key, len(v.got), len(want))
			}
			worst := 0.0
			for i := range want {
				worst = math.Max(worst, math.Abs(float64(v.got[i])-float64(want[i])))
			}
			t.Logf("%s %s: max |Δ| %.3g", tc.kind, v.key, worst)
			if worst > 1e-9 {
				t.Errorf("%s %s: max |Δ| %g", tc.kind, v.key, worst)
			}
		}
	}
}

func TestTimesteps(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "timesteps.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Class     string `json:"class"`
		Spacing   string `json:"timestep_spacing"`
		Offset    int    `json:"steps_offset"`
		Steps     int    `json:"steps"`
		Timesteps []int64
	}
	if err := json.Unmarshal(data, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 100 {
		t.Fatalf("only %d rows", len(rows))
	}
	refused := 0
	for _, r := range rows {
		c, err := DefaultConfig(r.Class)
		if err != nil {
			t.Fatal(err)
		}
		c.TimestepSpacing, c.StepsOffset, c.SkipPRKSteps = r.Spacing, r.Offset, true
		var got []int64
		if r.Class == PNDM {
			got, err = c.PNDMTimesteps(r.Steps)
		} else {
			got, err = c.Spaced(r.Steps)
		}
		if slices.Max(r.Timesteps) >= 1000 { // diffusers would fail indexing ᾱ later
			refused++
			if err == nil {
				t.Errorf("%s %s offset %d n=%d: no error for timestep %d", r.Class, r.Spacing, r.Offset, r.Steps, slices.Max(r.Timesteps))
			}
			continue
		}
		if err != nil || !slices.Equal(got, r.Timesteps) {
			t.Errorf("%s %s offset %d n=%d:\ngot  %v (%v)\nwant %v", r.Class, r.Spacing, r.Offset, r.Steps, got, err, r.Timesteps)
		}
	}
	t.Logf("%d timestep lists, %d refused (reach t=1000)", len(rows), refused)
	if refused == 0 {
		t.Error("no out-of-range case exercised")
	}
}

// The trajectories' "model": ε(x, t) = 0.1·x + 1e-5·t in float32.
func fixedModel(x *ts.Tensor, t int64) (*ts.Tensor, error) {
	return x.MustMulScalar(ts.FloatScalar(0.1), false).MustAddScalar(ts.FloatScalar(1e-5*float64(t)), true), nil
}

// guidedPair is the doubled-batch model of the guidance case: row 0 (unconditional)
// 0.1·x + 1e-5·t, row 1 (text) 0.2·x − 2e-5·t.
func guidedPair(x2 *ts.Tensor, t int64) (*ts.Tensor, error) {
	w := ts.MustOfSlice([]float32{0.1, 0.2}).MustView([]int64{2, 1, 1, 1}, true)
	b := ts.MustOfSlice([]float32{float32(1e-5 * float64(t)), float32(-2e-5 * float64(t))}).MustView([]int64{2, 1, 1, 1}, true)
	defer w.MustDrop()
	defer b.MustDrop()
	return x2.MustMul(w, false).MustAdd(b, true), nil
}

func TestTrajectories(t *testing.T) {
	ref := reference(t)
	for _, tc := range []struct {
		name  string
		steps int
		eta   float64
		cfg   float64 // guidance scale, 0: none
	}{
		{"sd14_pndm", 50, 0, 0},
		{"sd14_pndm_cfg", 10, 0, 7.5},
		{"pndm_trailing_v", 10, 0, 0},
		{"pndm_linspace", 7, 0, 0},
		{"ddim_sd", 20, 0, 0},
		{"ddim_sd_eta", 10, 0.5, 0},
		{"ddim_trailing_v", 20, 0, 0},
		{"ddim_linspace_clip", 15, 1, 0},
		{"ddpm_cos", 20, 0, 0},
		{"ddpm_sd_v", 12, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadCase(t, tc.name)
			var s Sampler
			var err error
			if c.Class == DDIM {
				s, err = NewDDIM(c, tc.eta)
			} else {
				s, err = New(c)
			}
			if err != nil {
				t.Fatal(err)
			}
			traj := ref[tc.name+".trajectory"]
			wantT := ref[tc.name+".timesteps"].Int64Values()
			states := traj.MustSize()[0]
			if int(states) != len(wantT)+1 {
				t.Fatalf("%d states for %d timesteps", states, len(wantT))
			}
			var noise NoiseFunc
			if z, ok := ref[tc.name+".noise"]; ok {
				noise = func(i int, _ int64) (*ts.Tensor, error) {
					if int64(i) >= z.MustSize()[0] {
						return nil, nil // DDPM at t = 0 draws nothing
					}
					return z.MustSelect(0, int64(i), false), nil
				}
			}
			model := ModelFunc(fixedModel)
			if tc.cfg != 0 {
				model = Guided(guidedPair, tc.cfg)
			}
			x0 := traj.MustSelect(0, 0, false)
			defer x0.MustDrop()
			worst := 0.0
			checked := 0
			out, err := Sample(s, x0, tc.steps, model, noise, func(i int, ti int64, x *ts.Tensor) {
				if ti != wantT[i] {
					t.Errorf("step %d: timestep %d, want %d", i, ti, wantT[i])
				}
				want := traj.MustSelect(0, int64(i+1), false)
				defer want.MustDrop()
				d := maxAbsDiff(t, x, want)
				if d > 0 && worst == 0 {
					t.Logf("first inexact step %d (t=%d): max |Δ| %.3g", i, ti, d)
				}
				worst = math.Max(worst, d)
				checked++
				if d > tol {
					t.Errorf("step %d (t=%d): max |Δ| %g", i, ti, d)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			out.MustDrop()
			if !slices.Equal(s.Timesteps(), wantT) {
				t.Errorf("timesteps %v\nwant %v", s.Timesteps(), wantT)
			}
			if checked != len(wantT) {
				t.Errorf("checked %d steps, want %d", checked, len(wantT))
			}
			t.Logf("%d steps, max |Δ| over the trajectory %.3g", checked, worst)
		})
	}
}

func TestAddNoiseVelocity(t *testing.T) {
	ref := reference(t)
	s, err := NewSchedule(loadCase(t, "sd14_pndm"))
	if err != nil {
		t.Fatal(err)
	}
	x0, noise := ref["train.x0"], ref["train.noise"]
	steps := ref["train.timesteps"].Int64Values()
	noisy, err := s.AddNoise(x0, noise, steps)
	if err != nil {
		t.Fatal(err)
	}
	defer noisy.MustDrop()
	v, err := s.Velocity(x0, noise, steps)
	if err != nil {
		t.Fatal(err)
	}
	defer v.MustDrop()
	for _, c := range []struct {
		name      string
		got, want *ts.Tensor
	}{{"add_noise", noisy, ref["train.noisy"]}, {"get_velocity", v, ref["train.velocity"]}} {
		d := maxAbsDiff(t, c.got, c.want)
		t.Logf("%s: max |Δ| %.3g", c.name, d)
		if d > 1e-6 {
			t.Errorf("%s: max |Δ| %g", c.name, d)
		}
	}
	// Training targets: ε for epsilon, v for v_prediction.
	eps, err := s.Target(x0, noise, steps)
	if err != nil {
		t.Fatal(err)
	}
	defer eps.MustDrop()
	if d := maxAbsDiff(t, eps, noise); d != 0 {
		t.Errorf("epsilon target differs from the noise by %g", d)
	}
	sv := *s
	sv.Config.PredictionType = "v_prediction"
	vt, err := sv.Target(x0, noise, steps)
	if err != nil {
		t.Fatal(err)
	}
	defer vt.MustDrop()
	if d := maxAbsDiff(t, vt, ref["train.velocity"]); d > 1e-6 {
		t.Errorf("v_prediction target: max |Δ| %g", d)
	}
}

func TestGuidanceByHand(t *testing.T) {
	u := ts.MustOfSlice([]float32{1, 2, -1})
	c := ts.MustOfSlice([]float32{3, 2, 1})
	defer u.MustDrop()
	defer c.MustDrop()
	g, err := Guidance(u, c, 7.5)
	if err != nil {
		t.Fatal(err)
	}
	got := g.Vals().([]float32)
	g.MustDrop()
	// 1 + 7.5·2 = 16, 2 + 0 = 2, −1 + 7.5·2 = 14
	if !slices.Equal(got, []float32{16, 2, 14}) {
		t.Fatalf("got %v", got)
	}
}
