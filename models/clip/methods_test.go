package clip

import (
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models"
)

// VectorFit, LoRA and full fine-tuning apply to the CLIP text encoder with no change in
// methods/: every linear is adapted, the function is unchanged at initialisation
// (VectorFit: W = U diag(s) Vᵀ; LoRA: B = 0) against transformers' last_hidden_state,
// and a few AdamW steps lower a loss on the outputs (the mean square of
// last_hidden_state − 1 here; DreamBooth's loss is the UNet's, downstream).
func TestMethodsApplyAndTrain(t *testing.T) {
	testmodel.CheckMethods(t, registry.New, func(t *testing.T) testmodel.MethodsFixture {
		m, io := loadText(t, "text_quick")
		atInit := func(t *testing.T) {
			var out TextOutput
			models.NoGrad(func() { out = m.Forward(io["input_ids"], nil) })
			defer out.Drop()
			if e := testmodel.RelErr(out.LastHiddenState, io["last_hidden_state"]); e > 1e-5 {
				t.Errorf("last_hidden_state after Apply: rel err %g vs transformers, want ≤ 1e-5", e)
			}
		}
		loss := func(bool) *ts.Tensor {
			o := m.Forward(io["input_ids"], nil)
			defer o.Drop()
			d := o.LastHiddenState.MustSubScalar(ts.FloatScalar(1), false)
			return d.MustSquare(true).MustMean(gotch.Float, true)
		}
		return testmodel.MethodsFixture{Model: m, AtInit: atInit, Loss: loss}
	}, testmodel.MethodsWant{MinDrop: 0.05})
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
