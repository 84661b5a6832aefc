package registry

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
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
	in, labels := benchBatch(c, batch, seq)
	testmodel.BenchStep(b, m, meth, func() *ts.Tensor { return m.Forward(in) }, labels)
}

// BenchmarkResidentGrowth prints how resident memory moves over a long run of tiny-model
// steps per method (KiB per step after a warm-up): it should stay near zero. Before
// scripts/patchgotch, gotch leaked about 10 KiB per step here.
//
//	go test -run '^$' -bench ResidentGrowth -benchtime 2000x ./methods/registry/
func BenchmarkResidentGrowth(b *testing.B) {
	for _, name := range []string{"vectorfit", "lora", "fullft"} {
		b.Run(name, func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			c := bert.Tiny(1000)
			m, _ := bert.New(c, bert.Classification, 1)
			meth, _ := New(name, nil)
			_ = meth.Apply(m)
			m.SetTraining(true)
			adapter, head := meth.Trainable()
			in, labels := benchBatch(c, 16, 32)
			step, _ := testmodel.Step(adapter, head, 1e-4, func() *ts.Tensor { return m.Forward(in) }, labels)
			for range 50 {
				step()
			}
			runtime.GC()
			before := residentKiB()
			b.ResetTimer()
			for i := range b.N {
				step()
				if i%100 == 99 {
					runtime.GC()
				}
			}
			b.StopTimer()
			runtime.GC()
			b.ReportMetric(float64(residentKiB()-before)/float64(b.N), "KiB/step")
		})
	}
}

// residentKiB is the current resident set size from /proc/self/statm.
func residentKiB() int64 {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	fmt.Sscan(string(raw), &size, &resident)
	return resident * int64(os.Getpagesize()) / 1024
}
