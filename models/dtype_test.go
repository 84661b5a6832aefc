package models_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/models/vit"
)

// family loads a model folder the way the runner does.
type family struct {
	name, fixture, weight string // weight: a tensor of the fixture that is a trained weight
	load                  func(dir string) error
}

var families = []family{
	{"bert", "testdata/bert", "bert.encoder.layer.0.attention.self.query.weight",
		func(dir string) error { _, _, err := bert.Load(dir, bert.Classification, 0, 1); return err }},
	{"deberta", "testdata/deberta/v3style", "deberta.encoder.layer.1.intermediate.dense.bias",
		func(dir string) error { _, _, err := deberta.Load(dir, deberta.Classification, 0, 1); return err }},
	{"vit", "testdata/vit", "vit.embeddings.patch_embeddings.projection.weight",
		func(dir string) error { _, _, err := vit.Load(dir, 0, 1); return err }},
}

// withDTypes writes a model folder: the fixture's config.json and its weights, each
// converted to the dtype retype gives it (the fixture's own when retype returns false).
func withDTypes(t *testing.T, f family, retype func(name string) (gotch.DType, bool)) string {
	t.Helper()
	dir := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(f.fixture, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	tensors, err := safetensors.Load(filepath.Join(f.fixture, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tensors[f.weight]; !ok {
		t.Fatalf("%s has no tensor %s", f.fixture, f.weight)
	}
	for name, x := range tensors {
		if d, ok := retype(name); ok {
			tensors[name] = x.MustTotype(d, true)
		}
	}
	if err := safetensors.Save(filepath.Join(dir, "model.safetensors"), tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	for _, x := range tensors {
		x.MustDrop()
	}
	return dir
}

// An integer or bool tensor where a weight belongs is refused by every family, naming
// the file, the tensor, its dtype and what is expected; it used to be cast to float32
// and trained on.
func TestIntegerWeightRefused(t *testing.T) {
	for _, f := range families {
		for _, d := range []gotch.DType{gotch.Int, gotch.Int64, gotch.Int16, gotch.Int8, gotch.Uint8, gotch.Bool} {
			dir := withDTypes(t, f, func(name string) (gotch.DType, bool) { return d, name == f.weight })
			err := f.load(dir)
			want := "tensors of a dtype the model cannot train, expected a floating-point weight (F32, F16, BF16 or F64): " +
				f.weight + " is " + safetensors.DTypeName(d)
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), filepath.Join(dir, "model.safetensors")) {
				t.Errorf("%s with a %v weight: error %v, want one naming the file and containing %q", f.name, d, err, want)
			}
		}
	}
}

// Floating-point checkpoints of every width load (as transformers loads an F16 or BF16
// checkpoint into a float32 model).
func TestFloatingWeightsAccepted(t *testing.T) {
	for _, f := range families {
		for _, d := range []gotch.DType{gotch.Half, gotch.BFloat16, gotch.Double} {
			dir := withDTypes(t, f, func(string) (gotch.DType, bool) { return d, true })
			if err := f.load(dir); err != nil {
				t.Errorf("%s, every tensor %v: %v", f.name, d, err)
			}
		}
	}
}

// Buffers a model ignores may be integers (position_ids is I64 in many checkpoints).
func TestIgnoredIntegerBufferAccepted(t *testing.T) {
	f := families[0]
	dir := withDTypes(t, f, func(string) (gotch.DType, bool) { return 0, false })
	path := filepath.Join(dir, "model.safetensors")
	tensors, err := safetensors.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tensors["bert.embeddings.position_ids"] = ts.MustArange(ts.IntScalar(40), gotch.Int64, gotch.CPU).MustUnsqueeze(0, true)
	if err := safetensors.Save(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.load(dir); err != nil {
		t.Errorf("an I64 position_ids buffer: %v", err)
	}
}
