package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/train"
)

// -dtype and -svd-device are checked before anything runs, float16 on the CPU with the
// reason.
func TestPrecisionFlagsChecked(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-device", "cpu", "-dtype", "float16"}, "-dtype float16 on the CPU: libtorch's CPU autocast runs in bfloat16 only; use -dtype bfloat16 or float32, or -device cuda"},
		{[]string{"-dtype", "fp16"}, `-dtype "fp16": want float32, bfloat16 or float16`},
		{[]string{"-svd-device", "gpu"}, `-svd-device "gpu": want cpu or same`},
	} {
		out := t.TempDir()
		err := run(tinyRun(out, c.args...), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
		if entries, _ := os.ReadDir(out); len(entries) != 0 {
			t.Errorf("%v: wrote %d files before refusing", c.args, len(entries))
		}
	}
}

// A CPU bfloat16 run trains under autocast and says so in its record (precision, and
// dtype among the settings); a float32 run records float32, keeps dtype out of the
// settings (so that earlier records keep their hash), and both write
// "peak_gpu_memory": null on the CPU.
func TestPrecisionRecorded(t *testing.T) {
	out := t.TempDir()
	for _, dt := range []string{"float32", "bfloat16"} {
		if err := run(tinyRun(filepath.Join(out, dt), "-dtype", dt, "-method", "vectorfit,lora"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatalf("-dtype %s: %v", dt, err)
		}
	}
	read := func(dt string) (reports.Record, map[string]any) {
		path := filepath.Join(out, dt, "glue_rte_vectorfit_seed1.json")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var r reports.Record
		var m map[string]any
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		return r, m
	}
	f32, f32raw := read("float32")
	bf16, bf16raw := read("bfloat16")
	if p := f32.Precision; p.DType != "float32" || p.Autocast != "" || p.SVDDevice != "cpu" || p.LossScale != nil {
		t.Errorf("float32 precision %+v", p)
	}
	if _, ok := f32.Hyperparameters["dtype"]; ok {
		t.Errorf("float32 run has dtype among its settings: %v", f32.Hyperparameters)
	}
	if p := bf16.Precision; p.DType != "bfloat16" || p.Autocast != "cpu" || p.LossScale != nil || bf16.Hyperparameters["dtype"] != "bfloat16" {
		t.Errorf("bfloat16 precision %+v, settings %v", p, bf16.Hyperparameters)
	}
	for name, m := range map[string]map[string]any{"float32": f32raw, "bfloat16": bf16raw} {
		if v, ok := m["peak_gpu_memory"]; !ok || v != nil {
			t.Errorf("%s: peak_gpu_memory = %v (present %v), want null on the CPU", name, v, ok)
		}
	}
	if f32.SettingsHash == bf16.SettingsHash {
		t.Error("float32 and bfloat16 runs share a settings hash: a bfloat16 rerun would be skipped")
	}
	// bfloat16 rounds (8 bits of mantissa): the runs differ, but train alike.
	l32, l16 := f32.History[0].Loss, bf16.History[0].Loss
	if l32 == l16 || !(l16 > 0.5*l32 && l16 < 2*l32) {
		t.Errorf("first training loss float32 %v, bfloat16 %v: want close but not equal", l32, l16)
	}
}

// Peak GPU memory in a build without libtorch's CUDA backend: even for a CUDA device
// (as a record of a misconfigured run would ask) nothing is called, nothing is
// measured, and the record says null; the method's hooks pass through unchanged.
func TestGPUMemoryWithoutCUDAIsNull(t *testing.T) {
	for _, dev := range []gotch.Device{gotch.CPU, gotch.CudaBuilder(0)} {
		var warned []error
		g := newGPUMemory(dev, func(err error) { warned = append(warned, err) })
		hook := train.Hook(func(int) error { return nil })
		if hs := g.hooks([]train.Hook{hook}); len(hs) != 1 {
			t.Errorf("%v: %d hooks, want only the method's", dev, len(hs))
		}
		g.sample()
		if m := g.record(); m != nil || len(warned) != 0 {
			t.Errorf("%v: record %+v, warnings %v; want nil and none", dev, m, warned)
		}
	}
}

// Generation reads scores from tensors that autocast makes bfloat16 (BART's next-token
// logits): a bfloat16 nlg run evaluates instead of panicking on the dtype.
func TestBFloat16Generation(t *testing.T) {
	args := []string{"-suite", "nlg", "-task", "xsum", "-model", "tiny", "-method", "vectorfit", "-data", "synthetic",
		"-synthetic-train", "32", "-synthetic-dev", "4", "-max-len", "64", "-target-len", "8", "-beams", "1",
		"-batch", "16", "-max-steps", "2", "-warmup", "0", "-dtype", "bfloat16", "-out", t.TempDir(), "-quiet"}
	var stderr bytes.Buffer
	if err := run(args, &bytes.Buffer{}, &stderr); err != nil {
		t.Fatalf("bfloat16 nlg run: %v\n%s", err, stderr.String())
	}
}
