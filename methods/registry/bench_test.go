package registry

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/train"
)

// benchBatch is batch × seq random token ids, no padding.
func benchBatch(c bert.Config, batch, seq int64) (models.Batch, *ts.Tensor) {
	ids := ts.MustRandint(c.VocabSize, []int64{batch, seq}, gotch.Int64, gotch.CPU)
	mask := ts.MustOnes([]int64{batch, seq}, gotch.Int64, gotch.CPU)
	labels := ts.MustZeros([]int64{batch}, gotch.Int64, gotch.CPU)
	return models.Batch{InputIDs: ids, AttentionMask: mask}, labels
}

// BenchmarkTrainingStep prints the time of one optimizer step (forward, backward, AdamW)
// of each method on the tiny model and on a bert-base-shaped model with random weights,
// and the one-time setup (VectorFit's SVDs). Numbers, not pass/fail:
//
//	go test -run '^$' -bench TrainingStep -benchtime 3x ./methods/registry/
func BenchmarkTrainingStep(b *testing.B) {
	shapes := []struct {
		name       string
		cfg        bert.Config
		batch, seq int64
	}{
		{"tiny", bert.Tiny(1000), 32, 64},
		{"bert-base", bert.BaseShape(), 8, 128},
	}
	for _, s := range shapes {
		for _, meth := range []struct {
			name string
			opts map[string]string
		}{
			{"vectorfit", nil},
			{"vectorfit-rebuild", map[string]string{"forward": "rebuild"}},
			{"vectorfit-factored", map[string]string{"forward": "factored"}},
			{"lora", nil},
			{"fullft", nil},
		} {
			b.Run(fmt.Sprintf("%s/%s", s.name, meth.name), func(b *testing.B) {
				benchStep(b, s.cfg, s.batch, s.seq, meth.name, meth.opts)
			})
		}
	}
}

func benchStep(b *testing.B, c bert.Config, batch, seq int64, name string, opts map[string]string) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m, err := bert.New(c, bert.Classification, 1)
	if err != nil {
		b.Fatal(err)
	}
	method := name
	if len(method) > len("vectorfit") && method[:len("vectorfit")] == "vectorfit" {
		method = "vectorfit"
	}
	meth, err := New(method, opts)
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
	in, labels := benchBatch(c, batch, seq)
	step := func() {
		loss := m.Forward(in).CrossEntropyForLogits(labels)
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
