package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vectorfit/harness/reports"
)

const sharedGLUE = "../../shared/data/glue"

// A short run on the real RTE and STS-B files, through the same code path a user takes:
// one record per (task, method), complete, and the report table renders from them.
func TestRealGLUEFilesEndToEnd(t *testing.T) {
	if _, err := os.Stat(sharedGLUE); err != nil {
		t.Skipf("no shared GLUE data at %s", sharedGLUE)
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"-suite", "glue", "-task", "rte,stsb", "-method", "vectorfit,lora", "-model", "tiny",
		"-data", sharedGLUE, "-max-train", "64", "-max-steps", "4", "-batch", "16", "-max-len", "64",
		"-out", out, "-quiet"}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	recs, err := reports.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4 (2 tasks × 2 methods)", len(recs))
	}
	for _, r := range recs {
		if len(r.Scores) == 0 || r.Params.Adapter == 0 || r.Timing.Steps != 4 || len(r.Ranks) != 6 || len(r.Data) != 2 || r.Data[0].SHA256 == "" {
			raw, _ := json.MarshalIndent(r, "", " ")
			t.Errorf("incomplete record %s:\n%s", r.FileName(), raw)
		}
		if _, ok := r.Scores[r.MainScore]; !ok {
			t.Errorf("%s: main score %q missing from %v", r.FileName(), r.MainScore, r.Scores)
		}
	}
	for _, want := range []string{"RTE", "STS-B", "VectorFit", "LoRA"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report table lacks %q:\n%s", want, stdout.String())
		}
	}
	var md bytes.Buffer
	if err := run([]string{"report", "-in", out}, &md, &stderr); err != nil {
		t.Fatal(err)
	}
	if md.String() != stdout.String() {
		t.Errorf("runner report differs from the table printed after training:\n%s\nvs\n%s", md.String(), stdout.String())
	}
}

// The built-in default learns: well above chance on a synthetic classification task.
func TestSyntheticLearns(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"-task", "sst2", "-method", "vectorfit", "-model", "tiny", "-data", "synthetic", "-epochs", "10", "-warmup", "20", "-lr-vectorfit", "3e-2", "-head-lr", "1e-2", "-out", out, "-quiet"}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	recs, err := reports.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if acc := recs[0].Scores["accuracy"]; acc < 0.75 {
		t.Errorf("synthetic sst2 accuracy %.3f after 10 epochs, want ≥ 0.75 (chance 0.5)", acc)
	}
}

func TestBadInputIsAClearError(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(cfg, []byte(`{"lr": 0.01, "epochz": 3}`), 0o644)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-task", "rtee"}, "rtee"},
		{[]string{"-method", "prefix"}, `unknown method "prefix"`},
		{[]string{"-vectorfit", "kk=2"}, "vectorfit has no option kk"},
		{[]string{"-seeds", "0"}, "-seeds"},
		{[]string{"-config", cfg}, "epochz"},
		{[]string{"-device", "tpu"}, "-device"},
		{[]string{"-suite", "diffusion"}, "diffusion"},
		{[]string{"-suite", "squad", "-model", "tiny", "-data", "synthetic"}, "squad has no synthetic data"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		err := run(append(tt.args, "-out", dir, "-quiet"), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run %v: error %v, want one containing %q", tt.args, err, tt.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed runs left files behind: %v", entries)
	}
}

// score reads a prediction file and prints the task's metrics, computed by the same code
// as training: here all-"entailment" predictions on the real RTE dev sample, whose
// accuracy is the share of entailment labels.
func TestScoreCommand(t *testing.T) {
	if _, err := os.Stat(sharedGLUE); err != nil {
		t.Skipf("no shared GLUE data at %s", sharedGLUE)
	}
	raw, err := os.ReadFile(filepath.Join(sharedGLUE, "RTE", "dev.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")[1:]
	entail := 0
	var preds strings.Builder
	for i, l := range lines {
		if strings.HasSuffix(strings.TrimRight(l, "\r"), "\tentailment") {
			entail++
		}
		preds.WriteString(`{"idx": ` + strconv.Itoa(i) + `, "prediction": "entailment"}` + "\n")
	}
	pred := filepath.Join(t.TempDir(), "rte.jsonl")
	os.WriteFile(pred, []byte(preds.String()), 0o644)
	var stdout, stderr bytes.Buffer
	if err := run([]string{"score", "-suite", "glue", "-task", "rte", "-data", sharedGLUE, "-pred", pred}, &stdout, &stderr); err != nil {
		t.Fatalf("score: %v", err)
	}
	want := fmt.Sprintf("accuracy\t%.6f", float64(entail)/float64(len(lines)))
	if !strings.Contains(stdout.String(), want) {
		t.Errorf("score printed\n%s\nwant a line %q", stdout.String(), want)
	}
}

// SQuAD end to end on the shared v2.0 sample: a record with the official v2.0 keys, and
// the best evaluation's predictions.json written beside the records.
func TestSQuADEndToEnd(t *testing.T) {
	dev := "../../shared/data/squad/dev-v2.0.subset.json"
	if _, err := os.Stat(dev); err != nil {
		t.Skipf("no shared SQuAD data at %s", dev)
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"-suite", "squad", "-version", "2.0", "-method", "vectorfit", "-model", "tiny", "-train-data", dev, "-dev-data", dev,
		"-max-train", "48", "-max-dev", "24", "-max-steps", "3", "-batch", "8", "-max-len", "128", "-doc-stride", "32",
		"-allow-dev-overlap", // the shared data has only the dev subset
		"-out", out, "-quiet"}
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	recs, err := reports.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	r := recs[0]
	for _, k := range []string{"exact", "f1", "HasAns_f1", "NoAns_f1", "best_f1"} {
		if _, ok := r.Scores[k]; !ok {
			t.Errorf("record scores %v lack %q", r.Scores, k)
		}
	}
	if r.MainScore != "f1" || r.Task != "squad_v2" {
		t.Errorf("main score %q task %q", r.MainScore, r.Task)
	}
	preds := filepath.Join(out, "predictions", "squad_squad-v2_vectorfit_seed1") // the record's name
	if _, err := os.Stat(filepath.Join(preds, "predictions.json")); err != nil {
		t.Fatalf("no predictions written: %v", err)
	}
}

// Vision end to end on the shared MNIST and GTSRB files with the tiny ViT: the same
// methods, unchanged, on a second architecture family.
func TestVisionEndToEnd(t *testing.T) {
	for _, c := range []struct{ task, data, split, devSplit string }{
		{"mnist", "../../shared/data/mnist", "test", ""},
		{"gtsrb", "../../shared/data/gtsrb", "train", ""},
		{"cifar10", "../../shared/data/cifar10", "train_png", "test_jpg"},
	} {
		if _, err := os.Stat(c.data); err != nil {
			t.Skipf("no shared data at %s", c.data)
		}
		out := t.TempDir()
		var stdout, stderr bytes.Buffer
		args := []string{"-suite", "vision", "-task", c.task, "-method", "vectorfit,lora,fullft", "-model", "tiny", "-data", c.data,
			"-train-split", c.split, "-max-train", "64", "-max-dev", "32", "-max-steps", "2",
			"-batch", "16", "-out", out, "-quiet"}
		if c.devSplit == "" { // no separate dev split in the shared sample: hold out 20%
			args = append(args, "-dev-fraction", "0.2")
		} else {
			args = append(args, "-dev-split", c.devSplit)
		}
		if err := run(args, &stdout, &stderr); err != nil {
			t.Fatalf("%s: %v\n%s", c.task, err, stderr.String())
		}
		recs, err := reports.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 {
			t.Fatalf("%s: %d records, want 3", c.task, len(recs))
		}
		for _, r := range recs {
			if _, ok := r.Scores["accuracy"]; !ok || len(r.Ranks) != 6 || r.Params.Adapter == 0 {
				t.Errorf("%s: incomplete record %s", c.task, r.FileName())
			}
		}
	}
}
