package scheduler

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

const sd14 = `{"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
 "beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false,
 "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null, "clip_sample": false}`

// with replaces one "key": value pair of sd14 (or adds it when absent).
func with(key, value string) string {
	i := strings.Index(sd14, `"`+key+`"`)
	if i < 0 {
		return strings.Replace(sd14, "{", `{"`+key+`": `+value+", ", 1)
	}
	j := i + strings.IndexAny(sd14[i:], ",}")
	return sd14[:i] + `"` + key + `": ` + value + sd14[j:]
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ name, json, class, want string }{
		{"syntax", `{"beta_start": 0.1,}`, "", "cfg.json: invalid JSON at byte 20"},
		{"not object", `[1]`, "", "cfg.json: want a JSON object"},
		{"null", `null`, "", "cfg.json: want a JSON object, got null"},
		{"no class", `{"beta_start": 0.1}`, "", `cfg.json: no "_class_name"`},
		{"class type", `{"_class_name": 3}`, "", `cfg.json: key "_class_name": want a string, got 3`},
		{"class", with("_class_name", `"EulerDiscreteScheduler"`), "", `cfg.json: scheduler class "EulerDiscreteScheduler" is not supported`},
		{"unknown key", with("beta_shedule", `"linear"`), "", `cfg.json: unknown key "beta_shedule"`},
		{"int type", with("num_train_timesteps", `"1000"`), "", `cfg.json: key "num_train_timesteps": want an integer, got "1000"`},
		{"int fraction", with("steps_offset", `1.5`), "", `cfg.json: key "steps_offset": want an integer, got 1.5`},
		{"float type", with("beta_start", `"x"`), "", `cfg.json: key "beta_start": want a number, got "x"`},
		{"string type", with("beta_schedule", `1`), "", `cfg.json: key "beta_schedule": want a string, got 1`},
		{"bool type", with("skip_prk_steps", `1`), "", `cfg.json: key "skip_prk_steps": want true or false, got 1`},
		{"trained betas", with("trained_betas", `[0.1]`), "", `cfg.json: key "trained_betas": explicit betas are not supported`},
		{"thresholding", with("thresholding", `true`), DDIM, `cfg.json: key "thresholding": true is not supported`},
		{"rescale", with("rescale_betas_zero_snr", `true`), DDPM, `cfg.json: key "rescale_betas_zero_snr": true is not supported`},
		{"schedule", with("beta_schedule", `"sigmoid"`), "", `cfg.json: key "beta_schedule": "sigmoid" is not supported`},
		{"prediction", with("prediction_type", `"sample"`), "", `cfg.json: key "prediction_type": "sample" is not supported`},
		{"spacing", with("timestep_spacing", `"karras"`), "", `cfg.json: key "timestep_spacing": "karras" is not supported`},
		{"offset", with("steps_offset", `-1`), "", `cfg.json: key "steps_offset": -1 out of range (want 0..999)`},
		{"train steps", with("num_train_timesteps", `0`), "", `cfg.json: key "num_train_timesteps": 0 out of range`},
		{"beta range", with("beta_end", `1.5`), "", `cfg.json: key "beta_end": 1.5 out of range (want 0 <= beta < 1)`},
		{"prk", with("skip_prk_steps", `false`), "", `cfg.json: key "skip_prk_steps": false (Runge-Kutta warm-up) is not supported`},
		{"prk default", strings.Replace(sd14, `"skip_prk_steps": true,`, "", 1), "", `key "skip_prk_steps": false`},
		{"clip range", with("clip_sample_range", `0`), DDPM, `cfg.json: key "clip_sample_range": 0 (want a finite number > 0)`},
		{"variance", with("variance_type", `"learned"`), DDPM, `cfg.json: key "variance_type": "learned" is not supported (want fixed_small)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.json), "cfg.json", tc.class)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	// Keys of another class are ignored (as diffusers' from_config does).
	if _, err := ParseConfig([]byte(with("variance_type", `"learned"`)), "cfg.json", ""); err != nil {
		t.Fatalf("PNDM should ignore variance_type: %v", err)
	}
	if _, err := LoadConfig("testdata/nonexistent.json"); err == nil || !strings.Contains(err.Error(), "nonexistent.json") {
		t.Fatalf("missing file: %v", err)
	}
}

func zeros(shape ...int64) *ts.Tensor { return ts.MustZeros(shape, gotch.Float, gotch.CPU) }

func TestStepErrors(t *testing.T) {
	cfg := func(class string) Config {
		c, err := ParseConfig([]byte(sd14), "sd14", class)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	x, y, z := zeros(1, 4, 2, 2), zeros(1, 4, 2, 3), zeros(1, 4, 2, 2)
	defer x.MustDrop()
	defer y.MustDrop()
	defer z.MustDrop()
	ints := ts.MustZeros([]int64{1, 4, 2, 2}, gotch.Int64, gotch.CPU)
	defer ints.MustDrop()
	ddim, _ := NewDDIM(cfg(DDIM), 0.5)
	ddpm, _ := New(cfg(DDPM))
	pndm, _ := New(cfg(PNDM))
	fresh, _ := New(cfg(DDIM))
	for _, s := range []Sampler{ddim, ddpm, pndm} {
		if err := s.SetTimesteps(10); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"before SetTimesteps", func() error { _, err := fresh.Step(x, 1, x, nil); return err }, "scheduler: Step before SetTimesteps"},
		{"steps 0", func() error { return fresh.SetTimesteps(0) }, "scheduler: 0 inference steps out of range (want 1..1000, num_train_timesteps)"},
		{"steps 1001", func() error { return fresh.SetTimesteps(1001) }, "scheduler: 1001 inference steps out of range"},
		{"offset past end", func() error { return pndm.(*PNDMScheduler).sched.Config.checkSpacedErr(1000) }, `scheduler: 1000 steps with timestep_spacing "leading" and steps_offset 1 reach timestep 1000, outside 0..999`},
		{"shape", func() error { _, err := ddim.Step(y, 901, x, z); return err }, "scheduler: model output has shape [1 4 2 3], the sample [1 4 2 2] (want equal)"},
		{"dtype", func() error { _, err := ddim.Step(ints, 901, x, z); return err }, "scheduler: model output has dtype Int64 (want a floating-point tensor)"},
		{"sample dtype", func() error { _, err := ddim.Step(x, 901, ints, z); return err }, "scheduler: sample has dtype Int64"},
		{"timestep", func() error { _, err := ddim.Step(x, 1000, x, z); return err }, "scheduler: timestep 1000 out of range (want 0..999)"},
		{"negative timestep", func() error { _, err := ddpm.Step(x, -1, x, z); return err }, "scheduler: timestep -1 out of range"},
		{"ddim noise", func() error { _, err := ddim.Step(x, 901, x, nil); return err }, "scheduler: noise (DDIM with eta > 0) is missing"},
		{"ddim noise shape", func() error { _, err := ddim.Step(x, 901, x, y); return err }, "scheduler: noise (DDIM with eta > 0) has shape [1 4 2 3]"},
		{"ddpm noise", func() error { _, err := ddpm.Step(x, 901, x, nil); return err }, "scheduler: noise (DDPM step at t > 0) is missing"},
		{"pndm noise", func() error { _, err := pndm.Step(x, 901, x, z); return err }, "scheduler: PNDM steps take no noise"},
		{"eta", func() error { _, err := NewDDIM(cfg(DDIM), -1); return err }, "scheduler: DDIM eta -1 (want >= 0)"},
		{"ddim of pndm", func() error { _, err := NewDDIM(cfg(PNDM), 0); return err }, "scheduler: NewDDIM of a PNDMScheduler config"},
		{"add noise count", func() error { _, err := pndm.Schedule().AddNoise(x, z, []int64{1, 2}); return err }, "scheduler: AddNoise: 2 timesteps for samples of shape [1 4 2 2] (want one per row)"},
		{"add noise t", func() error { _, err := pndm.Schedule().AddNoise(x, z, []int64{1000}); return err }, "AddNoise: timesteps[0]: scheduler: timestep 1000 out of range"},
		{"velocity shape", func() error { _, err := pndm.Schedule().Velocity(x, y, []int64{1}); return err }, "Velocity: scheduler: noise has shape [1 4 2 3]"},
		{"target shape", func() error { _, err := pndm.Schedule().Target(x, y, []int64{1}); return err }, "Target: scheduler: noise has shape [1 4 2 3]"},
		{"guidance", func() error { _, err := Guidance(x, y, 7.5); return err }, "Guidance: scheduler: text-conditioned output has shape [1 4 2 3]"},
		{"guided batch", func() error {
			_, err := Guided(func(x2 *ts.Tensor, _ int64) (*ts.Tensor, error) { return zeros(3, 4, 2, 2), nil }, 7.5)(x, 1)
			return err
		}, "guided model output has shape [3 4 2 2] for latents [1 4 2 2] (want twice the batch)"},
		{"sample nil model", func() error { _, err := Sample(ddim, x, 10, nil, nil, nil); return err }, "scheduler: Sample without a model function"},
		{"sample model error", func() error {
			_, err := Sample(ddim, x, 10, func(*ts.Tensor, int64) (*ts.Tensor, error) { return nil, nil }, nil, nil)
			return err
		}, "scheduler: step 0 (t=901): model function returned no tensor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.run()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// checkSpacedErr is Spaced's error (test helper).
func (c Config) checkSpacedErr(n int) error { _, err := c.Spaced(n); return err }
