package main

import (
	"fmt"
	"slices"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/linalg"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/train"
)

// -dtype values and the autocast dtype each selects (float32: no autocast).
var dtypes = map[string]gotch.DType{"float32": gotch.Float, "bfloat16": gotch.BFloat16, "float16": gotch.Half}

// checkPrecision checks -dtype and -svd-device against the device: libtorch 2.1 offers
// CPU autocast in bfloat16 only.
func checkPrecision(o Options, dev gotch.Device) error {
	dt, ok := dtypes[o.DType]
	if !ok {
		return fmt.Errorf("-dtype %q: want float32, bfloat16 or float16", o.DType)
	}
	if o.SVDDevice != linalg.SVDOnCPU && o.SVDDevice != linalg.SVDOnSame {
		return fmt.Errorf("-svd-device %q: want cpu or same", o.SVDDevice)
	}
	if dt == gotch.Float {
		return nil
	}
	if !dev.IsCuda() && dt == gotch.Half {
		return fmt.Errorf("-dtype float16 on the CPU: libtorch's CPU autocast runs in bfloat16 only; use -dtype bfloat16 or float32, or -device cuda")
	}
	if err := torchx.CheckAutocast(dev.IsCuda(), dt); err != nil {
		return fmt.Errorf("-dtype %s: %w", o.DType, err)
	}
	return nil
}

// precision is the training loop's mixed precision for -dtype: autocast for bfloat16
// and float16, plus GradScaler's loss scaling for float16.
func precision(o Options, dev gotch.Device) (*train.Autocast, *train.LossScaler) {
	dt := dtypes[o.DType]
	if dt == gotch.Float || o.DType == "" {
		return nil, nil
	}
	ac := &train.Autocast{CUDA: dev.IsCuda(), DType: dt}
	if dt == gotch.Half {
		return ac, train.NewLossScaler()
	}
	return ac, nil
}

// precisionRecord is what the record says of the run's arithmetic before training.
// -dtype enters the settings (hyperparameters, so the settings hash) only when it is not
// float32, and -svd-device only on a CUDA device, where it changes the numbers: the
// records of float32 CPU runs keep the hash they had before these flags existed.
func precisionRecord(o Options, dev gotch.Device, hyper map[string]any) reports.Precision {
	p := reports.Precision{DType: o.DType, SVDDevice: o.SVDDevice}
	if ac, _ := precision(o, dev); ac != nil {
		p.Autocast = "cpu"
		if ac.CUDA {
			p.Autocast = "cuda"
		}
		hyper["dtype"] = o.DType
	}
	if dev.IsCuda() {
		hyper["svd_device"] = o.SVDDevice
	}
	return p
}

// lossScale is the record's summary of the loss scaler's end state.
func lossScale(s *train.LossScaler) *reports.LossScale {
	if s == nil {
		return nil
	}
	return &reports.LossScale{Final: s.Scale, SkippedSteps: s.Skipped}
}

// gpuMemory tracks the peak device memory of a CUDA run (see reports.GPUMemory). On
// the CPU, or in a build without libtorch's CUDA backend, it records nothing (null).
type gpuMemory struct {
	dev  int
	m    *reports.GPUMemory
	warn func(error)
}

func newGPUMemory(dev gotch.Device, warn func(error)) *gpuMemory {
	g := &gpuMemory{dev: dev.Value, warn: warn}
	if !dev.IsCuda() {
		return g
	}
	used, ok, err := torchx.DeviceMemoryUsed(dev.Value)
	if err != nil {
		warn(err)
	}
	if ok {
		g.m = &reports.GPUMemory{PeakBytes: used, BaselineBytes: used, Device: dev.Value, Source: torchx.DeviceMemorySource}
	}
	return g
}

// sample takes one measurement into the peak.
func (g *gpuMemory) sample() {
	if g.m == nil {
		return
	}
	used, ok, err := torchx.DeviceMemoryUsed(g.dev)
	if err != nil && g.warn != nil {
		g.warn(err)
		g.warn = nil // once per run
	}
	if ok {
		g.m.PeakBytes = max(g.m.PeakBytes, used)
	}
}

// hooks are the method's hooks plus a sample after every optimizer step (before the
// gradients are zeroed, near the step's peak).
func (g *gpuMemory) hooks(h []train.Hook) []train.Hook {
	if g.m == nil {
		return h
	}
	return append(slices.Clip(h), func(int) error { g.sample(); return nil })
}

// record is the result: nil (JSON null) where nothing was measured.
func (g *gpuMemory) record() *reports.GPUMemory {
	if g.m == nil {
		return nil
	}
	g.sample()
	m := *g.m
	return &m
}

// applySVDDevice sets -svd-device for the process (checked by checkPrecision).
func applySVDDevice(o Options) { _ = linalg.SetSVDDevice(o.SVDDevice) }
