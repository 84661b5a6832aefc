package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vectorfit/harness/suites/nlg"
	"github.com/vectorfit/harness/suites/squad"
)

// score reads only the split it scores: a folder holding dev.tsv (GLUE) or the dev JSON
// (SQuAD) and no training file scores, and a folder without the dev file is an error
// naming the file expected.
func TestScoreNeedsOnlyTheDevSplit(t *testing.T) {
	if _, err := os.Stat(sharedGLUE); err != nil {
		t.Skipf("no shared GLUE data at %s", sharedGLUE)
	}
	squadDev := "../../shared/data/squad/dev-v2.0.subset.json"
	devOnly := t.TempDir()
	copyFile(t, filepath.Join(sharedGLUE, "RTE", "dev.tsv"), filepath.Join(devOnly, "RTE", "dev.tsv"))
	copyFile(t, squadDev, filepath.Join(devOnly, "squad", "dev-v2.0.json"))
	empty := t.TempDir()
	// One prediction per RTE dev row; the shared sample has 139 rows, all "entailment".
	var preds strings.Builder
	for i := range 139 {
		preds.WriteString(`{"idx": ` + strconv.Itoa(i) + `, "prediction": "entailment"}` + "\n")
	}
	gluePred := filepath.Join(t.TempDir(), "rte.jsonl")
	os.WriteFile(gluePred, []byte(preds.String()), 0o644)
	// Empty answers everywhere: the official v2.0 script scores them right on exactly
	// the unanswerable questions (787 of the sample's 1658).
	ds, err := squad.Load(squadDev, "")
	if err != nil {
		t.Fatal(err)
	}
	empties := map[string]string{}
	for _, ex := range ds.Examples {
		empties[ex.ID] = ""
	}
	raw, _ := json.Marshal(empties)
	squadPred := filepath.Join(t.TempDir(), "predictions.json")
	os.WriteFile(squadPred, raw, 0o644)

	for _, c := range []struct {
		name    string
		args    []string
		wantOut string // a line of stdout, or
		wantErr string // a piece of the error
	}{
		{"glue dev only", []string{"-suite", "glue", "-task", "rte", "-data", devOnly, "-pred", gluePred}, "(dev.tsv, 139 examples)", ""},
		{"glue dev only, task folder", []string{"-suite", "glue", "-task", "rte", "-data", filepath.Join(devOnly, "RTE"), "-pred", gluePred}, "(dev.tsv, 139 examples)", ""},
		{"glue no dev", []string{"-suite", "glue", "-task", "rte", "-data", empty, "-pred", gluePred}, "", filepath.Join(empty, "RTE", "dev.tsv")},
		{"glue wrong split", []string{"-suite", "glue", "-task", "rte", "-split", "validation_matched", "-data", devOnly, "-pred", gluePred}, "", `-split "validation_matched"`},
		{"squad folder dev only", []string{"-suite", "squad", "-data", filepath.Join(devOnly, "squad"), "-pred", squadPred}, `"exact": 47.46682750301568`, ""},
		{"squad no dev", []string{"-suite", "squad", "-version", "2.0", "-data", empty, "-pred", squadPred}, "", filepath.Join(empty, "dev-v2.0.json")},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(append([]string{"score"}, c.args...), &stdout, &stderr)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("score: %v", err)
			case c.wantErr == "" && !strings.Contains(stdout.String(), c.wantOut):
				t.Errorf("score printed\n%s\nwant %q in it", stdout.String(), c.wantOut)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("error %v, want one naming %q", err, c.wantErr)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	raw, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// score -suite nlg prints ROUGE ×100 of a prediction file: the references themselves
// score 100.
func TestScoreNLG(t *testing.T) {
	data := "../../shared/data/xsum/test-sample.jsonl"
	task, _ := nlg.Lookup("xsum")
	split, err := nlg.ReadFile(task, "test", data, nlg.LoadOptions{})
	if err != nil {
		t.Skipf("no shared XSum sample: %v", err)
	}
	var ids, preds []string
	for _, ex := range split.Examples {
		ids, preds = append(ids, ex.ID), append(preds, ex.Target)
	}
	pred := filepath.Join(t.TempDir(), "p.jsonl")
	if err := nlg.WritePredictions(pred, ids, preds); err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := run([]string{"score", "-suite", "nlg", "-task", "xsum", "-data", data, "-split", "test", "-pred", pred}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"xsum test (test-sample.jsonl, 1000 examples)", "rouge1\t100.00", "rouge2\t100.00", "rougeL\t100.00", "rougeLsum\t100.00"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
}
