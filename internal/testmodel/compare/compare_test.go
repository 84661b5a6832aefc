package compare

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"
)

// recorder keeps what Errorf reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Helper()             {}

// Fatalf records and stops the goroutine, as testing's does.
func (r *recorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

// run calls fn with a recorder in its own goroutine (Fatalf ends it) and returns what
// it reported.
func run(t *testing.T, fn func(r *recorder)) []string {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return r.errs
}

// A divergence from layer 1 on (states 2 and 3) is reported once, naming layer 1.
func TestHiddenStatesNamesFirstDivergingLayer(t *testing.T) {
	io := map[string]*ts.Tensor{}
	var got []*ts.Tensor
	for i := range 4 {
		w := ts.MustOfSlice([]float32{float32(i), 1, 2})
		io[fmt.Sprintf("hidden_states_%d", i)] = w
		g := w.MustShallowClone()
		if i >= 2 {
			g = w.MustAddScalar(ts.FloatScalar(float64(i)*1e-3), false)
		}
		got = append(got, g)
	}
	errs := run(t, func(r *recorder) { HiddenStates(r, got, io, "", 1e-4) })
	if len(errs) != 1 || !strings.Contains(errs[0], "first divergence at the output of layer 1 (hidden_states[2])") {
		t.Errorf("errors %q, want one naming the output of layer 1", errs)
	}
	// A model returning fewer states than the fixture has, or a fixture missing one.
	errs = run(t, func(r *recorder) { HiddenStates(r, got[:2], io, "", 1e-4) })
	if len(errs) != 1 || !strings.Contains(errs[0], "the fixture also has hidden_states_2") {
		t.Errorf("errors %q, want one saying the fixture has more states", errs)
	}
	delete(io, "hidden_states_3")
	errs = run(t, func(r *recorder) { HiddenStates(r, got, io, "", 1e-4) })
	if len(errs) != 1 || !strings.Contains(errs[0], "no hidden_states_3") {
		t.Errorf("errors %q, want one saying the fixture lacks hidden_states_3", errs)
	}
}
