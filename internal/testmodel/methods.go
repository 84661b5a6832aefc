package testmodel

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// MethodsFixture is one freshly loaded model for CheckMethods and what is particular
// to its family.
type MethodsFixture struct {
	Model models.Model
	// AtInit compares the adapted model's output (eval mode; call models.NoGrad) with
	// the reference framework's output of the checkpoint: adapting must not change it.
	AtInit func(t *testing.T)
	// Loss is a loss the training steps lower. training says whether it is for a step
	// (the model is in training mode) or a measurement (eval mode, under NoGrad).
	Loss func(training bool) *ts.Tensor
}

// MethodsWant is what CheckMethods expects beyond "the methods apply and train".
type MethodsWant struct {
	// Adapter is a method's trainable count, computed by hand; a method not in it must
	// only train something. Base, when > 0, is the base model's parameter count.
	Adapter map[string]int64
	Base    int64
	// After 10 AdamW steps the loss must be below before − MinDrop − MinRelDrop·before.
	MinDrop, MinRelDrop float64
}

// NewMethod builds a method by registry name (registry.New: passed in, since the
// methods' own tests import this package).
type NewMethod func(name string, kv map[string]string) (methods.Method, error)

// CheckMethods checks that VectorFit, LoRA and full fine-tuning apply to a model family
// with no change in methods/: every linear is adapted (fullft: none is wrapped), only
// adapter tensors train (the model has no task head), the counts are want's, the
// output is unchanged at initialisation (fixture.AtInit), ten AdamW steps (lr 1e-2,
// the method's hooks after each) lower the loss, and Deltas names every linear.
// load gives a fresh model for each method.
func CheckMethods(t *testing.T, newMethod NewMethod, load func(t *testing.T) MethodsFixture, want MethodsWant) {
	for _, name := range []string{"vectorfit", "lora", "fullft"} {
		t.Run(name, func(t *testing.T) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			f := load(t)
			m := f.Model
			method, err := newMethod(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := method.Apply(m); err != nil {
				t.Fatal(err)
			}
			if name != "fullft" {
				for _, l := range m.Linears() {
					if l.Adapter == nil {
						t.Fatalf("%s not adapted", l.Name)
					}
				}
			}
			adapter, head := method.Trainable()
			if len(adapter) == 0 || len(head) != 0 {
				t.Fatalf("%d adapter and %d head tensors, want some and none", len(adapter), len(head))
			}
			checkCounts(t, name, methods.Count(method, m), want)
			m.SetTraining(false)
			f.AtInit(t)

			opt := train.NewAdamW([]train.Group{{Name: "adapter", Params: adapter, LR: 1e-2}}, 0.9, 0.999, 1e-8)
			evalLoss := func() float64 {
				m.SetTraining(false)
				var l *ts.Tensor
				models.NoGrad(func() { l = f.Loss(false) })
				defer l.MustDrop()
				return l.Float64Values()[0]
			}
			before := evalLoss()
			m.SetTraining(true)
			for step := 1; step <= 10; step++ {
				l := f.Loss(true)
				l.MustBackward()
				l.MustDrop()
				opt.Step(1)
				opt.ZeroGrad()
				for _, h := range method.Hooks() {
					if err := h(step); err != nil {
						t.Fatal(err)
					}
				}
			}
			after := evalLoss()
			t.Logf("%s: loss %.5f -> %.5f after 10 steps", name, before, after)
			if drop := want.MinDrop + want.MinRelDrop*before; !(after < before-drop) {
				t.Errorf("%s: loss %g -> %g, want a drop of at least %g", name, before, after, drop)
			}
			if name == "fullft" {
				return
			}
			// Deltas name every adapted linear.
			ds, err := method.(interface {
				Deltas() ([]methods.Delta, error)
			}).Deltas()
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != len(m.Linears()) {
				t.Errorf("%d deltas, want %d", len(ds), len(m.Linears()))
			}
		})
	}
}

// checkCounts compares a method's counts with the hand-computed ones in want.
func checkCounts(t *testing.T, name string, got methods.Counts, want MethodsWant) {
	t.Helper()
	if adapter, ok := want.Adapter[name]; ok && got.Adapter != adapter {
		t.Errorf("%s: %d adapter parameters, want %d", name, got.Adapter, adapter)
	}
	if got.Head != 0 {
		t.Errorf("%s: %d head parameters, want 0", name, got.Head)
	}
	if want.Base > 0 && got.Base != want.Base {
		t.Errorf("%s: base model of %d parameters, want %d", name, got.Base, want.Base)
	}
}
