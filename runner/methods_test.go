package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/reports"
)

// Every registered method (the ablations too) trains through the runner on every
// suite's tiny model, two steps each, and `runner report` puts them all in one table:
// a method needs no change in any suite.
func TestEveryMethodOnEverySuite(t *testing.T) {
	all := strings.Join(registry.Names(), ",")
	suites := []struct {
		name string
		args []string
	}{
		{"glue", []string{"-suite", "glue", "-task", "rte", "-data", "synthetic", "-synthetic-train", "32", "-synthetic-dev", "16"}},
		{"squad", []string{"-suite", "squad", "-version", "1.1", "-train-data", "../../shared/data/squad/dev-v1.1.subset.json",
			"-dev-data", "../../shared/data/squad/dev-v1.1.subset.json", "-allow-dev-overlap", "-max-train", "16", "-max-dev", "8",
			"-max-len", "96", "-doc-stride", "32"}},
		{"vision", []string{"-suite", "vision", "-task", "mnist", "-data", "../../shared/data/mnist", "-train-split", "test",
			"-dev-fraction", "0.2", "-max-train", "32", "-max-dev", "16"}},
		{"nlg", []string{"-suite", "nlg", "-task", "xsum", "-data", "synthetic", "-synthetic-train", "16", "-synthetic-dev", "4",
			"-max-len", "64", "-target-len", "8", "-beams", "1"}},
		{"diffusion", []string{"-suite", "diffusion", "-data", "synthetic", "-class-images", "2", "-sample-steps", "1",
			"-images-per-prompt", "1", "-max-prompts", "1"}},
	}
	for _, d := range []string{"../../shared/data/mnist", "../../shared/data/squad"} {
		if _, err := os.Stat(d); err != nil {
			t.Skipf("no shared data: %v", err)
		}
	}
	out := t.TempDir()
	for _, s := range suites {
		var stderr bytes.Buffer
		args := append([]string{"-method", all, "-model", "tiny", "-max-steps", "2", "-batch", "8", "-warmup", "0",
			"-out", out, "-quiet", "-fail-fast"}, s.args...)
		if err := run(args, &bytes.Buffer{}, &stderr); err != nil {
			t.Fatalf("%s: %v\n%s", s.name, err, stderr.String())
		}
	}
	recs, err := reports.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(registry.Names()) * len(suites); len(recs) != want {
		t.Fatalf("%d records, want %d (every method on every suite)", len(recs), want)
	}
	for _, r := range recs {
		if r.Status != reports.StatusFinished || r.Timing.Steps != 2 || r.Params.Adapter == 0 {
			t.Errorf("%s/%s %s: status %s, %d steps, %d adapter parameters", r.Suite, r.Task, r.Method, r.Status, r.Timing.Steps, r.Params.Adapter)
		}
	}
	var stdout bytes.Buffer
	if err := run([]string{"report", "-in", out}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"BitFit", "AdaLoRA", "SVFT", "Adapter^H", "Adapter^P", "PiSSA", "DoRA", "VectorFit w/o AVF", "VectorFit (bias only)"} {
		if !strings.Contains(stdout.String(), "| "+name+" ") {
			t.Errorf("the report has no row %q:\n%s", name, stdout.String())
		}
	}
}
