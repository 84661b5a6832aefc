package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Hand-read from sbatch(1): "Acceptable time formats include minutes, minutes:seconds,
// hours:minutes:seconds, days-hours, days-hours:minutes and days-hours:minutes:seconds",
// and --mem: "Default units are megabytes. Different units can be specified using the
// suffix [K|M|G|T]".
func TestSlurmTimeAndMem(t *testing.T) {
	times := map[string]int64{
		"30": 1800, "5:30": 330, "2:00:00": 7200, "24:00:00": 86400,
		"1-0": 86400, "1-2": 93600, "1-2:30": 95400, "2-01:02:03": 2*86400 + 3723,
	}
	for in, want := range times {
		if got, err := slurmSeconds(in); err != nil || got != want {
			t.Errorf("slurmSeconds(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "1:2:3:4", "x", "-5", "1h", "1-", "+5", "0:00:00"} {
		if _, err := slurmSeconds(bad); err == nil {
			t.Errorf("slurmSeconds(%q): no error", bad)
		}
	}
	mems := map[string]int64{"8000": 8000, "500M": 500, "16G": 16384, "1T": 1 << 20, "2048K": 2}
	for in, want := range mems {
		if got, err := slurmMemMB(in); err != nil || got != want {
			t.Errorf("slurmMemMB(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "16GB", "1.5G", "-1G", "16g"} {
		if _, err := slurmMemMB(bad); err == nil {
			t.Errorf("slurmMemMB(%q): no error", bad)
		}
	}
}

// stubBinary writes an executable that appends its arguments, one call a line, to log.
func stubBinary(t *testing.T, dir, name, log string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	body := "#!/bin/sh\necho \"$*\" >> " + shq(log) + "\n"
	if name == "sbatch" {
		// sbatch --parsable prints the job id; the stub numbers its calls from 100.
		body += "echo $((100 + $(wc -l < " + shq(log) + ")))\n"
	}
	if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func jobsRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(append([]string{"jobs"}, args...), &out, &errb)
	return out.String() + errb.String(), err
}

// sbatchDirectives reads the #SBATCH lines of a script as flag -> value.
func sbatchDirectives(script string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(script, "\n") {
		if f, ok := strings.CutPrefix(l, "#SBATCH "); ok {
			k, v, _ := strings.Cut(f, "=")
			m[k] = v
		}
	}
	return m
}

// The generated scripts are run by bash with stubs for the runner and sbatch: the array
// task's index becomes the shard, the merge reads every shard folder, and submit.sh makes
// the merge depend on the array job.
func TestSlurmJobScripts(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	bin := stubBinary(t, dir, "runner-bin", log)
	out := filepath.Join(dir, "results")
	msg, err := jobsRun(t, "-plan", "smoke", "-engine", "slurm", "-shards", "4", "-out", out,
		"-binary", bin, "-partition", "gpu", "-gpus", "2", "-mem", "32G", "-time", "1-12:00:00", "-cpus", "8")
	if err != nil {
		t.Fatalf("runner jobs: %v\n%s", err, msg)
	}
	jobs := filepath.Join(out, "jobs")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(jobs, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := exec.Command("bash", "-n", filepath.Join(jobs, name)).Run(); err != nil {
			t.Errorf("%s: bash -n: %v", name, err)
		}
		return string(b)
	}
	arr := read("shards.sbatch")
	want := map[string]string{
		"--job-name": "vectorfit-smoke", "--array": "1-4", "--gres": "gpu:2", "--mem": "32768M",
		"--time": "1-12:00:00", "--cpus-per-task": "8", "--partition": "gpu", "--requeue": "",
		"--output": filepath.Join(out, "logs") + "/%x_%A_%a.out", "--error": filepath.Join(out, "logs") + "/%x_%A_%a.err",
	}
	got := sbatchDirectives(arr)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("shards.sbatch: #SBATCH %s=%q, want %q", k, g, v)
		}
	}
	// Array task 3 runs shard 3/4 into its own folder.
	cmd := exec.Command("bash", filepath.Join(jobs, "shards.sbatch"))
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=3")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shards.sbatch as task 3: %v\n%s", err, b)
	}
	// Without sbatch (no task id) the script refuses to run.
	if b, err := exec.Command("bash", filepath.Join(jobs, "shards.sbatch")).CombinedOutput(); err == nil || !strings.Contains(string(b), "submit this script with sbatch") {
		t.Errorf("shards.sbatch without SLURM_ARRAY_TASK_ID: err %v, output %s", err, b)
	}
	merge := read("merge.sbatch")
	if b, err := exec.Command("bash", filepath.Join(jobs, "merge.sbatch")).CombinedOutput(); err != nil {
		t.Fatalf("merge.sbatch: %v\n%s", err, b)
	}
	shards := []string{}
	for i := 1; i <= 4; i++ {
		shards = append(shards, filepath.Join(out, "shard-")+string(rune('0'+i)))
	}
	calls, _ := os.ReadFile(log)
	wantCalls := "-plan smoke -shard 3/4 -out " + filepath.Join(out, "shard-3") + "\n" +
		"merge -in " + strings.Join(shards, ",") + " -out " + filepath.Join(out, "merged") + "\n" +
		"report -in " + filepath.Join(out, "merged") + "\n"
	if string(calls) != wantCalls {
		t.Errorf("runner calls:\n%s\nwant:\n%s", calls, wantCalls)
	}
	if _, err := os.Stat(filepath.Join(out, "shard-3")); err != nil {
		t.Errorf("array task 3 did not make its folder: %v", err)
	}
	if !strings.Contains(merge, "#SBATCH --partition=gpu") {
		t.Errorf("merge.sbatch: no partition:\n%s", merge)
	}
	// submit.sh: the array first, then the merge with afterok on the array's id.
	os.Remove(log)
	path := filepath.Join(dir, "path")
	os.Mkdir(path, 0o755)
	stubBinary(t, path, "sbatch", log)
	read("submit.sh")
	cmd = exec.Command("bash", filepath.Join(jobs, "submit.sh"))
	cmd.Env = append(os.Environ(), "PATH="+path+":"+os.Getenv("PATH"))
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("submit.sh: %v", err)
	}
	if strings.TrimSpace(string(b)) != "array=101 merge=102" {
		t.Errorf("submit.sh printed %q, want array=101 merge=102", b)
	}
	calls, _ = os.ReadFile(log)
	wantCalls = "--parsable " + filepath.Join(jobs, "shards.sbatch") + "\n" +
		"--parsable --dependency=afterok:101 --kill-on-invalid-dep=yes " + filepath.Join(jobs, "merge.sbatch") + "\n"
	if string(calls) != wantCalls {
		t.Errorf("sbatch calls:\n%s\nwant:\n%s", calls, wantCalls)
	}
	if _, err := os.Stat(filepath.Join(out, "logs")); err != nil {
		t.Errorf("submit.sh did not make the log folder: %v", err)
	}
	// No GPUs, no partition: no such lines (the cluster's defaults apply).
	msg, err = jobsRun(t, "-plan", "smoke", "-shards", "2", "-out", filepath.Join(dir, "r2"), "-binary", bin)
	if err != nil {
		t.Fatalf("runner jobs: %v\n%s", err, msg)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "r2", "jobs", "shards.sbatch"))
	if regexp.MustCompile(`--gres|--partition`).Match(b) {
		t.Errorf("shards.sbatch without -gpus/-partition asks for them:\n%s", b)
	}
}

func TestJobsFlagErrors(t *testing.T) {
	dir := t.TempDir()
	bin := stubBinary(t, dir, "runner-bin", filepath.Join(dir, "log"))
	notExe := filepath.Join(dir, "plain")
	os.WriteFile(notExe, []byte("x"), 0o644)
	base := []string{"-plan", "smoke", "-shards", "2", "-out", filepath.Join(dir, "r"), "-binary", bin}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-shards", "2"}, "runner jobs: -plan is required (a built-in plan name or a plan file)"},
		{[]string{"-plan", "smoke"}, "runner jobs: -shards 0: want a count of 1 or more"},
		{append(base, "-engine", "nomad"), `runner jobs: -engine "nomad": want slurm or k8s`},
		{append(base, "-mem", "16GB"), `runner jobs: -mem "16GB": want a Slurm memory size such as 16G, 500M or 8000 (megabytes)`},
		{append(base, "-time", "2h"), `runner jobs: -time "2h": want a Slurm time limit: MINUTES, HH:MM:SS or D-HH:MM:SS`},
		{append(base, "-gpus", "-1"), "runner jobs: -gpus -1 -cpus 4: want gpus >= 0 and cpus >= 1"},
		{append(base, "-binary", notExe), "runner jobs: -binary " + notExe + ": not an executable file (build it with `go build -o bin/runner ./runner`)"},
		{append(base, "-log-dir", filepath.Join(dir, "my logs")), `runner jobs: -log-dir "` + filepath.Join(dir, "my logs") + `": a Slurm path cannot hold spaces, quotes or %`},
		{append(base, "-partition", "a b"), `runner jobs: -partition "a b": want a Slurm partition name (letters, digits, _ . , -)`},
		{[]string{"-plan", filepath.Join(dir, "nope.yaml"), "-shards", "2"}, "runner jobs: -plan " + filepath.Join(dir, "nope.yaml") + ": stat " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
		{append(base, "-engine", "k8s"), "runner jobs: -engine k8s needs -image (a container image with the runner binary and libtorch)"},
		{append(base, "-engine", "k8s", "-image", "x"), "runner jobs: -engine k8s needs -pvc (a PersistentVolumeClaim for results and the HF cache)"},
		{[]string{"-plan", "smoke", "-shards", "2", "-engine", "k8s", "-image", "x", "-pvc", "p", "-out", "/abs"}, "runner jobs: -out /abs: with -engine k8s, a folder relative to the volume (mounted at /data)"},
		{[]string{"-plan", "smoke", "-shards", "2", "-engine", "k8s", "-image", "x", "-pvc", "p", "-out", "r", "-namespace", "My_NS"}, `runner jobs: -namespace "My_NS": want a DNS label (lower-case letters, digits, -)`},
		{append(base, "extra"), `runner jobs: unexpected argument "extra" (flags only)`},
	}
	for _, c := range cases {
		msg, err := jobsRun(t, c.args...)
		if err == nil || err.Error() != c.want {
			t.Errorf("runner jobs %s:\n got %v\nwant %s\n%s", strings.Join(c.args, " "), err, c.want, msg)
		}
	}
}
