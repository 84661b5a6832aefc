package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/suites/nlg"
)

// The summarisation suite end to end on the tiny BART: synthetic data and the shared
// XSum sample (a held-out fifth as dev), every method, records with the four ROUGE
// F-measures, predictions beside them that `runner score` rescores to the record's
// best ROUGE.
func TestNLGEndToEnd(t *testing.T) {
	xsum := "../../shared/data/xsum/test-sample.jsonl"
	if _, err := os.Stat(xsum); err != nil {
		t.Skipf("no shared XSum sample: %v", err)
	}
	for _, data := range [][]string{
		{"-data", "synthetic", "-synthetic-train", "48", "-synthetic-dev", "8"},
		{"-data", xsum, "-train-split", "test", "-dev-fraction", "0.01", "-max-train", "48"},
	} {
		out := t.TempDir()
		args := append([]string{"-suite", "nlg", "-task", "xsum", "-method", "vectorfit,lora,fullft", "-model", "tiny",
			"-max-len", "96", "-target-len", "16", "-beams", "2", "-max-steps", "3", "-batch", "16", "-warmup", "0",
			"-out", out, "-quiet"}, data...)
		var stdout, stderr bytes.Buffer
		if err := run(args, &stdout, &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", data, err, stderr.String())
		}
		recs, err := reports.ReadDir(out)
		if err != nil || len(recs) != 3 {
			t.Fatalf("%v: %d records, %v", data, len(recs), err)
		}
		for _, r := range recs {
			if r.MainScore != "rouge2" || len(r.Scores) != 4 || r.Params.Adapter == 0 || len(r.Ranks) == 0 || r.Timing.Steps != 3 {
				t.Errorf("%v: incomplete record %s: scores %v, params %+v, %d rank rows, %d steps", data, r.FileName(), r.Scores, r.Params, len(r.Ranks), r.Timing.Steps)
			}
			if data[1] == "synthetic" {
				continue
			}
			// The best evaluation's predictions rescore to the record's scores.
			pred := filepath.Join(out, "predictions", strings.TrimSuffix(r.FileName(), ".json"), "predictions.jsonl")
			task, _ := nlg.Lookup("xsum")
			all, err := nlg.ReadFile(task, "test", xsum, nlg.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, dev, err := all.HoldOut(0.01, 1)
			if err != nil {
				t.Fatal(err)
			}
			got, err := nlg.ScoreFile(dev, pred)
			if err != nil {
				t.Fatalf("%s: %v", r.FileName(), err)
			}
			for k, v := range r.Scores {
				if got[k] != v {
					t.Errorf("%s: %s rescored %v, recorded %v", r.FileName(), k, got[k], v)
				}
			}
		}
		if !strings.Contains(stdout.String(), "VectorFit") || !strings.Contains(stdout.String(), "Full FT") {
			t.Errorf("%v: the table lacks the methods:\n%s", data, stdout.String())
		}
	}
}

// The three methods learn the synthetic copy-the-first-sentence task from the
// pre-trained tiny BART (tiny_bart.go): each ends well above the pre-trained model's
// own score, measured as a run of one step at a learning rate of 1e-12 (it copies
// the whole document: ROUGE-2 ≈ 0.37; the methods reach ≈ 0.6 here).
func TestNLGSyntheticLearns(t *testing.T) {
	common := []string{"-suite", "nlg", "-task", "xsum", "-model", "tiny", "-data", "synthetic",
		"-synthetic-train", "256", "-synthetic-dev", "32", "-max-len", "64", "-target-len", "24", "-beams", "1",
		"-batch", "16", "-quiet"}
	score := func(extra ...string) map[string]float64 {
		out := t.TempDir()
		var stderr bytes.Buffer
		if err := run(append(append(common, "-out", out), extra...), &bytes.Buffer{}, &stderr); err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		recs, err := reports.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, r := range recs {
			got[r.Method] = r.Scores["rouge2"]
			if !strings.Contains(r.Model.Source, "pre-trained by the harness") || r.Model.WeightsSHA256 == "" {
				t.Errorf("%s: model %+v does not say it is the pre-trained tiny BART", r.FileName(), r.Model)
			}
		}
		return got
	}
	before := score("-method", "fullft", "-max-steps", "1", "-warmup", "0", "-lr-fullft", "1e-12")["fullft"]
	after := score("-method", "vectorfit,lora,fullft", "-epochs", "20", "-warmup", "30", "-eval-every", "160",
		"-lr-fullft", "1e-2", "-lr-lora", "2e-2", "-lr-vectorfit", "5e-2")
	t.Logf("ROUGE-2 of the pre-trained model %.3f; after fine-tuning %v", before, after)
	if before > 0.45 {
		t.Errorf("the pre-trained model already scores ROUGE-2 %.3f: the test cannot show learning", before)
	}
	for _, m := range []string{"vectorfit", "lora", "fullft"} {
		if after[m] < before+0.15 {
			t.Errorf("%s: ROUGE-2 %.3f after 320 steps, want ≥ %.3f (the pre-trained model's %.3f + 0.15)", m, after[m], before+0.15, before)
		}
	}
}
