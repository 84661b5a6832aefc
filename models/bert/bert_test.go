package bert

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

const fixtures = "../testdata/bert"

func loadFixtureBatch(t *testing.T) (models.Batch, map[string]*ts.Tensor) {
	t.Helper()
	io := compare.LoadIO(t, fixtures)
	return models.Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], TokenTypeIDs: io["token_type_ids"]}, io
}

// The forward pass equals transformers' BertForSequenceClassification (eval mode) on the
// same weights and padded sentence-pair inputs; see scripts/fixtures/gen_bert.py.
func TestForwardMatchesTransformers(t *testing.T) {
	m, rep, err := Load(fixtures, Classification, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NewlyInitialised) != 0 {
		t.Fatalf("fixture has a head, yet %v were initialised", rep.NewlyInitialised)
	}
	m.SetTraining(false)
	b, want := loadFixtureBatch(t)
	checks := []struct {
		name string
		got  *ts.Tensor
	}{
		{"hidden_states_0", m.Embed(b)},
		{"last_hidden_state", m.Encode(b)},
		{"pooler_output", m.Pooled(b)},
		{"logits", m.Forward(b)},
	}
	for _, c := range checks {
		compare.Close(t, c.name, c.got, want[c.name], 1e-4)
	}
	compare.HiddenStates(t, m.HiddenStates(b), want, "", 1e-4)
}

// Training mode turns dropout on: outputs change, so SetTraining really switches it.
func TestDropoutOnlyInTraining(t *testing.T) {
	m, _, err := Load(fixtures, Classification, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, want := loadFixtureBatch(t)
	m.SetTraining(true)
	if d := compare.MaxAbsDiff(t, "logits", m.Forward(b), want["logits"]); d < 1e-3 {
		t.Errorf("training-mode logits equal eval-mode logits (diff %g): dropout is off", d)
	}
}

func TestLoadReportsMismatches(t *testing.T) {
	ckpt, err := safetensors.Load(filepath.Join(fixtures, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(filepath.Join(fixtures, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	delete(ckpt, "bert.encoder.layer.1.output.dense.bias")
	ckpt["bert.encoder.layer.0.attention.self.key.weight"] = ckpt["bert.encoder.layer.0.attention.self.key.weight"].MustNarrow(0, 0, 16, false)
	ckpt["bert.encoder.extra.weight"] = ckpt["classifier.bias"]
	ckpt["cls.predictions.bias"] = ckpt["classifier.bias"]
	_, _, err = FromTensors(c, Classification, ckpt, "model.safetensors", 1)
	if err == nil {
		t.Fatal("no error for a checkpoint with a missing, a mis-shaped and an unexpected tensor")
	}
	for _, want := range []string{
		"model.safetensors", "missing tensors: bert.encoder.layer.1.output.dense.bias",
		"unexpected tensors: bert.encoder.extra.weight",
		"mis-shaped tensors: bert.encoder.layer.0.attention.self.key.weight: checkpoint [16 32], model [32 32]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "cls.predictions") {
		t.Errorf("error %q lists a pre-training head tensor, which is to be ignored", err)
	}
}

// A base checkpoint (no head) loads with a fresh head, reported as such.
func TestLoadBaseCheckpointInitialisesHead(t *testing.T) {
	ckpt, err := safetensors.Load(filepath.Join(fixtures, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := LoadConfig(filepath.Join(fixtures, "config.json"))
	delete(ckpt, "classifier.weight")
	delete(ckpt, "classifier.bias")
	c.NumLabels = 5
	m, rep, err := FromTensors(c, Classification, ckpt, "model.safetensors", 1)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.NewlyInitialised, ",") != "classifier.weight,classifier.bias" {
		t.Errorf("NewlyInitialised = %v", rep.NewlyInitialised)
	}
	w, _ := m.Param("classifier.weight")
	if got := w.MustSize(); got[0] != 5 {
		t.Errorf("classifier is %v, want 5 labels", got)
	}
}
