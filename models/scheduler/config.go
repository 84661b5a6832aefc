// Package scheduler holds the noise schedulers Stable Diffusion v1.x uses (PNDM with
// skip_prk_steps, DDIM, DDPM), equal to diffusers 0.30.3 step for step, and the
// training-side helpers (add_noise, get_velocity, the training target).
//
// The schedule constants are float32 values computed exactly as diffusers computes them
// (torch.linspace in float32, cumprod accumulated in double); the scalar coefficients of
// a step are then evaluated in float32 on the host, operation by operation in diffusers'
// order, which is what torch does with its 0-dim float32 tensors. The tensor work is
// gotch (libtorch).
package scheduler

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
)

// Scheduler classes, as diffusers' "_class_name" names them.
const (
	PNDM = "PNDMScheduler"
	DDIM = "DDIMScheduler"
	DDPM = "DDPMScheduler"
)

// MaxTrainTimesteps bounds num_train_timesteps (the schedule is a host array of that length).
const MaxTrainTimesteps = 100000

// Config is a diffusers scheduler_config.json, restricted to what SD v1.x needs.
type Config struct {
	Class             string  // _class_name: PNDM, DDIM or DDPM
	NumTrainTimesteps int     // num_train_timesteps
	BetaStart         float64 // beta_start
	BetaEnd           float64 // beta_end
	BetaSchedule      string  // linear, scaled_linear, squaredcos_cap_v2
	SetAlphaToOne     bool    // PNDM, DDIM: ᾱ "before" t = 0 is 1 (else ᾱ_0)
	SkipPRKSteps      bool    // PNDM: must be true (PLMS only, as SD uses it)
	StepsOffset       int     // added to "leading" timesteps
	PredictionType    string  // epsilon or v_prediction
	TimestepSpacing   string  // leading, linspace, trailing
	ClipSample        bool    // DDIM, DDPM: clamp the predicted x0
	ClipSampleRange   float64 // DDIM, DDPM: to [−range, range]
	VarianceType      string  // DDPM: fixed_small only
}

// DefaultConfig is the class's __init__ defaults in diffusers 0.30.3 (keys a
// scheduler_config.json leaves out take these values).
func DefaultConfig(class string) (Config, error) {
	c := Config{
		Class: class, NumTrainTimesteps: 1000, BetaStart: 0.0001, BetaEnd: 0.02,
		BetaSchedule: "linear", PredictionType: "epsilon", TimestepSpacing: "leading",
		ClipSampleRange: 1.0, VarianceType: "fixed_small",
	}
	switch class {
	case PNDM:
		// skip_prk_steps defaults to false (PRK warm-up), which we refuse in Validate.
	case DDIM:
		c.ClipSample, c.SetAlphaToOne = true, true
	case DDPM:
		c.ClipSample = true
	default:
		return Config{}, fmt.Errorf("scheduler class %q is not supported (want %s, %s or %s)", class, PNDM, DDIM, DDPM)
	}
	return c, nil
}

// keyUse says which classes read a key; diffusers ignores a known key another class
// uses (from_config of a PNDM file into DDIM drops skip_prk_steps), and so do we.
var keyUse = map[string][]string{
	"num_train_timesteps":        {PNDM, DDIM, DDPM},
	"beta_start":                 {PNDM, DDIM, DDPM},
	"beta_end":                   {PNDM, DDIM, DDPM},
	"beta_schedule":              {PNDM, DDIM, DDPM},
	"trained_betas":              {PNDM, DDIM, DDPM},
	"prediction_type":            {PNDM, DDIM, DDPM},
	"timestep_spacing":           {PNDM, DDIM, DDPM},
	"steps_offset":               {PNDM, DDIM, DDPM},
	"set_alpha_to_one":           {PNDM, DDIM},
	"skip_prk_steps":             {PNDM},
	"clip_sample":                {DDIM, DDPM},
	"clip_sample_range":          {DDIM, DDPM},
	"thresholding":               {DDIM, DDPM},
	"dynamic_thresholding_ratio": {DDIM, DDPM}, // only read when thresholding (refused)
	"sample_max_value":           {DDIM, DDPM}, // likewise
	"rescale_betas_zero_snr":     {DDIM, DDPM},
	"variance_type":              {DDPM},
}

// LoadConfig reads a diffusers scheduler_config.json; its "_class_name" picks the class.
func LoadConfig(path string) (Config, error) { return LoadConfigAs(path, "") }

// LoadConfigAs reads the file as class (as diffusers' Class.from_config(config)): the
// file's keys, the class's defaults for the others. class "" takes "_class_name".
func LoadConfigAs(path, class string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return ParseConfig(data, path, class)
}

// ParseConfig parses scheduler_config.json bytes; name is used in errors.
func ParseConfig(data []byte, name, class string) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return Config{}, fmt.Errorf("%s: invalid JSON at byte %d: %v", name, syn.Offset, err)
		}
		return Config{}, fmt.Errorf("%s: want a JSON object: %v", name, err)
	}
	if raw == nil {
		return Config{}, fmt.Errorf("%s: want a JSON object, got null", name)
	}
	if class == "" {
		v, ok := raw["_class_name"]
		if !ok {
			return Config{}, fmt.Errorf("%s: no \"_class_name\" (want %s, %s or %s)", name, PNDM, DDIM, DDPM)
		}
		if err := json.Unmarshal(v, &class); err != nil {
			return Config{}, fmt.Errorf("%s: key \"_class_name\": want a string, got %s", name, v)
		}
	}
	c, err := DefaultConfig(class)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys) // first error is the same on every run
	for _, k := range keys {
		if strings.HasPrefix(k, "_") { // _class_name, _diffusers_version, _use_default_values
			continue
		}
		use, known := keyUse[k]
		if !known {
			return Config{}, fmt.Errorf("%s: unknown key %q (not a PNDM/DDIM/DDPM scheduler option)", name, k)
		}
		if !contains(use, class) {
			continue
		}
		if err := c.set(k, raw[k]); err != nil {
			return Config{}, fmt.Errorf("%s: key %q: %w", name, k, err)
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// set decodes one key's value into c (type checks only; Validate checks the values).
func (c *Config) set(key string, v json.RawMessage) error {
	switch key {
	case "num_train_timesteps":
		return decodeInt(v, &c.NumTrainTimesteps)
	case "steps_offset":
		return decodeInt(v, &c.StepsOffset)
	case "beta_start":
		return decodeFloat(v, &c.BetaStart)
	case "beta_end":
		return decodeFloat(v, &c.BetaEnd)
	case "clip_sample_range":
		return decodeFloat(v, &c.ClipSampleRange)
	case "dynamic_thresholding_ratio", "sample_max_value":
		var f float64
		return decodeFloat(v, &f)
	case "beta_schedule":
		return decodeString(v, &c.BetaSchedule)
	case "prediction_type":
		return decodeString(v, &c.PredictionType)
	case "timestep_spacing":
		return decodeString(v, &c.TimestepSpacing)
	case "variance_type":
		return decodeString(v, &c.VarianceType)
	case "set_alpha_to_one":
		return decodeBool(v, &c.SetAlphaToOne)
	case "skip_prk_steps":
		return decodeBool(v, &c.SkipPRKSteps)
	case "clip_sample":
		return decodeBool(v, &c.ClipSample)
	case "thresholding", "rescale_betas_zero_snr":
		var b bool
		if err := decodeBool(v, &b); err != nil {
			return err
		}
		if b {
			return errors.New("true is not supported (want false)")
		}
	case "trained_betas":
		if string(v) != "null" {
			return errors.New("explicit betas are not supported (want null; use beta_schedule)")
		}
	}
	return nil
}

func decodeInt(v json.RawMessage, into *int) error {
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return fmt.Errorf("want an integer, got %s", v)
	}
	*into = int(f)
	return nil
}

func decodeFloat(v json.RawMessage, into *float64) error {
	if err := json.Unmarshal(v, into); err != nil {
		return fmt.Errorf("want a number, got %s", v)
	}
	return nil
}

func decodeString(v json.RawMessage, into *string) error {
	if err := json.Unmarshal(v, into); err != nil {
		return fmt.Errorf("want a string, got %s", v)
	}
	return nil
}

func decodeBool(v json.RawMessage, into *bool) error {
	if err := json.Unmarshal(v, into); err != nil {
		return fmt.Errorf("want true or false, got %s", v)
	}
	return nil
}

// Validate refuses values this package does not implement, naming the key.
func (c Config) Validate() error {
	if _, err := DefaultConfig(c.Class); err != nil {
		return err
	}
	if c.NumTrainTimesteps < 1 || c.NumTrainTimesteps > MaxTrainTimesteps {
		return fmt.Errorf("key \"num_train_timesteps\": %d out of range (want 1..%d)", c.NumTrainTimesteps, MaxTrainTimesteps)
	}
	switch c.BetaSchedule {
	case "linear", "scaled_linear":
		for _, b := range []struct {
			key string
			v   float64
		}{{"beta_start", c.BetaStart}, {"beta_end", c.BetaEnd}} {
			if !(b.v >= 0 && b.v < 1) {
				return fmt.Errorf("key %q: %v out of range (want 0 <= beta < 1)", b.key, b.v)
			}
		}
	case "squaredcos_cap_v2":
	default:
		return fmt.Errorf("key \"beta_schedule\": %q is not supported (want linear, scaled_linear or squaredcos_cap_v2)", c.BetaSchedule)
	}
	if c.PredictionType != "epsilon" && c.PredictionType != "v_prediction" {
		return fmt.Errorf("key \"prediction_type\": %q is not supported (want epsilon or v_prediction)", c.PredictionType)
	}
	switch c.TimestepSpacing {
	case "leading", "linspace", "trailing":
	default:
		return fmt.Errorf("key \"timestep_spacing\": %q is not supported (want leading, linspace or trailing)", c.TimestepSpacing)
	}
	if c.StepsOffset < 0 || c.StepsOffset >= c.NumTrainTimesteps {
		return fmt.Errorf("key \"steps_offset\": %d out of range (want 0..%d)", c.StepsOffset, c.NumTrainTimesteps-1)
	}
	if c.Class == PNDM && !c.SkipPRKSteps {
		return errors.New("key \"skip_prk_steps\": false (Runge-Kutta warm-up) is not supported (want true, as Stable Diffusion sets it)")
	}
	if c.Class != PNDM && !(c.ClipSampleRange > 0 && !math.IsInf(c.ClipSampleRange, 0)) {
		return fmt.Errorf("key \"clip_sample_range\": %v (want a finite number > 0)", c.ClipSampleRange)
	}
	if c.Class == DDPM && c.VarianceType != "fixed_small" {
		return fmt.Errorf("key \"variance_type\": %q is not supported (want fixed_small)", c.VarianceType)
	}
	return nil
}
