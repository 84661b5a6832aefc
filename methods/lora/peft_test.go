package lora

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/safetensors"
)

// peftCases holds PEFT-made adapters with different adapter_config.json settings and
// peft's logits for each (scripts/fixtures/gen_lora_configs.py; testdata/README.md).
const peftCases = "testdata/peft"

// FromPEFT adapts exactly the modules, with the ranks and scalings, that each adapter's
// config gives, and loads its biases and modules_to_save: the logits equal peft's.
func TestFromPEFTFollowsTheAdapterConfig(t *testing.T) {
	want, err := safetensors.Load(filepath.Join(peftCases, "logits.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := safetensors.Load(filepath.Join(fixtures, "inputs_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b := models.Batch{InputIDs: in["input_ids"], AttentionMask: in["attention_mask"], TokenTypeIDs: in["token_type_ids"]}
	for _, c := range []struct {
		name    string
		modules []string // adapted, in model order
		ranks   []int64
	}{
		{"list_subset", []string{"0.attention.self.query", "0.attention.self.value", "1.attention.self.query", "1.attention.self.value"}, []int64{2, 2, 2, 2}},
		{"patterns_rslora", []string{"0.attention.self.query", "0.attention.self.key", "0.attention.self.value", "0.intermediate.dense",
			"1.attention.self.query", "1.attention.self.key", "1.attention.self.value", "1.intermediate.dense"}, []int64{4, 4, 2, 4, 4, 4, 2, 4}},
		{"layers", []string{"1.attention.self.key", "1.attention.output.dense", "1.output.dense"}, []int64{3, 3, 3}},
		{"bias_save", nil, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _, err := bert.Load(fixtures, bert.Classification, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			m.SetTraining(false)
			lo, err := FromPEFT(m, filepath.Join(peftCases, c.name), 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.modules != nil {
				var got []string
				var ranks []int64
				for _, ly := range lo.Layers() {
					got = append(got, strings.TrimPrefix(ly.linear.Name, "bert.encoder.layer."))
					ranks = append(ranks, ly.A.MustSize()[0])
				}
				if strings.Join(got, " ") != strings.Join(c.modules, " ") || !slices.Equal(ranks, c.ranks) {
					t.Errorf("adapted %v with ranks %v, want %v with %v", got, ranks, c.modules, c.ranks)
				}
			}
			models.NoGrad(func() {
				if e := testmodel.RelErr(m.Forward(b), want[c.name]); e > 1e-5 {
					t.Errorf("logits: relative error %g against peft", e)
				}
			})
		})
	}
}

// Adapters the loader cannot honour are refused with the key, value or module at fault.
func TestPEFTRefusals(t *testing.T) {
	subset := filepath.Join(peftCases, "list_subset")
	for _, c := range []struct {
		name string
		dir  string
		edit map[string]any // changes to list_subset's adapter_config.json (nil value: delete)
		want string
	}{
		{"selects the pooler", filepath.Join(peftCases, "dense_pooler"), nil, "LoRA weights for bert.pooler.dense"},
		{"dora", filepath.Join(peftCases, "dora"), nil, `"use_dora" = true`},
		{"r vs shapes", subset, map[string]any{"r": 4}, "the config gives r=4"},
		{"rank_pattern vs shapes", subset, map[string]any{"rank_pattern": map[string]any{"value": 3}}, "attention.self.value: the config gives r=3"},
		{"targets more than the file", subset, map[string]any{"target_modules": []string{"query", "key", "value"}}, "selects bert.encoder.layer.0.attention.self.key, but the file lacks"},
		{"targets fewer than the file", subset, map[string]any{"target_modules": []string{"query"}}, "LoRA weights for bert.encoder.layer.0.attention.self.value, which target_modules does not select"},
		{"unknown option", subset, map[string]any{"lora_bias": true}, `"lora_bias" = true: not supported`},
		{"layer replication", subset, map[string]any{"layer_replication": [][]int{{0, 2}}}, `"layer_replication"`},
		{"pissa", subset, map[string]any{"init_lora_weights": "pissa"}, `"init_lora_weights" = "pissa"`},
		{"look-ahead", subset, map[string]any{"target_modules": `.*(?!pooler)\.query`}, "not a regular expression Go's RE2 runs"},
		{"not lora", subset, map[string]any{"peft_type": "IA3"}, "a IA3 adapter"},
		{"no targets", subset, map[string]any{"target_modules": nil}, `no "target_modules"`},
		{"bias not in the file's mode", filepath.Join(peftCases, "bias_save"), map[string]any{"bias": "none", "modules_to_save": nil}, "neither a bias"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := c.dir
			if c.edit != nil {
				dir = editedAdapter(t, c.dir, c.edit)
			}
			m, _, err := bert.Load(fixtures, bert.Classification, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			_, err = FromPEFT(m, dir, 0)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("FromPEFT: %v, want an error containing %q", err, c.want)
			}
			for _, l := range m.Linears() {
				if l.Adapter != nil {
					t.Fatalf("a refused adapter left %s adapted", l.Name)
				}
			}
		})
	}
}

// LoadPEFT into an applied LoRA accepts only an adapter describing exactly its layers.
func TestLoadPEFTNeedsTheSameLayers(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		dir  string
		want string // "" = loads
	}{
		{Config{R: 2, Alpha: 4, Targets: []models.LayerType{models.Query, models.Value}}, "list_subset", ""},
		{Config{R: 2, Alpha: 4}, "list_subset", "this LoRA adapts bert.encoder.layer.0.attention.self.key, the adapter does not"},
		{Config{R: 2, Alpha: 2, Targets: []models.LayerType{models.Query, models.Value}}, "list_subset", "scaling 2, this LoRA r=2 scaling 1"},
		{Config{R: 2, Alpha: 4, Targets: []models.LayerType{models.Query}}, "list_subset", "the adapter adapts bert.encoder.layer.0.attention.self.value, this LoRA does not"},
	} {
		m, _, err := bert.Load(fixtures, bert.Classification, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		lo, _ := New(c.cfg)
		if err := lo.Apply(m); err != nil {
			t.Fatal(err)
		}
		err = lo.LoadPEFT(filepath.Join(peftCases, c.dir))
		if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%+v ← %s: %v, want %q", c.cfg, c.dir, err, c.want)
		}
	}
}

// editedAdapter copies an adapter folder with some adapter_config.json keys changed.
func editedAdapter(t *testing.T, dir string, edit map[string]any) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "adapter_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range edit {
		if v == nil {
			delete(cfg, k)
		} else {
			cfg[k] = v
		}
	}
	out := t.TempDir()
	raw, _ = json.Marshal(cfg)
	tensors, err := os.ReadFile(filepath.Join(dir, "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(out, "adapter_config.json"), raw, 0o644)
	os.WriteFile(filepath.Join(out, "adapter_model.safetensors"), tensors, 0o644)
	return out
}
