package lora

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// peftPrefix is how PEFT names the wrapped model's modules in adapter_model.safetensors.
const peftPrefix = "base_model.model."

// PEFTConfig is the part of PEFT's adapter_config.json that changes the forward pass.
type PEFTConfig struct {
	R       int64   `json:"r"`
	Alpha   float64 `json:"lora_alpha"`
	Dropout float64 `json:"lora_dropout"`
	UseDoRA bool    `json:"use_dora"`
	RSLoRA  bool    `json:"use_rslora"`
	Bias    string  `json:"bias"`
}

// ReadPEFTConfig reads dir/adapter_config.json and rejects variants this LoRA is not.
func ReadPEFTConfig(dir string) (PEFTConfig, error) {
	path := filepath.Join(dir, "adapter_config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return PEFTConfig{}, err
	}
	var c PEFTConfig
	if err := json.Unmarshal(raw, &c); err != nil {
		return PEFTConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	switch {
	case c.UseDoRA:
		return c, fmt.Errorf("%s: use_dora is true: a DoRA adapter, not LoRA", path)
	case c.RSLoRA:
		return c, fmt.Errorf("%s: use_rslora is true: scaling α/√r is not supported", path)
	case c.Bias != "" && c.Bias != "none":
		return c, fmt.Errorf("%s: bias = %q: only \"none\" is supported", path, c.Bias)
	case c.R <= 0:
		return c, fmt.Errorf("%s: r = %d, want > 0", path, c.R)
	}
	return c, nil
}

// LoadPEFT copies the A and B matrices of a PEFT adapter folder (adapter_config.json,
// adapter_model.safetensors) into lo's layers, which Apply created with the same r.
// Every layer must find both matrices and every adapter tensor must find a layer.
func (lo *LoRA) LoadPEFT(dir string) error {
	c, err := ReadPEFTConfig(dir)
	if err != nil {
		return err
	}
	if c.R != lo.cfg.R || c.Alpha != lo.cfg.Alpha {
		return fmt.Errorf("%s: adapter has r=%d alpha=%g, this LoRA r=%d alpha=%g", dir, c.R, c.Alpha, lo.cfg.R, lo.cfg.Alpha)
	}
	path := filepath.Join(dir, "adapter_model.safetensors")
	tensors, err := safetensors.Load(path)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	var problems []string
	for _, ly := range lo.layers {
		for _, m := range []struct {
			suffix string
			dst    *ts.Tensor
		}{{".lora_A.weight", ly.A}, {".lora_B.weight", ly.B}} {
			name := peftPrefix + ly.linear.Name + m.suffix
			src, ok := tensors[name]
			switch {
			case !ok:
				problems = append(problems, "missing "+name)
			case !slices.Equal(src.MustSize(), m.dst.MustSize()):
				problems = append(problems, fmt.Sprintf("%s is %v, want %v", name, src.MustSize(), m.dst.MustSize()))
			default:
				models.NoGrad(func() { m.dst.Copy_(src) })
			}
			used[name] = true
		}
	}
	for name := range tensors {
		if !used[name] {
			problems = append(problems, "unexpected "+name)
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%s does not fit this model's LoRA layers: %s", path, strings.Join(problems, "; "))
	}
	return nil
}
