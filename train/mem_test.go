package train

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// residentBytes is the current resident set size (second field of /proc/self/statm,
// in pages), or 0 off Linux. Unlike VmHWM it can go down, so it shows a leak's growth.
func residentBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// allocTask is a 512×512 linear layer on fresh random inputs: each step allocates a
// few MB of tensors (input, activations, graph, a 1 MB gradient, the optimizer's
// temporaries) and leaves the intermediates to gotch's finalizers, as model code does.
type allocTask struct {
	w     *ts.Tensor
	steps int
}

func newAllocTask(steps int) *allocTask {
	w := ts.MustRandn([]int64{512, 512}, gotch.Float, gotch.CPU)
	w.MustRequiresGrad_(true)
	return &allocTask{w: w, steps: steps}
}

func (t *allocTask) Batches(int) ([]any, error) { return make([]any, t.steps), nil }

func (t *allocTask) Loss(any) (*ts.Tensor, error) {
	x := ts.MustRandn([]int64{128, 512}, gotch.Float, gotch.CPU)
	h := x.MustMatmul(t.w, false)
	a := h.MustRelu(false)
	loss := a.MustMean(gotch.Float, false)
	// gotch's ops do not keep their operands alive during the C call, so a tensor whose
	// last use is as an operand can be finalized while libtorch still reads it.
	runtime.KeepAlive(x)
	runtime.KeepAlive(h)
	runtime.KeepAlive(a)
	return loss, nil
}

func (t *allocTask) Evaluate() (Scores, error) {
	return Scores{Main: "x", Values: map[string]float64{"x": 0}}, nil
}

func (t *allocTask) SetTraining(bool) {}

// 300 steps must not grow resident memory: the engine frees its temporaries and
// collects the task's (checked to fail with a 1 MB-per-step leak in AdamW.update).
func TestRunMemoryStaysFlat(t *testing.T) {
	if residentBytes() == 0 {
		t.Skip("no /proc/self/statm")
	}
	const from, to, limit = 50, 300, 30 << 20
	task := newAllocTask(to)
	rss := map[int]int64{}
	probe := func(step int) error {
		if step == from || step == to {
			rss[step] = residentBytes()
		}
		return nil
	}
	cfg := Config{Epochs: 1, MaxGradNorm: 1}
	opt := cfg.AdamW([]Group{{Params: []Param{{Name: "w", T: task.w}}, LR: 1e-3, WeightDecay: 0.01}})
	if _, err := Run(cfg, task, opt, probe); err != nil {
		t.Fatal(err)
	}
	growth := rss[to] - rss[from]
	t.Logf("resident memory: %.1f MB after step %d, %.1f MB after step %d: growth %.2f MB",
		float64(rss[from])/(1<<20), from, float64(rss[to])/(1<<20), to, float64(growth)/(1<<20))
	if growth > limit {
		t.Errorf("resident memory grew %.1f MB from step %d to %d, want < %d MB", float64(growth)/(1<<20), from, to, limit>>20)
	}
}

func TestPeakRSS(t *testing.T) {
	cur := residentBytes()
	if cur == 0 {
		t.Skip("no /proc")
	}
	if peak := PeakRSS(); peak < cur {
		t.Errorf("PeakRSS %d below current RSS %d", peak, cur)
	}
}
