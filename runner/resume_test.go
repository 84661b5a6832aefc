package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vectorfit/harness/reports"
)

// childEnv makes the test binary act as the runner (TestMain), so that a test can kill
// a real runner process without building one.
const childEnv = "VECTORFIT_RUNNER_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Args = append([]string{"runner"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child starts the runner as a process with args.
func child(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &stderr
}

// resumeArgs is a run where every piece of state matters: AVF re-ranks every 4 steps
// (frozen set, initial vectors), LoRA and the model have dropout (RNG), evaluations
// mid-epoch and a best to keep, gradient accumulation over an epoch of odd length.
func resumeArgs(out string) []string {
	return []string{"-suite", "glue", "-task", "rte", "-method", "vectorfit,lora", "-model", "tiny",
		"-data", "synthetic", "-synthetic-train", "90", "-synthetic-dev", "40", "-batch", "8", "-grad-accum", "2",
		"-epochs", "5", "-eval-every", "7", "-warmup", "3", "-vectorfit", "k=2,interval=4", "-lora", "dropout=0.1",
		"-checkpoint-every", "1", "-quiet", "-out", out}
}

// comparable zeroes what may differ between an interrupted and an uninterrupted run:
// times, memory, and the command (its -out).
func comparable(t *testing.T, dir string) map[string]string {
	t.Helper()
	recs, err := reports.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range recs {
		r.Timing = reports.Timing{Steps: r.Timing.Steps}
		r.StartedAt, r.FinishedAt, r.PeakRSSBytes, r.Command = time.Time{}, time.Time{}, 0, nil
		raw, _ := json.MarshalIndent(r, "", " ")
		out[r.FileName()] = string(raw)
	}
	return out
}

// stepOf reads the step of a run's checkpoint (-1: none yet).
func stepOf(out, run string) int {
	raw, err := os.ReadFile(filepath.Join(out, checkpointsDir, run, "state.json"))
	if err != nil {
		return -1
	}
	var s struct{ Loop struct{ Step int } }
	if json.Unmarshal(raw, &s) != nil {
		return -1
	}
	return s.Loop.Step
}

// kill -9 at random steps, then rerun the same command: the records equal those of
// a run never interrupted, bit for bit apart from times.
func TestKillAndResumeGivesTheSameRecords(t *testing.T) {
	want := t.TempDir()
	var stderr bytes.Buffer
	if err := run(resumeArgs(want), &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	ref := comparable(t, want)

	out := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	kills := 0
	for _, run := range []string{"glue_rte_vectorfit_seed1", "glue_rte_lora_seed1"} {
		// Of 30 steps: once after AVF's first re-ranking (step 4) and the first
		// evaluation, once in the second half; where exactly is random.
		for _, span := range [][2]int{{4, 12}, {14, 26}} {
			target := span[0] + rng.IntN(span[1]-span[0]+1)
			cmd, errOut := child(t, resumeArgs(out)...)
			deadline := time.Now().Add(60 * time.Second)
			for stepOf(out, run) < target && time.Now().Before(deadline) && !exited(cmd) {
				time.Sleep(time.Millisecond)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
				kills++
			}
			cmd.Wait()
			t.Logf("%s: killed at checkpoint step %d (target %d)\n%s", run, stepOf(out, run), target, lastLines(errOut.String(), 3))
		}
	}
	cmd, errOut := child(t, resumeArgs(out)...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final rerun: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "resuming from step") && !strings.Contains(errOut.String(), "done, skipped") {
		t.Errorf("the rerun neither resumed nor skipped:\n%s", errOut.String())
	}
	got := comparable(t, out)
	if len(got) != len(ref) {
		t.Fatalf("%d records after %d kills and a rerun, want %d", len(got), kills, len(ref))
	}
	for name, r := range ref {
		if got[name] != r {
			t.Errorf("%s after %d kills differs from the uninterrupted run:\n%s", name, kills, diffLines(r, got[name]))
		}
	}
	if left, _ := filepath.Glob(filepath.Join(out, checkpointsDir, "*", "*")); len(left) > 0 {
		t.Errorf("checkpoints left after the records were written: %v", left)
	}
}

func exited(cmd *exec.Cmd) bool {
	return cmd.ProcessState != nil || cmd.Process.Signal(syscall.Signal(0)) != nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var d []string
	for i := range max(len(al), len(bl)) {
		x, y := "", ""
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			d = append(d, fmt.Sprintf("line %d: want %s\n         got  %s", i+1, x, y))
		}
	}
	return strings.Join(d[:min(len(d), 10)], "\n")
}

// Ctrl-C finishes the step, writes a checkpoint, says so, and exits 130; the rerun
// resumes to the same record.
func TestInterruptCheckpointsAndExits130(t *testing.T) {
	want := t.TempDir()
	args := resumeArgs(want)
	args[5] = "vectorfit"
	if err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	args = resumeArgs(out)
	args[5] = "vectorfit"
	cmd, errOut := child(t, args...)
	for stepOf(out, "glue_rte_vectorfit_seed1") < 5 && !exited(cmd) {
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("after Ctrl-C: %v, want exit status 130\n%s", err, errOut.String())
	}
	for _, s := range []string{"interrupt: finishing the current step", "checkpoint saved in", "rerun the same command to resume"} {
		if !strings.Contains(errOut.String(), s) {
			t.Errorf("stderr lacks %q:\n%s", s, errOut.String())
		}
	}
	cmd, errOut = child(t, args...)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rerun: %v\n%s", err, errOut.String())
	}
	ref, got := comparable(t, want), comparable(t, out)
	for name, r := range ref {
		if got[name] != r {
			t.Errorf("%s after Ctrl-C and resume differs:\n%s", name, diffLines(r, got[name]))
		}
	}
}
