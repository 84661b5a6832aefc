package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A CUDA record shows its step time and memory in MiB; a CPU record (null memory)
// says null; a folder without records is an error.
func TestTable(t *testing.T) {
	dir := t.TempDir()
	cuda := `{"suite":"glue","task":"sst2","method":"lora","device":"CUDA","status":"finished","model":{"name":"all-MiniLM-L6-v2"},
		"precision":{"dtype":"bfloat16","autocast":"cuda"},"timing":{"step_seconds":0.0123,"steps":50},
		"peak_gpu_memory":{"peak_bytes":1073741824,"baseline_bytes":314572800},"peak_rss_bytes":2147483648}`
	cpu := `{"suite":"glue","task":"rte","method":"vectorfit","device":"CPU","model":{"name":"tiny"},"timing":{"step_seconds":0.002,"steps":6},"peak_gpu_memory":null}`
	for name, body := range map[string]string{"glue_sst2_lora_seed1.json": cuda, "glue_rte_vectorfit_seed1.json": cpu, "notes.json": "{"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := table(&out, []string{dir}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| glue | rte | vectorfit | tiny | float32 | CPU | 6 | 2.0 | null | null | 0 | finished |",
		"| glue | sst2 | lora | all-MiniLM-L6-v2 | bfloat16 | CUDA | 50 | 12.3 | 1024 | 300 | 2048 | finished |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if err := table(&out, []string{t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no run records") {
		t.Errorf("empty folder: %v", err)
	}
}
