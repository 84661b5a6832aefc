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

func rss() int64 {
	b, _ := os.ReadFile("/proc/self/statm")
	f := strings.Fields(string(b))
	n, _ := strconv.ParseInt(f[1], 10, 64)
	return n * int64(os.Getpagesize())
}

func TestLeak(t *testing.T) {
	x := ts.MustZeros([]int64{4}, gotch.Float, gotch.CPU)
	s := ts.FloatScalar(1.0)
	measure := func(name string, f func()) {
		for i := 0; i < 10000; i++ { f() }
		runtime.GC(); runtime.GC()
		r0 := rss()
		for i := 0; i < 200000; i++ { f(); if i%5000 == 0 { runtime.GC() } }
		runtime.GC(); runtime.GC()
		t.Logf("%s: %.1f bytes/op", name, float64(rss()-r0)/200000)
	}
	measure("inplace MulScalar_", func() { x.MustMulScalar_(s) })
	measure("outofplace MulScalar+drop", func() { y := x.MustMulScalar(s, false); y.MustDrop() })
	y := ts.MustZeros([]int64{1 << 16}, gotch.Float, gotch.CPU) // 256KB
	measure("drop after inplace on fresh 256KB", func() { z := y.MustMulScalar(s, false); z.MustMulScalar_(s); z.MustDrop() })
}
