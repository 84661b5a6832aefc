package testmodel

import (
	"runtime"
	"testing"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Trainer is what TrainSteps needs of a method.
type Trainer interface {
	Trainable() (adapter, head []train.Param)
	Hooks() []train.Hook
}

// Step returns one optimizer step of cross-entropy of logits() against labels: plain
// AdamW with lr on the method's adapter and head groups. The optimizer is returned too.
func Step(adapter, head []train.Param, lr float64, logits func() *ts.Tensor, labels *ts.Tensor) (func(), *train.AdamW) {
	opt := train.NewAdamW([]train.Group{{Name: "adapter", Params: adapter, LR: lr}, {Name: "head", Params: head, LR: lr}}, 0.9, 0.999, 1e-8)
	return func() {
		out := logits()
		loss := out.CrossEntropyForLogits(labels)
		out.MustDrop()
		loss.MustBackward()
		loss.MustDrop()
		opt.Step(1)
		opt.ZeroGrad()
	}, opt
}

// TrainSteps runs plain AdamW steps (lr 1e-2) of cross-entropy of logits() — a batch of
// two — against labels 0 and 2, calling the method's hooks after each step. It returns
// the optimizer.
func TrainSteps(t testing.TB, logits func() *ts.Tensor, meth Trainer, steps int) *train.AdamW {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	labels := ts.MustOfSlice([]int64{0, 2})
	defer labels.MustDrop()
	adapter, head := meth.Trainable()
	step, opt := Step(adapter, head, 1e-2, logits, labels)
	for i := 1; i <= steps; i++ {
		step()
		for _, h := range meth.Hooks() {
			if err := h(i); err != nil {
				t.Fatal(err)
			}
		}
	}
	return opt
}

// BenchMethod is what BenchStep needs of a method.
type BenchMethod interface {
	Apply(m models.Model) error
	Trainable() (adapter, head []train.Param)
}

// BenchStep applies meth to m (timed: VectorFit's SVDs) and times AdamW steps (lr 1e-4)
// of cross-entropy of logits() against labels after one warm-up step, reporting
// ms/step, setup-s and the process's peak-MiB.
func BenchStep(b *testing.B, m models.Model, meth BenchMethod, logits func() *ts.Tensor, labels *ts.Tensor) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := time.Now()
	if err := meth.Apply(m); err != nil {
		b.Fatal(err)
	}
	setup := time.Since(t0)
	m.SetTraining(true)
	adapter, head := meth.Trainable()
	step, _ := Step(adapter, head, 1e-4, logits, labels)
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
