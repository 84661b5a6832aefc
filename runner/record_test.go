package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vectorfit/harness/reports"
)

// A go run binary is recorded as "go run ./runner"; any other args[0] as it is.
func TestTypedCommand(t *testing.T) {
	for _, c := range []struct{ args, want []string }{
		{[]string{"/tmp/go-build1234567/b001/exe/runner", "-task", "rte"}, []string{"go", "run", "./runner", "-task", "rte"}},
		{[]string{"/var/cache/gotmp/go-build99/b001/exe/runner"}, []string{"go", "run", "./runner"}},
		{[]string{"./runner", "-task", "rte"}, []string{"./runner", "-task", "rte"}},
		{[]string{"/usr/local/bin/runner", "-out", "/tmp/go-build-results"}, []string{"/usr/local/bin/runner", "-out", "/tmp/go-build-results"}},
		{[]string{"runner"}, []string{"runner"}},
	} {
		if got := typedCommand(c.args); !slices.Equal(got, c.want) {
			t.Errorf("typedCommand(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}

// A warm-up longer than the run is warned about on stderr before training (even with
// -quiet) and flagged in the record with the numbers; -warmup-ratio scales with the run.
// The record's command is what the test passed as os.Args.
func TestWarmupBeyondTheRun(t *testing.T) {
	base := []string{"-task", "sst2", "-method", "lora", "-model", "tiny", "-data", "synthetic",
		"-synthetic-train", "64", "-synthetic-dev", "16", "-batch", "16", "-epochs", "2", "-quiet"}
	for _, c := range []struct {
		extra          []string
		total, warmup  int
		exceeds, warns bool
	}{
		{[]string{"-warmup", "1000"}, 8, 1000, true, true}, // 64/16 × 2 epochs = 8 steps
		{[]string{"-warmup", "8", "-grad-accum", "2"}, 4, 8, true, true},
		{[]string{"-warmup", "1000", "-max-steps", "3"}, 3, 1000, true, true},
		{[]string{"-warmup", "2"}, 8, 2, false, false},
		{[]string{"-warmup-ratio", "0.3"}, 8, 3, false, false}, // ceil(0.3 × 8)
	} {
		out := t.TempDir()
		var stdout, stderr bytes.Buffer
		if err := run(append(append(slices.Clone(base), c.extra...), "-out", out), &stdout, &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", c.extra, err, stderr.String())
		}
		recs, err := reports.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		s := recs[0].Schedule
		if s.TotalSteps != c.total || s.WarmupSteps != c.warmup || s.WarmupExceedsSteps != c.exceeds {
			t.Errorf("%v: record schedule %+v, want total %d warm-up %d exceeds %v", c.extra, s, c.total, c.warmup, c.exceeds)
		}
		if warned := strings.Contains(stderr.String(), "warning: warm-up of"); warned != c.warns {
			t.Errorf("%v: warned %v, want %v; stderr:\n%s", c.extra, warned, c.warns, stderr.String())
		}
		if c.warns && !strings.Contains(stderr.String(), "-warmup-ratio") {
			t.Errorf("%v: the warning names no runner flag to fix it:\n%s", c.extra, stderr.String())
		}
		if !slices.Equal(recs[0].Command, typedCommand(os.Args)) {
			t.Errorf("command %q, want %q", recs[0].Command, typedCommand(os.Args))
		}
	}
	var stderr bytes.Buffer
	if err := run(append(slices.Clone(base), "-warmup", "5", "-warmup-ratio", "0.1", "-out", t.TempDir()), &bytes.Buffer{}, &stderr); err == nil || !strings.Contains(err.Error(), "set one") {
		t.Errorf("-warmup with -warmup-ratio: %v, want an error", err)
	}
}

// -max-train shortens the training split only: the dev split is read whole.
func TestMaxTrainKeepsTheWholeDevSplit(t *testing.T) {
	if _, err := os.Stat(sharedGLUE); err != nil {
		t.Skipf("no shared GLUE data at %s", sharedGLUE)
	}
	p, err := glueSuite{}.prepare(Options{Data: sharedGLUE, MaxTrain: 10}, "rte")
	if err != nil {
		t.Fatal(err)
	}
	g := p.(*glueTask)
	// The shared RTE sample: 2490 training rows, 139 dev rows.
	if len(g.train.Examples) != 10 || len(g.dev[0].Examples) != 139 {
		t.Errorf("train %d, dev %d examples; want 10 and 139", len(g.train.Examples), len(g.dev[0].Examples))
	}
	if g.train.Examples[9].Idx != 9 || filepath.Base(g.train.Path) != "train.tsv" {
		t.Errorf("-max-train 10 did not take the file's first 10 rows: last Idx %d of %s", g.train.Examples[9].Idx, g.train.Path)
	}
}
