// Package compare checks tensors against reference outputs. It is apart from testmodel
// (which builds a BERT) so that the models' own internal tests can use it too.
package compare

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models/safetensors"
)

// MaxAbsDiff is max|got − want| element by element in float64; a shape mismatch fails
// the test, naming the tensor.
func MaxAbsDiff(t testing.TB, name string, got, want *ts.Tensor) float64 {
	t.Helper()
	if gs, ws := got.MustSize(), want.MustSize(); !slices.Equal(gs, ws) {
		t.Fatalf("%s: shape %v, want %v", name, gs, ws)
	}
	g, w := got.Float64Values(), want.Float64Values()
	worst := 0.0
	for i := range g {
		worst = max(worst, math.Abs(g[i]-w[i]))
	}
	return worst
}

// Close logs MaxAbsDiff and fails the test when it is above tol.
func Close(t testing.TB, name string, got, want *ts.Tensor, tol float64) {
	t.Helper()
	d := MaxAbsDiff(t, name, got, want)
	t.Logf("%s: max abs diff %.3g", name, d)
	if d > tol {
		t.Errorf("%s: max |ours − transformers| = %g, want ≤ %g", name, d, tol)
	}
}

// LoadIO reads dir/inputs_outputs.safetensors, the inputs and reference outputs a
// scripts/fixtures generator wrote.
func LoadIO(t testing.TB, dir string) map[string]*ts.Tensor {
	t.Helper()
	io, err := safetensors.Load(filepath.Join(dir, "inputs_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return io
}
