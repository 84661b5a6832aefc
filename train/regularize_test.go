package train

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"
)

// quadTask has one parameter w and the loss (w − 1)² on every batch.
type quadTask struct{ w *ts.Tensor }

func (q *quadTask) Batches(int) ([]any, error) { return []any{0, 1}, nil }
func (q *quadTask) Loss(any) (*ts.Tensor, error) {
	return q.w.MustSubScalar(ts.FloatScalar(1), false).MustSquare(true).MustSum(q.w.DType(), true), nil
}
func (q *quadTask) Evaluate() (Scores, error) {
	return Scores{Main: "m", Values: map[string]float64{"m": 0}}, nil
}
func (q *quadTask) SetTraining(bool) {}

// Config.Regularization reaches the loss, and hooks see the step's gradients: with
// loss (w−1)² + c·w², a hook reads w.grad = 2(w₀−1) + 2c·w₀ at the first step (w₀ is
// w before the step), averaged over two accumulated micro-batches, which equals it.
func TestRegularizationAndHooksSeeGradients(t *testing.T) {
	const w0, c = 3.0, 0.25
	for _, tc := range []struct {
		name string
		reg  bool
		want float64
	}{
		{"task loss only", false, 2 * (w0 - 1)},
		{"with regularization", true, 2*(w0-1) + 2*c*w0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &quadTask{w: leaf([]float64{w0})}
			cfg := Config{MaxSteps: 1, GradAccum: 2}
			calls := 0
			if tc.reg {
				cfg.Regularization = func() (*ts.Tensor, error) {
					calls++
					return q.w.MustSquare(false).MustSum(q.w.DType(), true).MustMulScalar(ts.FloatScalar(c), true), nil
				}
			}
			var seen float64
			hook := func(int) error {
				g := q.w.MustGrad(false)
				seen = g.Float64Values()[0]
				g.MustDrop()
				return nil
			}
			if _, err := Run(cfg, q, cfg.AdamW([]Group{{Params: []Param{{Name: "w", T: q.w}}, LR: 0.1}}), hook); err != nil {
				t.Fatal(err)
			}
			if math.Abs(seen-tc.want) > 1e-12 {
				t.Errorf("hook saw w.grad = %g, want %g", seen, tc.want)
			}
			if tc.reg && calls != 2 {
				t.Errorf("regularization computed %d times, want once per micro-batch (2)", calls)
			}
			g := q.w.MustGrad(false)
			if v := g.Float64Values()[0]; v != 0 {
				t.Errorf("after the step w.grad = %g, want 0 (zeroed after the hooks)", v)
			}
		})
	}
}

// A failing regularization stops the run with the step in the message.
func TestRegularizationError(t *testing.T) {
	q := &quadTask{w: leaf([]float64{1})}
	cfg := Config{MaxSteps: 1, Regularization: func() (*ts.Tensor, error) { return nil, errors.New("boom") }}
	_, err := Run(cfg, q, cfg.AdamW([]Group{{Params: []Param{{Name: "w", T: q.w}}, LR: 0.1}}))
	if err == nil || !strings.Contains(err.Error(), "train: loss at step 1: regularization: boom") {
		t.Errorf("got %v", err)
	}
}
