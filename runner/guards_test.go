package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vectorfit/harness/methods/lora"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/reports"
)

// tinyRun is a fast run on the built-in model and data.
func tinyRun(out string, extra ...string) []string {
	return append([]string{"-suite", "glue", "-task", "rte", "-method", "vectorfit", "-model", "tiny", "-data", "synthetic",
		"-synthetic-train", "64", "-synthetic-dev", "32", "-max-steps", "6", "-eval-every", "3", "-warmup", "0",
		"-out", out, "-quiet"}, extra...)
}

// Every numeric flag is range-checked before anything runs, NaN and Inf refused, and
// all problems are reported at once, each naming its flag.
func TestFlagsAreRangeChecked(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-batch", "-5"}, "-batch -5: want ≥ 1, or 0 for the task's protocol"},
		{[]string{"-epochs", "-3"}, "-epochs -3: want ≥ 1"},
		{[]string{"-lr", "NaN"}, "-lr NaN: want a finite number"},
		{[]string{"-lr", "Inf"}, "-lr +Inf: want a finite number"},
		{[]string{"-lr", "-0.1"}, "-lr -0.1: want > 0, or 0 for each method's rate"},
		{[]string{"-weight-decay", "NaN"}, "-weight-decay NaN: want a finite number"},
		{[]string{"-weight-decay", "-0.5"}, "-weight-decay -0.5: want ≥ 0, or -1"},
		{[]string{"-head-lr", "NaN"}, "-head-lr NaN"},
		{[]string{"-max-dev", "-1"}, "-max-dev -1: want ≥ 1, or 0 for all"},
		{[]string{"-cls-dropout", "2"}, "-cls-dropout 2: want a probability in [0, 1)"},
		{[]string{"-max-grad-norm", "NaN"}, "-max-grad-norm NaN: want a finite number"},
		{[]string{"-dev-fraction", "-0.1"}, "-dev-fraction -0.1: want a fraction in [0, 1)"},
		{[]string{"-dev-fraction", "NaN"}, "-dev-fraction NaN"},
		{[]string{"-warmup-ratio", "1"}, "-warmup-ratio 1: want a fraction in [0, 1)"},
		{[]string{"-grad-accum", "0"}, "-grad-accum 0: want ≥ 1"},
		{[]string{"-seeds", "1,1"}, `-seeds "1,1": seed 1 is listed twice`},
		{[]string{"-seeds", "0"}, `-seeds "0": want a count ≥ 1`},
		{[]string{"-checkpoint-every", "soon"}, `-checkpoint-every "soon": want optimizer steps (500) or a wall-clock duration`},
		{[]string{"-max-pixels", "0"}, "-max-pixels 0: want ≥ 1"},
		{[]string{"-threads", "-2"}, "-threads -2: want ≥ 1, or 0"},
		{[]string{"-max-len", "600"}, "-max-len 600: the model tiny numbers at most 512 positions"},
	}
	for _, tt := range tests {
		out := t.TempDir()
		err := run(tinyRun(out, tt.args...), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want one containing %q", tt.args, err, tt.want)
		}
		if exitStatus(err) != 2 {
			t.Errorf("%v: exit status %d, want 2", tt.args, exitStatus(err))
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("%v: left %v in -out", tt.args, entries)
		}
	}
	// All at once: one line each.
	err := run(tinyRun(t.TempDir(), "-batch", "-5", "-lr", "NaN", "-cls-dropout", "2"), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Errorf("three bad flags: %v, want three lines", err)
	}
}

// The -out folder is checked before training: a file, an unreadable record.
func TestOutFolderCheckedBeforeTraining(t *testing.T) {
	file := filepath.Join(t.TempDir(), "results")
	os.WriteFile(file, []byte("x"), 0o644)
	err := run(tinyRun(file), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "is a file; want a folder") {
		t.Errorf("-out a file: %v", err)
	}
	out := t.TempDir()
	os.WriteFile(filepath.Join(out, "glue_rte_vectorfit_seed1.json"), []byte("{"), 0o644)
	var stderr bytes.Buffer
	err = run(tinyRun(out), &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "holds records that do not read") || strings.Contains(stderr.String(), "step") {
		t.Errorf("-out with a broken record: %v\n%s", err, stderr.String())
	}
	if os.Geteuid() != 0 { // root writes anywhere
		ro := t.TempDir()
		os.Chmod(ro, 0o555)
		defer os.Chmod(ro, 0o755)
		if err := run(tinyRun(ro), &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "is not writable") {
			t.Errorf("read-only -out: %v", err)
		}
	}
}

// A second runner on one -out is refused, naming the first; a lock whose process is
// gone is removed with a line; temporary files a killed run left are cleaned.
func TestOutLock(t *testing.T) {
	out := t.TempDir()
	lock := filepath.Join(out, lockName)
	held := lockInfo{PID: os.Getpid(), Host: hostname(), Command: []string{"runner", "-task", "rte"}}
	raw, _ := json.Marshal(held)
	os.WriteFile(lock, raw, 0o644)
	err := run(tinyRun(out), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "is in use by runner process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("lock held by a live process: %v", err)
	}

	gone := exec.Command("true")
	gone.Run()
	held.PID = gone.Process.Pid
	raw, _ = json.Marshal(held)
	os.WriteFile(lock, raw, 0o644)
	tmp := filepath.Join(out, ".glue_rte_vectorfit_seed1.json.tmp-123")
	os.WriteFile(tmp, []byte("{partial"), 0o644)
	var stderr bytes.Buffer
	if err := run(tinyRun(out), &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("stale lock: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"removing the stale lock", "removed " + tmp} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if _, err := os.Stat(lock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock left after the run: %v", err)
	}
}

func hostname() string { h, _ := os.Hostname(); return h }

// A rerun skips what is done and says so; -force redoes it; other settings are refused
// with the differences named.
func TestSkipFinishedRuns(t *testing.T) {
	out := t.TempDir()
	if err := run(tinyRun(out, "-seeds", "2"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(out, "glue_rte_vectorfit_seed1.json"))
	var stderr, stdout bytes.Buffer
	if err := run(tinyRun(out, "-seeds", "3"), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr.String(), "done, skipped"); n != 2 || !strings.Contains(stderr.String(), "rte vectorfit seed 3: accuracy") {
		t.Errorf("rerun with one more seed: %d skipped, want 2 and seed 3 trained:\n%s", n, stderr.String())
	}
	if after, _ := os.ReadFile(filepath.Join(out, "glue_rte_vectorfit_seed1.json")); !bytes.Equal(before, after) {
		t.Error("a skipped run's record was rewritten")
	}
	if !strings.Contains(stdout.String(), "| RTE") {
		t.Errorf("the table lacks the skipped runs:\n%s", stdout.String())
	}
	// The three seeds are one cell: the method's own seed follows the run's.
	if n := strings.Count(stdout.String(), "| VectorFit"); n != 2 || strings.Contains(stdout.String(), "seed=") {
		t.Errorf("the seeds of one setting fill %d rows (want one per table):\n%s", n, stdout.String())
	}
	err := run(tinyRun(out, "-seeds", "1", "-lr", "0.05"), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "holds this run's record with other settings") || !strings.Contains(err.Error(), "lr=0.011999999999999999 → lr=0.05") || strings.Contains(err.Error(), "targets") {
		t.Errorf("other settings into the same -out: %v", err)
	}
	stderr.Reset()
	if err := run(tinyRun(out, "-seeds", "1", "-force"), &bytes.Buffer{}, &stderr); err != nil || strings.Contains(stderr.String(), "skipped") {
		t.Errorf("-force: %v\n%s", err, stderr.String())
	}
}

// A diverging learning rate keeps a record marked diverged, the command goes on to the
// next run, and the exit status and summary say which runs failed; -fail-fast stops.
func TestDivergenceKeepsARecordAndGoesOn(t *testing.T) {
	out := t.TempDir()
	var stderr bytes.Buffer
	err := run(tinyRun(out, "-method", "lora,vectorfit", "-lr", "1e8", "-max-steps", "30"), &bytes.Buffer{}, &stderr)
	if exitStatus(err) != 1 || !strings.Contains(err.Error(), "2 of 2 runs failed or diverged") {
		t.Fatalf("err %v (exit %d), want the 2 diverged runs listed, exit 1\n%s", err, exitStatus(err), stderr.String())
	}
	recs, rerr := reports.ReadDir(out)
	if rerr != nil || len(recs) != 2 {
		t.Fatalf("%d records (%v), want both runs' records", len(recs), rerr)
	}
	for _, r := range recs {
		if !r.Diverged() || r.Divergence.Step < 1 || r.Timing.Steps != r.Divergence.Step-1 {
			t.Errorf("%s: status %q divergence %+v after %d steps", r.FileName(), r.Status, r.Divergence, r.Timing.Steps)
		}
		if r.Divergence.Step > 3 && len(r.History) == 0 {
			t.Errorf("%s diverged at step %d, after an evaluation, but kept none", r.FileName(), r.Divergence.Step)
		}
	}
	err = run(tinyRun(t.TempDir(), "-method", "lora,vectorfit", "-lr", "1e8", "-max-steps", "30", "-fail-fast"), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "(-fail-fast)") || !strings.Contains(err.Error(), "lora") || strings.Contains(err.Error(), "vectorfit seed") {
		t.Errorf("-fail-fast: %v, want to stop after lora", err)
	}
}

// The record stores what changes numbers on the same machine.
func TestRecordStoresEnvironment(t *testing.T) {
	out := t.TempDir()
	t.Setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8") // read by CUDA only: changes nothing here
	if err := run(tinyRun(out, "-threads", "1"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	recs, _ := reports.ReadDir(out)
	e := recs[0].Environment
	if e.TorchThreads != 1 || e.GoMaxProcs < 1 || e.Variables["CUBLAS_WORKSPACE_CONFIG"] != ":4096:8" || recs[0].SettingsHash == "" {
		t.Errorf("environment %+v, settings hash %q", e, recs[0].SettingsHash)
	}
}

// -save-best writes the best evaluation's trainable parameters: with the best at the
// last evaluation, they equal the final checkpoint's parameters.
func TestSaveBest(t *testing.T) {
	out := t.TempDir()
	if err := run(tinyRun(out, "-save-best", "-keep-checkpoints", "-eval-every", "6"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	best, err := safetensors.Load(filepath.Join(out, bestDir, "glue_rte_vectorfit_seed1", "trainable.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := safetensors.Load(filepath.Join(out, checkpointsDir, "glue_rte_vectorfit_seed1", "step-000000006.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name, v := range best {
		names = append(names, name)
		if w, ok := ck["param/"+name]; !ok || !v.MustEqual(w, false) {
			t.Errorf("best %s differs from the checkpoint's", name)
		}
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, ".singular_values") }) {
		t.Errorf("saved %v, want the singular values among them", names)
	}
}

// LoRA's best evaluation is saved as a PEFT adapter folder.
func TestSaveBestLoRAIsAPEFTAdapter(t *testing.T) {
	out := t.TempDir()
	if err := run(tinyRun(out, "-method", "lora", "-save-best"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, bestDir, "glue_rte_lora_seed1")
	for _, f := range []string{"adapter_config.json", "adapter_model.safetensors", "evaluation.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := lora.ReadPEFTConfig(dir); err != nil {
		t.Errorf("the saved adapter does not read back: %v", err)
	}
}

// A checkpoint of other settings or another thread count is refused with the
// difference named; -force discards it.
func TestCheckpointOfAnotherRunIsRefused(t *testing.T) {
	out := t.TempDir()
	if err := run(tinyRun(out, "-keep-checkpoints", "-threads", "2"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(out, "glue_rte_vectorfit_seed1.json")) // as if killed after the last checkpoint
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-threads", "1"}, "checkpoint " + filepath.Join(out, checkpointsDir, "glue_rte_vectorfit_seed1") + " is of another run (2 libtorch threads, this run's 1 (-threads))"},
		{[]string{"-threads", "2", "-lr", "0.05"}, "is of another run (settings hash"},
	} {
		err := run(tinyRun(out, tt.args...), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
	var stderr bytes.Buffer
	if err := run(tinyRun(out, "-threads", "1", "-force"), &bytes.Buffer{}, &stderr); err != nil || strings.Contains(stderr.String(), "resuming") {
		t.Errorf("-force: %v\n%s", err, stderr.String())
	}
}

// Training and evaluating on the same file is refused unless -allow-dev-overlap.
func TestDevOverlapIsRefused(t *testing.T) {
	if _, err := os.Stat(sharedGLUE); err != nil {
		t.Skipf("no shared GLUE data at %s", sharedGLUE)
	}
	data := filepath.Join(t.TempDir(), "RTE")
	os.MkdirAll(data, 0o755)
	raw, err := os.ReadFile(filepath.Join(sharedGLUE, "RTE", "dev.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(data, "train.tsv"), raw, 0o644)
	os.WriteFile(filepath.Join(data, "dev.tsv"), raw, 0o644)
	args := []string{"-suite", "glue", "-task", "rte", "-model", "tiny", "-data", filepath.Dir(data), "-max-steps", "2", "-max-len", "32", "-quiet"}
	err = run(append(args, "-out", t.TempDir()), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "have the same contents") || !strings.Contains(err.Error(), "-allow-dev-overlap") {
		t.Errorf("train.tsv = dev.tsv: %v", err)
	}
	if err := run(append(args, "-out", t.TempDir(), "-allow-dev-overlap"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Errorf("with -allow-dev-overlap: %v", err)
	}
}
