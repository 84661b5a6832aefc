package clip

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/deberta"
)

// tol is the bound on |ours − transformers|.
const tol = 1e-4

func fixtureDir(name string) string { return filepath.Join("testdata", name) }

func loadText(t *testing.T, name string) (*TextModel, map[string]*ts.Tensor) {
	t.Helper()
	m, rep, err := LoadText(fixtureDir(name))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NewlyInitialised)+len(rep.Ignored) != 0 {
		t.Fatalf("newly initialised %v, ignored %v; want none", rep.NewlyInitialised, rep.Ignored)
	}
	m.SetTraining(false)
	return m, compare.LoadIO(t, fixtureDir(name))
}

// CLIPTextModel's hidden states, last_hidden_state and pooler_output, without and with
// an attention mask: text_quick is SD v1.4's layout (quick_gelu, eos_token_id 2: pooled
// at argmax(input_ids)) on real prompts tokenised as SD does, from model.safetensors;
// text_gelu has gelu and eos_token_id 41 (pooled at the first 41; one row has two),
// from pytorch_model.bin.
func TestTextMatchesTransformers(t *testing.T) {
	for _, name := range []string{"text_quick", "text_gelu"} {
		t.Run(name, func(t *testing.T) {
			m, io := loadText(t, name)
			if err := m.Config.CheckIDs(io["input_ids"]); err != nil {
				t.Fatal(err)
			}
			var out, masked TextOutput
			var states []*ts.Tensor
			models.NoGrad(func() {
				out, states = m.HiddenStates(io["input_ids"], nil)
				masked = m.Forward(io["input_ids"], io["attention_mask"])
			})
			compare.HiddenStates(t, states, io, "", tol)
			compare.Close(t, "last_hidden_state", out.LastHiddenState, io["last_hidden_state"], tol)
			compare.Close(t, "pooler_output", out.Pooled, io["pooler_output"], tol)
			compare.Close(t, "last_hidden_state_masked", masked.LastHiddenState, io["last_hidden_state_masked"], tol)
			compare.Close(t, "pooler_output_masked", masked.Pooled, io["pooler_output_masked"], tol)
		})
	}
}

// The references must tell the pooling rules and the mask apart, or the comparisons
// above test nothing: the masked run differs from the unmasked one (text_gelu has
// padding inside the causal window), and in text_gelu the first-EOS position is not the
// argmax of the ids.
func TestFixturesDiscriminate(t *testing.T) {
	_, io := loadText(t, "text_gelu")
	if d := compare.MaxAbsDiff(t, "masked", io["last_hidden_state"], io["last_hidden_state_masked"]); d < 1e-3 {
		t.Errorf("the attention mask changes the outputs by only %g", d)
	}
	first := eosPositions(io["input_ids"], 41).Int64Values()
	argmax := eosPositions(io["input_ids"], 2).Int64Values()
	if slices.Equal(first, argmax) {
		t.Errorf("first-EOS positions %v equal argmax positions %v", first, argmax)
	}
}

// Every linear is exposed once by its Hugging Face name with its layer type, 6 a layer.
func TestTextLinears(t *testing.T) {
	m, _ := loadText(t, "text_quick")
	ls := m.Linears()
	if len(ls) != 2*6 {
		t.Fatalf("%d linears, want 12", len(ls))
	}
	want := map[string]models.LayerType{
		"text_model.encoder.layers.1.self_attn.q_proj":   models.Query,
		"text_model.encoder.layers.1.self_attn.k_proj":   models.Key,
		"text_model.encoder.layers.1.self_attn.v_proj":   models.Value,
		"text_model.encoder.layers.1.self_attn.out_proj": models.AttnOut,
		"text_model.encoder.layers.1.mlp.fc1":            models.FFNUp,
		"text_model.encoder.layers.1.mlp.fc2":            models.FFNDown,
	}
	for _, l := range ls[6:] {
		if want[l.Name] != l.Type {
			t.Errorf("%s has type %q, want %q", l.Name, l.Type, want[l.Name])
		}
		if _, ok := m.Param(l.Name + ".weight"); !ok {
			t.Errorf("%s.weight is not a parameter", l.Name)
		}
	}
}

// The text encoder loads from a full CLIP folder too (its text_config), ignoring the
// vision tower and projections, and gives CLIPModel's text tower outputs.
func TestTextFromFullCLIP(t *testing.T) {
	m, rep, err := LoadText(fixtureDir("clip"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Ignored) == 0 || len(rep.NewlyInitialised) != 0 {
		t.Errorf("ignored %d, newly initialised %v: want the vision tower ignored", len(rep.Ignored), rep.NewlyInitialised)
	}
	io := compare.LoadIO(t, fixtureDir("clip"))
	var out TextOutput
	models.NoGrad(func() { out = m.Forward(io["input_ids"], nil) })
	compare.Close(t, "text_last_hidden_state", out.LastHiddenState, io["text_last_hidden_state"], tol)
	compare.Close(t, "text_pooler_output", out.Pooled, io["text_pooler_output"], tol)
}

func TestConfigErrors(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(fixtureDir("text_quick"), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) []byte { return []byte(strings.Replace(string(raw), old, new, 1)) }
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"model type", edit(`"clip_text_model"`, `"bert"`), `model_type "bert": want clip_text_model`},
		{"activation", edit(`"quick_gelu"`, `"swish"`), `hidden_act "swish": want one of quick_gelu`},
		{"heads", edit(`"num_attention_heads": 4`, `"num_attention_heads": 5`), "hidden_size 32 is not a multiple of num_attention_heads 5"},
		{"eos", edit(`"eos_token_id": 2`, `"eos_token_id": 5000`), "eos_token_id = 5000, want 2 (legacy argmax pooling) or an id in [0, vocab_size 914)"},
		{"not json", []byte("{"), "x.json: not a config.json"},
		{"wrong type", edit(`"hidden_size": 32`, `"hidden_size": "32"`), "x.json: not a CLIP text config.json"},
		{"full clip text_config", []byte(`{"model_type": "clip", "text_config": {"hidden_act": "swish"}}`), `hidden_act "swish"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseTextConfig(c.raw, "x.json")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := ParseConfig([]byte(`{"model_type": "clip", "vision_config": {"image_size": 30, "patch_size": 8}}`), "c.json"); err == nil ||
		!strings.Contains(err.Error(), "c.json: vision_config.image_size 30 is not a multiple of patch_size 8") {
		t.Errorf("image size error %v", err)
	}
}

func TestCheckpointErrors(t *testing.T) {
	dir := fixtureDir("text_quick")
	c, err := LoadTextConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	fresh := func() map[string]*ts.Tensor {
		m, err := deberta.ReadCheckpoint(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	const ln = "text_model.final_layer_norm.weight"
	cases := []struct {
		name string
		edit func(map[string]*ts.Tensor)
		want string
	}{
		{"missing", func(m map[string]*ts.Tensor) { delete(m, ln) }, "src does not fit a CLIP text model with 2 layers, hidden 32, vocab 914, 77 positions: missing tensors: " + ln},
		{"shape", func(m map[string]*ts.Tensor) { m[ln] = ts.MustOnes([]int64{31}, m[ln].DType(), m[ln].MustDevice()) }, "mis-shaped tensors: " + ln + ": checkpoint [31], model [32]"},
		{"unexpected", func(m map[string]*ts.Tensor) { m["text_model.extra"] = m[ln] }, "unexpected tensors: text_model.extra"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ck := fresh()
			tc.edit(ck)
			_, _, err := TextFromTensors(c, ck, "src")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// The position_ids buffer older checkpoints carry is ignored, as transformers does.
	ck := fresh()
	ck["text_model.embeddings.position_ids"] = ts.MustArange(ts.IntScalar(77), ck[ln].DType(), ck[ln].MustDevice())
	if _, rep, err := TextFromTensors(c, ck, "src"); err != nil || len(rep.Ignored) != 1 {
		t.Errorf("position_ids: error %v, ignored %v", err, rep.Ignored)
	}
}
