package torchx

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Same seed, same draws; another seed, other draws: the seed reaches libtorch's generator.
func TestManualSeedRepeats(t *testing.T) {
	draw := func(seed int64) []float64 {
		ManualSeed(seed)
		x := ts.MustRandn([]int64{5}, gotch.Double, gotch.CPU)
		defer x.MustDrop()
		return x.Float64Values()
	}
	a, b, c := draw(7), draw(7), draw(8)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 7 drew %v then %v", a, b)
		}
	}
	if a[0] == c[0] && a[1] == c[1] {
		t.Fatalf("seeds 7 and 8 drew the same %v", a)
	}
}

func TestNumThreads(t *testing.T) {
	old := NumThreads()
	defer SetNumThreads(old)
	SetNumThreads(1)
	if got := NumThreads(); got != 1 {
		t.Fatalf("NumThreads() = %d after SetNumThreads(1)", got)
	}
}

// SetGradEnabled reports the previous state truthfully (gotch's wrapper does not).
func TestSetGradEnabledReportsPreviousState(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig := SetGradEnabled(true)
	defer SetGradEnabled(orig)
	if !SetGradEnabled(false) {
		t.Error("after enabling, SetGradEnabled(false) reported it was off")
	}
	if SetGradEnabled(true) {
		t.Error("after disabling, SetGradEnabled(true) reported it was on")
	}
	x := ts.MustOnes([]int64{2}, gotch.Float, gotch.CPU).MustSetRequiresGrad(true, true)
	SetGradEnabled(false)
	y := x.MustMulScalar(ts.FloatScalar(2), false)
	SetGradEnabled(true)
	if y.MustRequiresGrad() {
		t.Error("an op under SetGradEnabled(false) recorded a graph")
	}
}
