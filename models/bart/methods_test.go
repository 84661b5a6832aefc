package bart

import (
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// VectorFit, LoRA and full fine-tuning apply to BART with no change in methods/: every
// linear of both stacks (cross-attention included) is adapted, the model's function is
// unchanged at initialisation (VectorFit: W = U diag(s) Vᵀ; LoRA: B = 0) against
// transformers' logits, and a few AdamW steps on the token cross-entropy lower it.
func TestMethodsApplyAndTrain(t *testing.T) {
	for _, name := range []string{"vectorfit", "lora", "fullft"} {
		t.Run(name, func(t *testing.T) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			m, io := loadFixture(t, "base")
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
			var logits *ts.Tensor
			models.NoGrad(func() {
				logits = m.Forward(io["input_ids"], io["attention_mask"], io["decoder_input_ids"], io["decoder_attention_mask"])
			})
			if e := testmodel.RelErr(logits, io["logits"]); e > 1e-5 {
				t.Errorf("logits after Apply: rel err %g vs transformers, want ≤ 1e-5", e)
			} else {
				t.Logf("logits after Apply: rel err %.3g", e)
			}

			b := Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], Labels: io["labels"],
				DecoderAttentionMask: io["decoder_attention_mask"]}
			opt := train.NewAdamW([]train.Group{{Name: "adapter", Params: adapter, LR: 1e-2}}, 0.9, 0.999, 1e-8)
			evalLoss := func() float64 {
				m.SetTraining(false)
				var l *ts.Tensor
				models.NoGrad(func() { l = m.Loss(b, 0) })
				defer l.MustDrop()
				return l.Float64Values()[0]
			}
			before := evalLoss()
			if want := io["loss"].Float64Values()[0]; before-want > 1e-5 || want-before > 1e-5 {
				t.Errorf("loss at init %g, transformers %g", before, want)
			}
			m.SetTraining(true)
			for step := 1; step <= 10; step++ {
				loss := m.Loss(b, 0.1)
				loss.MustBackward()
				loss.MustDrop()
				opt.Step(1)
				opt.ZeroGrad()
				for _, h := range method.Hooks() {
					if err := h(step); err != nil {
						t.Fatal(err)
					}
				}
			}
			after := evalLoss()
			t.Logf("%s: loss %.4f -> %.4f after 10 steps", name, before, after)
			if !(after < before-0.1) {
				t.Errorf("%s: loss %g -> %g, want a drop of at least 0.1", name, before, after)
			}
			if name == "fullft" {
				return
			}
			// Deltas name every adapted linear, with its layer type.
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

// Targets select cross-attention by the self-attention types: "query" is q_proj of
// every self-attention and every cross-attention block, as PEFT's "q_proj" on BART.
func TestTargetsSelectCrossAttention(t *testing.T) {
	m, _ := loadFixture(t, "scaled") // 2 encoder, 3 decoder layers
	got := methods.Targets(m.Linears(), []models.LayerType{models.Query, models.Value})
	if want := 2*2 + 3*4; len(got) != want {
		t.Errorf("%d query/value linears, want %d", len(got), want)
	}
	cross := 0
	for _, l := range got {
		if strings.Contains(l.Name, ".encoder_attn.") {
			cross++
		}
	}
	if cross != 3*2 {
		t.Errorf("%d cross-attention query/value linears, want 6", cross)
	}
}
