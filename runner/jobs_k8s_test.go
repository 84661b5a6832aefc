package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

// readJob decodes a Job strictly into the Kubernetes API types (k8s.io/api, the types the
// API server's OpenAPI schema is generated from): an unknown or misplaced field, a wrong
// type or an unparsable quantity is an error. It then checks what the schema and the Job
// validation require of the fields the harness writes.
func readJob(t *testing.T, path string) batchv1.Job {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var j batchv1.Job
	if err := yaml.UnmarshalStrict(b, &j); err != nil {
		t.Fatalf("%s: not a batch/v1 Job: %v", path, err)
	}
	if j.APIVersion != "batch/v1" || j.Kind != "Job" {
		t.Errorf("%s: apiVersion %q kind %q", path, j.APIVersion, j.Kind)
	}
	for _, msg := range validation.IsDNS1123Label(j.Name) {
		t.Errorf("%s: metadata.name %q: %s", path, j.Name, msg)
	}
	ps := j.Spec.Template.Spec
	if p := ps.RestartPolicy; p != corev1.RestartPolicyNever && p != corev1.RestartPolicyOnFailure {
		t.Errorf("%s: restartPolicy %q: a Job needs Never or OnFailure", path, p)
	}
	if len(ps.Containers) == 0 {
		t.Fatalf("%s: no containers", path)
	}
	vols := map[string]bool{}
	for _, v := range ps.Volumes {
		vols[v.Name] = true
		if v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName == "" {
			t.Errorf("%s: volume %q: no persistentVolumeClaim.claimName", path, v.Name)
		}
	}
	for _, c := range ps.Containers {
		for _, msg := range validation.IsDNS1123Label(c.Name) {
			t.Errorf("%s: container name %q: %s", path, c.Name, msg)
		}
		if c.Image == "" {
			t.Errorf("%s: container %q: no image", path, c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !vols[m.Name] {
				t.Errorf("%s: volumeMount %q names no volume", path, m.Name)
			}
		}
		for name, q := range c.Resources.Requests {
			if l, ok := c.Resources.Limits[name]; ok && q.Cmp(l) > 0 {
				t.Errorf("%s: request %s %s above its limit %s", path, name, q.String(), l.String())
			}
		}
	}
	return j
}

// podShard runs the pod's command (/bin/sh -c ...) as completion index k would, with a
// stub binary, and returns the runner call it makes.
func podShard(t *testing.T, j batchv1.Job, k int, dir, log string) string {
	t.Helper()
	c := j.Spec.Template.Spec.Containers[0]
	os.Remove(log)
	cmd := exec.Command(c.Command[0], append(c.Command[1:], c.Args...)...)
	cmd.Dir = dir // the pod's workingDir (the volume)
	cmd.Env = append(os.Environ(), "JOB_COMPLETION_INDEX="+string(rune('0'+k)))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pod %d: %v\n%s", k, err, b)
	}
	b, _ := os.ReadFile(log)
	return strings.TrimSpace(string(b))
}

func TestK8sIndexedJob(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	bin := stubBinary(t, dir, "runner-bin", log)
	jobs := filepath.Join(dir, "jobs")
	msg, err := jobsRun(t, "-plan", "paper-glue", "-engine", "k8s", "-shards", "4", "-out", "results",
		"-dir", jobs, "-image", "ghcr.io/lab/harness:1.0", "-pvc", "harness-data", "-gpus", "1",
		"-mem", "32G", "-cpus", "8", "-time", "12:00:00", "-binary", bin, "-namespace", "ml")
	if err != nil {
		t.Fatalf("runner jobs: %v\n%s", err, msg)
	}
	j := readJob(t, filepath.Join(jobs, "job.yaml"))
	s := j.Spec
	if s.CompletionMode == nil || *s.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("completionMode %v, want Indexed", s.CompletionMode)
	}
	if s.Completions == nil || *s.Completions != 4 || s.Parallelism == nil || *s.Parallelism != 4 {
		t.Errorf("completions %v parallelism %v, want 4 and 4", s.Completions, s.Parallelism)
	}
	if j.Name != "vectorfit-paper-glue" || j.Namespace != "ml" {
		t.Errorf("name %q namespace %q", j.Name, j.Namespace)
	}
	ps := s.Template.Spec
	if ps.ActiveDeadlineSeconds == nil || *ps.ActiveDeadlineSeconds != 12*3600 {
		t.Errorf("activeDeadlineSeconds %v, want 43200", ps.ActiveDeadlineSeconds)
	}
	c := ps.Containers[0]
	r := c.Resources
	if g := r.Limits["nvidia.com/gpu"]; g.Value() != 1 {
		t.Errorf("nvidia.com/gpu limit %s, want 1", g.String())
	}
	if m := r.Limits[corev1.ResourceMemory]; m.Value() != 32<<30 {
		t.Errorf("memory limit %s, want 32Gi", m.String())
	}
	if cpu := r.Requests[corev1.ResourceCPU]; cpu.Value() != 8 {
		t.Errorf("cpu request %s, want 8", cpu.String())
	}
	if c.Image != "ghcr.io/lab/harness:1.0" || ps.Volumes[0].PersistentVolumeClaim.ClaimName != "harness-data" {
		t.Errorf("image %q claim %q", c.Image, ps.Volumes[0].PersistentVolumeClaim.ClaimName)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["HF_HOME"] != "/data/hf-cache" || c.WorkingDir != "/data" || c.VolumeMounts[0].MountPath != "/data" {
		t.Errorf("HF_HOME %q workingDir %q mount %q: want the cache and results on the volume at /data", env["HF_HOME"], c.WorkingDir, c.VolumeMounts[0].MountPath)
	}
	// Completion index k (from 0) runs shard k+1 of 4.
	for k := 0; k < 4; k++ {
		want := "-plan paper-glue -shard " + string(rune('1'+k)) + "/4 -out results/shard-" + string(rune('1'+k))
		if got := podShard(t, j, k, dir, log); got != want {
			t.Errorf("pod %d runs %q, want %q", k, got, want)
		}
	}
	m := readJob(t, filepath.Join(jobs, "merge.yaml"))
	if m.Name != "vectorfit-paper-glue-merge" || m.Namespace != "ml" {
		t.Errorf("merge job name %q namespace %q", m.Name, m.Namespace)
	}
	got := podShard(t, m, 0, dir, log)
	want := "merge -in results/shard-1,results/shard-2,results/shard-3,results/shard-4 -out results/merged\nreport -in results/merged"
	if got != want {
		t.Errorf("merge pod runs\n%s\nwant\n%s", got, want)
	}
	// No -gpus: no GPU request.
	msg, err = jobsRun(t, "-plan", "smoke", "-engine", "k8s", "-shards", "2", "-out", "r", "-dir", jobs,
		"-image", "img", "-pvc", "p")
	if err != nil {
		t.Fatalf("runner jobs: %v\n%s", err, msg)
	}
	j = readJob(t, filepath.Join(jobs, "job.yaml"))
	if _, ok := j.Spec.Template.Spec.Containers[0].Resources.Limits["nvidia.com/gpu"]; ok {
		t.Errorf("a job without -gpus asks for nvidia.com/gpu")
	}
}

// The strict decoding above is what makes the schema check bite: a misspelt or misplaced
// field must fail it.
func TestK8sStrictDecodingCatchesSchemaErrors(t *testing.T) {
	good := "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec:\n  completionMode: Indexed\n  completions: 2\n  template:\n    spec:\n      containers: [{name: c, image: i}]\n"
	var j batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(good), &j); err != nil {
		t.Fatalf("a valid Job: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(good, "completions: 2", "completion: 2", 1),                             // misspelt
		strings.Replace(good, "completions: 2", "completions: two", 1),                          // wrong type
		strings.Replace(good, "image: i", "image: i, gpus: 1", 1),                               // not a container field
		strings.Replace(good, "image: i}", "image: i, resources: {limits: {memory: 16GB}}}", 1), // bad quantity
	} {
		if err := yaml.UnmarshalStrict([]byte(bad), &j); err == nil {
			t.Errorf("accepted:\n%s", bad)
		}
	}
}
