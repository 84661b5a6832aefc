package vectorfit

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/models"
)

// The path choice, against multiply-adds counted by hand for BERT-base and MiniLM
// shapes at 8×128 tokens (see useFactored's table).
func TestFactoredIsCheaper(t *testing.T) {
	for _, c := range []struct {
		name             string
		n, out, in, r    int64
		training, expect bool
	}{
		// 2·1024·768·1536 = 2.42 G < 2·768³ + 3·1024·768² = 2.72 G
		{"BERT-base attention, training", 1024, 768, 768, 768, true, true},
		// 1024·768·1536 = 1.21 G > 768³ + 1024·768² = 1.06 G
		{"BERT-base attention, eval", 1024, 768, 768, 768, false, false},
		// 2·1024·768·3840 = 6.04 G < 2·768²·3072 + 3·1024·768·3072 = 10.9 G
		{"BERT-base FFN up, training", 1024, 3072, 768, 768, true, true},
		// 1024·768·3840 = 3.02 G < 768²·3072 + 1024·768·3072 = 4.23 G
		{"BERT-base FFN up, eval", 1024, 3072, 768, 768, false, true},
		// 2·1024·384·768 = 0.604 G > 2·384³ + 3·1024·384² = 0.566 G
		{"MiniLM attention, training", 1024, 384, 384, 384, true, false},
		// one row: rebuilding a 768² W is never worth it
		{"one token, training", 1, 768, 768, 768, true, true},
	} {
		if got := factoredIsCheaper(c.n, c.out, c.in, c.r, c.training); got != c.expect {
			t.Errorf("%s: factored cheaper = %v, want %v", c.name, got, c.expect)
		}
	}
}

// A frozen s (AVF) and an evaluation are served by a W built once, and that W must
// follow s: rebuilt after s trained again and changed, after LoadState (a resumed
// checkpoint's values), and when s changes during an evaluation. Factored is forced so
// that the per-call path would differ from x·Wᵀ.
func TestFixedWeightFollowsSingularValues(t *testing.T) {
	m := testmodel.Tiny(t, 4)
	cfg := DefaultConfig()
	cfg.Forward = Factored
	vf := apply(t, m, cfg)
	ly := vf.Layers()[0]
	x := ts.MustRandn([]int64{3, 5, ly.linear.In()}, gotch.Float, gotch.CPU)
	defer x.MustDrop()
	forwardIsDense := func(step string, training bool) {
		t.Helper()
		w := ly.weight().MustDetach(true)
		defer w.MustDrop()
		want := models.Dense(x, w, ly.bias)
		defer want.MustDrop()
		got := ly.Forward(x, training)
		defer got.MustDrop()
		if !got.MustEqual(want, false) {
			t.Errorf("%s: forward is not x·Wᵀ + b with the current s", step)
		}
	}
	nudge := func() {
		models.NoGrad(func() {
			torchx.InPlace(ly.singularValues, func() { ly.singularValues.MustAddScalar_(ts.FloatScalar(0.5)) })
		})
	}

	ly.singularValues.MustRequiresGrad_(false) // what AVF does
	forwardIsDense("frozen", true)
	ly.singularValues.MustRequiresGrad_(true) // released: trains again
	nudge()                                   // an optimizer step
	ly.singularValues.MustRequiresGrad_(false)
	forwardIsDense("frozen again after training", true)

	state, meta, err := vf.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	nudge() // a checkpoint's restore copies saved values into s
	if err := vf.LoadState(state, meta); err != nil {
		t.Fatal(err)
	}
	ly.singularValues.MustRequiresGrad_(false)
	forwardIsDense("after LoadState", true)

	ly.singularValues.MustRequiresGrad_(true) // trains, but an evaluation runs
	vf.EvalMode(true)
	forwardIsDense("evaluation", false)
	nudge()
	forwardIsDense("evaluation, after s changed", false)
	vf.EvalMode(false)
}
