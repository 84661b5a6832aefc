package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/vectorfit/harness/reports"
)

// -group-by-length reaches the glue suite's batches: the same tiny run with the flag
// trains on another data order (another loss curve), records group_by_length and so
// has another settings hash; without the flag the key is absent, which keeps the
// settings hashes of records written before the flag existed. Suites that do not
// group by length refuse the flag.
func TestGroupByLengthFlag(t *testing.T) {
	base := []string{"-task", "sst2", "-method", "lora", "-model", "tiny", "-data", "synthetic",
		"-synthetic-train", "128", "-synthetic-dev", "16", "-batch", "8", "-epochs", "1", "-eval-every", "4", "-quiet"}
	runOnce := func(extra ...string) reports.Record {
		t.Helper()
		out := t.TempDir()
		var stderr bytes.Buffer
		if err := run(append(append(slices.Clone(base), extra...), "-out", out), &bytes.Buffer{}, &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", extra, err, stderr.String())
		}
		recs, err := reports.ReadDir(out)
		if err != nil || len(recs) != 1 {
			t.Fatalf("%v: %d records, %v", extra, len(recs), err)
		}
		return recs[0]
	}
	off, on := runOnce(), runOnce("-group-by-length")
	if _, ok := off.Hyperparameters["group_by_length"]; ok {
		t.Errorf("without the flag the record has group_by_length = %v; want no key (old settings hashes)", off.Hyperparameters["group_by_length"])
	}
	if v, ok := on.Hyperparameters["group_by_length"]; !ok || v != true {
		t.Errorf("with -group-by-length the record has group_by_length = %v (present %v), want true", v, ok)
	}
	if off.SettingsHash == on.SettingsHash {
		t.Error("the settings hash does not change with -group-by-length")
	}
	lossOf := func(r reports.Record) []float64 {
		var out []float64
		for _, e := range r.History {
			out = append(out, e.Loss)
		}
		return out
	}
	if a, b := lossOf(off), lossOf(on); len(a) < 2 || slices.Equal(a, b) {
		t.Errorf("losses %v without the flag, %v with it: want two different curves", a, b)
	}
	if again := runOnce("-group-by-length"); !slices.Equal(lossOf(again), lossOf(on)) {
		t.Errorf("two runs with -group-by-length: losses %v and %v, want the same order", lossOf(on), lossOf(again))
	}

	var stderr bytes.Buffer
	err := run([]string{"-suite", "vision", "-group-by-length", "-model", "tiny", "-out", t.TempDir()}, &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "-group-by-length with -suite vision") {
		t.Errorf("-suite vision -group-by-length: %v, want an error naming the flag", err)
	}
}
