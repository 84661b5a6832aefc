package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vectorfit/harness/reports"
)

// A ViT checkpoint whose image processor resizes to another size than its config.json's
// image_size (16 here, the processor 24×24) fails before training with an error naming
// -interpolate-pos; with the flag it trains on interpolated position embeddings, and
// the record says so.
func TestVisionInterpolatePosFlag(t *testing.T) {
	data := "../../shared/data/mnist"
	if _, err := os.Stat(data); err != nil {
		t.Skipf("no shared data at %s", data)
	}
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		raw, err := os.ReadFile(filepath.Join("../models/testdata/vit", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	proc := `{"image_processor_type": "ViTImageProcessor", "do_resize": true, "do_rescale": true, "do_normalize": true,
		"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "rescale_factor": 0.00392156862745098,
		"size": {"height": 24, "width": 24}}`
	if err := os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(proc), 0o644); err != nil {
		t.Fatal(err)
	}
	args := func(out string, extra ...string) []string {
		return append([]string{"-suite", "vision", "-task", "mnist", "-method", "fullft", "-model", dir, "-data", data,
			"-train-split", "test", "-dev-fraction", "0.25", "-max-train", "32", "-max-steps", "1", "-batch", "8",
			"-out", out, "-quiet"}, extra...)
	}
	var stdout, stderr bytes.Buffer
	err := run(args(t.TempDir()), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "image 24×24") || !strings.Contains(err.Error(), "-interpolate-pos") {
		t.Fatalf("24×24 images on a 16×16 ViT without -interpolate-pos: error %v, want one naming the sizes and the flag", err)
	}
	out := t.TempDir()
	if err := run(args(out, "-interpolate-pos"), &stdout, &stderr); err != nil {
		t.Fatalf("with -interpolate-pos: %v\n%s", err, stderr.String())
	}
	recs, err := reports.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	if got := recs[0].Hyperparameters["interpolate_pos_encoding"]; got != true {
		t.Errorf("hyperparameters say interpolate_pos_encoding %v, want true", got)
	}
}
