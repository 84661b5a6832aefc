package deberta

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/lora"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/methods/vectorfit"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// relErr is ‖got − want‖ / ‖want‖ over all elements.
func relErr(got, want *ts.Tensor) float64 {
	g, w := got.Float64Values(), want.Float64Values()
	var num, den float64
	for i := range g {
		num += (g[i] - w[i]) * (g[i] - w[i])
		den += w[i] * w[i]
	}
	return math.Sqrt(num / den)
}

// VectorFit (SVD of every linear, singular values and biases trainable) and LoRA (B = 0)
// leave the model's function unchanged at initialisation, through the DeBERTa-specific
// paths too: with share_att_key the adapted query/key projections also project the
// relative embeddings. The six linears of each layer are found by name and type.
func TestMethodsReproduceOutputsAtInit(t *testing.T) {
	for _, name := range fixtureNames {
		for _, meth := range []string{"vectorfit", "lora"} {
			t.Run(name+"/"+meth, func(t *testing.T) {
				m, b, want := loadFixture(t, name, Classification)
				var method methods.Method
				var err error
				if meth == "vectorfit" {
					method, err = vectorfit.New(vectorfit.DefaultConfig())
				} else {
					method, err = lora.New(lora.DefaultConfig())
				}
				if err != nil {
					t.Fatal(err)
				}
				if err := method.Apply(m); err != nil {
					t.Fatal(err)
				}
				for _, l := range m.Linears() {
					if l.Adapter == nil {
						t.Fatalf("%s: %s not adapted", meth, l.Name)
					}
				}
				adapter, head := method.Trainable()
				if len(adapter) == 0 || len(head) != 4 {
					t.Errorf("%d adapter and %d head tensors, want some and 4 (pooler.dense, classifier)", len(adapter), len(head))
				}
				m.SetTraining(false)
				var got, hidden *ts.Tensor
				models.NoGrad(func() {
					got, hidden = m.Forward(b), m.Encode(b)
				})
				for _, c := range []struct {
					name      string
					got, want *ts.Tensor
				}{{"logits", got, want["logits"]}, {"last_hidden_state", hidden, want["last_hidden_state"]}} {
					e := relErr(c.got, c.want)
					t.Logf("%s: rel err %.3g", c.name, e)
					if e > 1e-5 {
						t.Errorf("%s after %s.Apply: rel err %g vs transformers, want ≤ 1e-5", c.name, meth, e)
					}
				}
			})
		}
	}
}

// Trainable parameter counts on deberta-v3-base, from the configuration alone.
func TestTrainableCountsDeBERTaV3Base(t *testing.T) {
	s := ShapeOf(BaseShape(), Classification)
	vf, err := vectorfit.New(vectorfit.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	lo, err := lora.New(lora.Config{R: 8, Alpha: 16})
	if err != nil {
		t.Fatal(err)
	}
	// VectorFit, all six linears with biases: per layer 4·(768 s + 768 b) + (768 + 3072)
	// + (768 + 768). LoRA r = 8: per layer 4·8·(768+768) + 2·8·(768+3072).
	wantVF := int64(12 * (4*(768+768) + (768 + 3072) + (768 + 768)))
	wantLoRA := int64(12 * (4*8*(768+768) + 2*8*(768+3072)))
	gotVF, gotLoRA := vf.CountAdapter(s), lo.CountAdapter(s)
	if gotVF != wantVF || gotLoRA != wantLoRA {
		t.Errorf("VectorFit %d, LoRA %d; want %d and %d", gotVF, gotLoRA, wantVF, wantLoRA)
	}
	t.Logf("deberta-v3-base: base model %d parameters", s.BaseParams)
	t.Logf("  VectorFit (6 linears + bias): %d trainable (%.3f%% of base)", gotVF, 100*float64(gotVF)/float64(s.BaseParams))
	t.Logf("  LoRA r=8 (6 linears):         %d trainable (%.3f%% of base)", gotLoRA, 100*float64(gotLoRA)/float64(s.BaseParams))
}

// BenchmarkDeBERTaV3Base times a deberta-v3-base-shaped model with random weights on
// batch 8 × seq 128: the forward pass in eval mode without autograd, and one training
// step (forward with dropout, backward, AdamW) per method. Numbers, not pass/fail:
//
//	MALLOC_ARENA_MAX=2 go test -run '^$' -bench DeBERTaV3Base -benchtime 3x ./models/deberta/
//
// Each method's model is built once (the testing package calls a benchmark function
// with b.N = 1 before b.N = 3) and all its tensors are freed before the next method's.
// peak-MiB is the process's peak so far. With glibc's default of one malloc arena per
// thread (and goroutines moving between threads) the freed C memory is not reused by
// the next model and the peak grows by ~6 GB per method (21 GB for the three here);
// MALLOC_ARENA_MAX=2 keeps it at one method's, 8.6 GB. The most memory-hungry method
// (fullft: AdamW moments for 184M weights) runs first.
func BenchmarkDeBERTaV3Base(b *testing.B) {
	for _, meth := range []string{"fullft", "lora", "vectorfit"} {
		var st *benchState
		b.Run(meth, func(b *testing.B) {
			if st == nil {
				st = newBenchState(b, meth, 8, 128)
			}
			st.run(b)
		})
		if st != nil {
			st.free()
		}
	}
}

type benchState struct {
	m       *Model
	optStep func() // forward, backward, AdamW
	in      models.Batch
	labels  *ts.Tensor
	setup   time.Duration
}

func newBenchState(b *testing.B, meth string, batch, seq int64) *benchState {
	c := BaseShape()
	m, err := New(c, Classification, 1)
	if err != nil {
		b.Fatal(err)
	}
	method, err := registry.New(meth, nil)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if err := method.Apply(m); err != nil {
		b.Fatal(err)
	}
	st := &benchState{m: m, setup: time.Since(t0)}
	adapter, head := method.Trainable()
	st.in = models.Batch{
		InputIDs:      ts.MustRandint(c.VocabSize, []int64{batch, seq}, gotch.Int64, gotch.CPU),
		AttentionMask: ts.MustOnes([]int64{batch, seq}, gotch.Int64, gotch.CPU),
	}
	st.labels = ts.MustZeros([]int64{batch}, gotch.Int64, gotch.CPU)
	st.optStep, _ = testmodel.Step(adapter, head, 1e-4, func() *ts.Tensor { return st.m.Forward(st.in) }, st.labels)
	return st
}

func (st *benchState) forward() {
	st.m.SetTraining(false)
	models.NoGrad(func() { st.m.Forward(st.in).MustDrop() })
}

func (st *benchState) step() {
	st.m.SetTraining(true)
	st.optStep()
}

func (st *benchState) run(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st.forward() // warm-up: allocator and optimizer state
	st.step()
	b.ResetTimer()
	var fwd, stp time.Duration
	for range b.N {
		t0 := time.Now()
		st.forward()
		fwd += time.Since(t0)
		t0 = time.Now()
		st.step()
		stp += time.Since(t0)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(fwd.Milliseconds())/n, "forward-ms")
	b.ReportMetric(float64(stp.Milliseconds())/n, "step-ms")
	b.ReportMetric(st.setup.Seconds(), "setup-s")
	b.ReportMetric(float64(train.PeakRSS())/(1<<20), "peak-MiB")
}

// free releases the model's weights now; what only the method and the optimizer hold
// goes with their finalizers.
func (st *benchState) free() {
	for _, p := range st.m.Params() {
		p.T.MustDrop()
	}
	st.in.Drop()
	st.labels.MustDrop()
	*st = benchState{}
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory() // the Go heap of the random initialisation
}
