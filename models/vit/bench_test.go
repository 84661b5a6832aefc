package vit

import (
	"runtime"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// BenchmarkViTBaseStep reports the time of one optimizer step (forward, backward,
// AdamW) of each method on a vit-base-patch16-224-shaped model with random weights,
// batch 8 of 224×224 images (197 tokens), and the one-time setup (VectorFit's SVDs).
// Numbers, not pass/fail:
//
//	go test -run '^$' -bench 'ViTBaseStep/lora$' -benchtime 3x -timeout 30m ./models/vit/
func BenchmarkViTBaseStep(b *testing.B) {
	for _, meth := range []struct {
		name, method string
		opts         map[string]string
	}{
		{"vectorfit", "vectorfit", nil},
		{"vectorfit-factored", "vectorfit", map[string]string{"forward": "factored"}},
		{"lora", "lora", nil},
		{"fullft", "fullft", nil},
	} {
		b.Run(meth.name, func(b *testing.B) { benchStep(b, BaseShape(), 8, meth.method, meth.opts) })
	}
}

func benchStep(b *testing.B, c Config, batch int64, method string, opts map[string]string) {
	// Free the previous sub-benchmark's model (libtorch memory, released by finalizers).
	// peak-MiB is the process's high-water mark: run one method per process to read it.
	runtime.GC()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c.NumLabels = 10
	m, err := New(c, 1)
	if err != nil {
		b.Fatal(err)
	}
	meth, err := registry.New(method, opts)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := meth.Apply(m); err != nil {
		b.Fatal(err)
	}
	setup := time.Since(t0)
	m.SetTraining(true)
	adapter, head := meth.Trainable()
	opt := train.NewAdamW([]train.Group{{Name: "adapter", Params: adapter, LR: 1e-4}, {Name: "head", Params: head, LR: 1e-4}}, 0.9, 0.999, 1e-8)
	px := models.Normal(models.NewRNG(1, 0), 1, batch, c.NumChannels, c.ImageSize, c.ImageSize)
	labels := ts.MustZeros([]int64{batch}, gotch.Int64, gotch.CPU)
	step := func() {
		logits := m.Forward(px)
		loss := logits.CrossEntropyForLogits(labels)
		logits.MustDrop()
		loss.MustBackward()
		loss.MustDrop()
		opt.Step(1)
		opt.ZeroGrad()
	}
	step() // warm-up: allocator and optimizer state
	b.ResetTimer()
	for range b.N {
		step()
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
	b.ReportMetric(setup.Seconds(), "setup-s")
	b.ReportMetric(float64(train.PeakRSS())/(1<<20), "peak-MiB")
}
