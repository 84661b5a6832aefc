// Command gpusmoke prints the table of scripts/gpu-smoke.sh: one row per run record
// found under the folders given, with its step time and peak GPU memory.
//
//	go run ./scripts/gpusmoke DIR...
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// record is the part of a run record (reports.Record) the table shows.
type record struct {
	Suite, Task, Method, Device, Status string
	Model                               struct{ Name string }
	Precision                           struct {
		DType     string `json:"dtype"`
		LossScale *struct {
			Final        float64 `json:"final"`
			SkippedSteps int     `json:"skipped_steps"`
		} `json:"loss_scale"`
	}
	Timing struct {
		StepSeconds float64 `json:"step_seconds"`
		Steps       int     `json:"steps"`
	}
	PeakGPUMemory *struct {
		PeakBytes     int64 `json:"peak_bytes"`
		BaselineBytes int64 `json:"baseline_bytes"`
	} `json:"peak_gpu_memory"`
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gpusmoke DIR...")
		os.Exit(2)
	}
	if err := table(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gpusmoke:", err)
		os.Exit(1)
	}
}

// table reads every record (*_seed*.json) under dirs and prints the rows, sorted.
func table(w io.Writer, dirs []string) error {
	var rows [][]string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.Contains(d.Name(), "_seed") || filepath.Ext(path) != ".json" {
				return err
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			var r record
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			rows = append(rows, row(r))
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(rows) == 0 {
		return fmt.Errorf("no run records under %s", strings.Join(dirs, ", "))
	}
	sort.Slice(rows, func(i, j int) bool { return strings.Join(rows[i], "\x00") < strings.Join(rows[j], "\x00") })
	head := []string{"suite", "task", "method", "model", "dtype", "device", "steps", "step ms", "peak GPU MiB", "GPU MiB at start", "peak RSS MiB", "status"}
	fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(head)))
	for _, r := range rows {
		fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
	}
	return nil
}

func row(r record) []string {
	peak, base := "null", "null"
	if m := r.PeakGPUMemory; m != nil {
		peak, base = mib(m.PeakBytes), mib(m.BaselineBytes)
	}
	dtype := r.Precision.DType
	if dtype == "" {
		dtype = "float32"
	}
	if s := r.Precision.LossScale; s != nil {
		dtype += fmt.Sprintf(" (scale %g, %d skipped)", s.Final, s.SkippedSteps)
	}
	status := r.Status
	if status == "" {
		status = "finished"
	}
	return []string{r.Suite, r.Task, r.Method, r.Model.Name, dtype, r.Device, fmt.Sprint(r.Timing.Steps),
		fmt.Sprintf("%.1f", 1000*r.Timing.StepSeconds), peak, base, mib(r.PeakRSSBytes), status}
}

func mib(b int64) string { return fmt.Sprintf("%.0f", float64(b)/(1<<20)) }
