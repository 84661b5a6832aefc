package models_test

import (
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
)

// gotch reports a CPU tensor's device as {CPU 1}; SameDevice still sees gotch.CPU, and
// To(gotch.CPU) on CPU weights is a no-op that keeps the very same tensors.
func TestSameDeviceAndToIsNoOpOnSameDevice(t *testing.T) {
	m, err := bert.New(bert.Tiny(50), bert.Classification, 1)
	if err != nil {
		t.Fatal(err)
	}
	dev := m.Device()
	if !models.SameDevice(dev, gotch.CPU) || models.SameDevice(dev, gotch.CudaBuilder(0)) {
		t.Fatalf("SameDevice(%v, CPU) false or SameDevice(%v, cuda:0) true", dev, dev)
	}
	if !models.SameDevice(gotch.CudaBuilder(1), gotch.CudaBuilder(1)) || models.SameDevice(gotch.CudaBuilder(0), gotch.CudaBuilder(1)) {
		t.Error("SameDevice does not tell CUDA devices apart")
	}
	before := m.Params()[0].T
	m.To(gotch.CPU)
	if m.Params()[0].T != before {
		t.Error("To(gotch.CPU) on a CPU model replaced its tensors")
	}
}
