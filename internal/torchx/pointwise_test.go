package torchx

import (
	"math"
	"testing"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

func handle(t *ts.Tensor) lib.Ctensor { return lib.Ctensor(t.Ctensor()) }

// Addcmul_ and Addcdiv_ against values computed by hand in float32, in the kernel's
// order ((v·t1)·t2 and (v·t1)/t2), for a value in range and one that takes the
// scaled-copy path (overflowing to ±inf, as the copy would).
func TestAddcmulAddcdivWithValue(t *testing.T) {
	self := []float32{1, -2, 0.5, 3}
	t1 := []float32{0.3, 0.7, -1.1, 2}
	t2 := []float32{2, -0.25, 4, 1e-3}
	for _, c := range []struct {
		name string
		div  bool
		v    float64
	}{
		{"addcmul", false, 1e-3},
		{"addcdiv", true, -0.0123},
		{"addcmul, value beyond float16", false, 1e5},
		{"addcdiv, value beyond float32", true, -1e40},
	} {
		s := ts.MustOfSlice(self)
		a, b := ts.MustOfSlice(t1), ts.MustOfSlice(t2)
		if c.div {
			Addcdiv_(handle(s), handle(a), handle(b), c.v)
		} else {
			Addcmul_(handle(s), handle(a), handle(b), c.v)
		}
		got := s.Float64Values()
		for i := range self {
			va := float32(float32(c.v) * t1[i])
			if math.IsInf(c.v, 0) || math.Abs(c.v) > math.MaxFloat32 {
				va = float32(math.Inf(int(math.Copysign(1, c.v)))) * t1[i]
			}
			var want float32
			if c.div {
				want = self[i] + va/t2[i]
			} else {
				want = self[i] + float32(va*t2[i]) // the conversion rounds: no fused multiply-add
			}
			if float32(got[i]) != want {
				t.Errorf("%s [%d] = %v, want %v", c.name, i, got[i], want)
			}
		}
		for _, x := range []*ts.Tensor{s, a, b} {
			x.MustDrop()
		}
	}
}
