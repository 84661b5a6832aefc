package vit

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models"
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
	c.NumLabels = 10
	m, err := New(c, 1)
	if err != nil {
		b.Fatal(err)
	}
	meth, err := registry.New(method, opts)
	if err != nil {
		b.Fatal(err)
	}
	px := models.Normal(models.NewRNG(1, 0), 1, batch, c.NumChannels, c.ImageSize, c.ImageSize)
	labels := ts.MustZeros([]int64{batch}, gotch.Int64, gotch.CPU)
	testmodel.BenchStep(b, m, meth, func() *ts.Tensor { return m.Forward(px) }, labels)
}
