package torchx

import (
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Under CPU bfloat16 autocast a matmul of float32 inputs returns bfloat16 (as
// torch.autocast("cpu") does); outside it, and after it, float32 again.
func TestAutocastCPUBFloat16Matmul(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	a := ts.MustOnes([]int64{2, 3}, gotch.Float, gotch.CPU)
	b := ts.MustOnes([]int64{3, 2}, gotch.Float, gotch.CPU)
	defer a.MustDrop()
	defer b.MustDrop()
	kind := func() gotch.DType {
		c := a.MustMatmul(b, false)
		defer c.MustDrop()
		return c.DType()
	}
	if got := kind(); got != gotch.Float {
		t.Fatalf("matmul before autocast is %v, want float32", got)
	}
	var inside gotch.DType
	var enabled bool
	if err := Autocast(false, gotch.BFloat16, func() { inside, enabled = kind(), AutocastEnabled(false) }); err != nil {
		t.Fatal(err)
	}
	if inside != gotch.BFloat16 || !enabled {
		t.Fatalf("matmul under CPU bfloat16 autocast is %v (enabled %v), want bfloat16", inside, enabled)
	}
	if got := kind(); got != gotch.Float || AutocastEnabled(false) {
		t.Fatalf("matmul after autocast is %v (enabled %v), want float32 and off", got, AutocastEnabled(false))
	}
}

// Nested regions restore the outer one's state.
func TestAutocastNests(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var innerOn, outerOn bool
	err := Autocast(false, gotch.BFloat16, func() {
		_ = Autocast(false, gotch.BFloat16, func() { innerOn = AutocastEnabled(false) })
		outerOn = AutocastEnabled(false)
	})
	if err != nil || !innerOn || !outerOn || AutocastEnabled(false) {
		t.Fatalf("err %v, inner on %v, outer on after inner %v, on after both %v", err, innerOn, outerOn, AutocastEnabled(false))
	}
}

func TestAutocastRejects(t *testing.T) {
	for _, c := range []struct {
		cuda bool
		dt   gotch.DType
		want string
	}{
		{false, gotch.Half, "CPU runs in bfloat16 only"},
		{false, gotch.Float, "float16 or bfloat16, not Float"},
		{true, gotch.Double, "float16 or bfloat16, not Double"},
	} {
		ran := false
		err := Autocast(c.cuda, c.dt, func() { ran = true })
		if err == nil || !strings.Contains(err.Error(), c.want) || ran {
			t.Errorf("Autocast(cuda=%v, %v): err %v, ran %v; want an error with %q", c.cuda, c.dt, err, ran, c.want)
		}
	}
	if err := CheckAutocast(true, gotch.Half); err != nil {
		t.Errorf("CheckAutocast(cuda, float16) = %v, want nil", err)
	}
}
