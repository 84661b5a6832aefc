package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlurmEndToEnd runs scripts/slurm-test.sh: a real single-node Slurm (slurm-wlm,
// installed when missing) runs the job array that `runner jobs -engine slurm` writes for
// a 4-shard plan (testdata/slurm-plan.yaml), the merge job merges the shards, and the
// merged table and records must equal one local run of the plan. About 30 s here. The
// script exits 77 to skip: only when Slurm cannot be installed and CI is unset.
func TestSlurmEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Slurm end-to-end test starts daemons and trains 16 tiny runs")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "runner")
	// One build: the job scripts call this binary, as they would a cluster's prebuilt one.
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	start := time.Now()
	cmd := exec.Command("bash", "../scripts/slurm-test.sh", bin, "testdata/slurm-plan.yaml", filepath.Join(dir, "work"))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 77 && os.Getenv("CI") == "" {
		t.Skip(lastLine(string(out)))
	}
	if err != nil {
		t.Fatalf("scripts/slurm-test.sh: %v after %s\n%s", err, time.Since(start).Round(time.Second), out)
	}
	if !strings.Contains(string(out), "slurm-test: ") || !strings.Contains(string(out), "PASS: 8 records from 4 Slurm array tasks") {
		t.Fatalf("scripts/slurm-test.sh exited 0 without its PASS line:\n%s", out)
	}
	t.Logf("%s in %s", lastLine(string(out)), time.Since(start).Round(time.Second))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "PASS: ") || strings.Contains(lines[i], "SKIP: ") {
			return lines[i]
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], "slurm-test: ") {
			return lines[i]
		}
	}
	return lines[len(lines)-1]
}
