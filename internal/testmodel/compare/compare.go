// Package compare checks tensors against reference outputs. It is apart from testmodel
// (which builds a BERT) so that the models' own internal tests can use it too.
package compare

import (
	"fmt"
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
	if !(d <= tol) { // NaN fails too
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

// HiddenStates compares a model's per-layer states (HiddenStates: the embedding output,
// then after each layer) with a fixture's hidden_states_<i><suffix>, every layer, and
// fails naming the first layer above tol: later layers inherit its error, so that is
// where to look. A fixture without a state for every layer, or with more, fails too.
func HiddenStates(t testing.TB, got []*ts.Tensor, io map[string]*ts.Tensor, suffix string, tol float64) {
	t.Helper()
	want := make([]*ts.Tensor, len(got))
	for i := range want {
		name := fmt.Sprintf("hidden_states_%d%s", i, suffix)
		if want[i] = io[name]; want[i] == nil {
			t.Fatalf("the fixture has no %s: it must hold all %d hidden states", name, len(got))
		}
	}
	if extra := fmt.Sprintf("hidden_states_%d%s", len(got), suffix); io[extra] != nil {
		t.Fatalf("the model returned %d hidden states, but the fixture also has %s", len(got), extra)
	}
	Layers(t, "hidden_states"+suffix, got, want, tol)
}

// Layers compares got[i] with want[i] layer by layer (index 0 the embedding output,
// index i the output of layer i−1) and fails naming the first layer above tol.
func Layers(t testing.TB, what string, got, want []*ts.Tensor, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d states, want %d", what, len(got), len(want))
	}
	first := -1
	for i := range got {
		d := MaxAbsDiff(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
		t.Logf("%s[%d] (%s): max abs diff %.3g", what, i, LayerName(i), d)
		if !(d <= tol) && first < 0 { // NaN fails too
			first = i
			t.Errorf("%s: first divergence at %s (%s[%d]): max |ours − transformers| = %g, want ≤ %g",
				what, LayerName(i), what, i, d, tol)
		}
	}
}

// LayerName says what hidden state i is: the embedding output or a layer's output.
func LayerName(i int) string {
	if i == 0 {
		return "the embedding output"
	}
	return fmt.Sprintf("the output of layer %d", i-1)
}
