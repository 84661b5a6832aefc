package clip

import (
	"runtime"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// VectorFit, LoRA and full fine-tuning apply to the CLIP text encoder with no change in
// methods/: every linear is adapted, the function is unchanged at initialisation
// (VectorFit: W = U diag(s) Vᵀ; LoRA: B = 0) against transformers' last_hidden_state,
// and a few AdamW steps lower a loss on the outputs (the mean square of
// last_hidden_state − 1 here; DreamBooth's loss is the UNet's, downstream).
func TestMethodsApplyAndTrain(t *testing.T) {
	for _, name := range []string{"vectorfit", "lora", "fullft"} {
		t.Run(name, func(t *testing.T) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			m, io := loadText(t, "text_quick")
			method, err := registry.New(name, nil)
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
			m.SetTraining(false)
			var out TextOutput
			models.NoGrad(func() { out = m.Forward(io["input_ids"], nil) })
			if e := testmodel.RelErr(out.LastHiddenState, io["last_hidden_state"]); e > 1e-5 {
				t.Errorf("last_hidden_state after Apply: rel err %g vs transformers, want ≤ 1e-5", e)
			}
			out.Drop()
			loss := func() *ts.Tensor {
				o := m.Forward(io["input_ids"], nil)
				defer o.Drop()
				d := o.LastHiddenState.MustSubScalar(ts.FloatScalar(1), false)
				return d.MustSquare(true).MustMean(gotch.Float, true)
			}
			eval := func() float64 {
				var l *ts.Tensor
				models.NoGrad(func() { l = loss() })
				defer l.MustDrop()
				return l.Float64Values()[0]
			}
			opt := train.NewAdamW([]train.Group{{Name: "adapter", Params: adapter, LR: 1e-2}}, 0.9, 0.999, 1e-8)
			before := eval()
			m.SetTraining(true)
			for step := 1; step <= 10; step++ {
				l := loss()
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
			m.SetTraining(false)
			after := eval()
			t.Logf("%s: loss %.4f -> %.4f after 10 steps", name, before, after)
			if !(after < before-0.05) {
				t.Errorf("%s: loss %g -> %g, want a drop of at least 0.05", name, before, after)
			}
			if name == "fullft" {
				return
			}
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

// The built-in tiny models build and run: pooled text of the character tokenizer's ids,
// projected image and text features of the right sizes.
func TestTinyModels(t *testing.T) {
	tok := CharTokenizer(77)
	text, err := NewText(TinyText(tok.VocabSize()), 1)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := tok.EncodePadded("a photo of sks ring")
	in := ts.MustOfSlice(ids).MustView([]int64{1, 77}, true)
	out := text.Forward(in, nil)
	if got := out.LastHiddenState.MustSize(); !slices.Equal(got, []int64{1, 77, 32}) {
		t.Errorf("text hidden %v", got)
	}
	m, err := New(Tiny(tok.VocabSize()), 2)
	if err != nil {
		t.Fatal(err)
	}
	px := ts.MustZeros([]int64{2, 3, 32, 32}, gotch.Float, gotch.CPU)
	if got := m.ImageFeatures(px).MustSize(); !slices.Equal(got, []int64{2, 32}) {
		t.Errorf("image features %v", got)
	}
	if got := m.TextFeatures(in, nil).MustSize(); !slices.Equal(got, []int64{1, 32}) {
		t.Errorf("text features %v", got)
	}
}
