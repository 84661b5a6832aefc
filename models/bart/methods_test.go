package bart

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models"
)

// VectorFit, LoRA and full fine-tuning apply to BART with no change in methods/: every
// linear of both stacks (cross-attention included) is adapted, the model's function is
// unchanged at initialisation (VectorFit: W = U diag(s) Vᵀ; LoRA: B = 0) against
// transformers' logits, and a few AdamW steps on the token cross-entropy lower it.
func TestMethodsApplyAndTrain(t *testing.T) {
	testmodel.CheckMethods(t, registry.New, func(t *testing.T) testmodel.MethodsFixture {
		m, io := loadFixture(t, "base")
		b := Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], Labels: io["labels"],
			DecoderAttentionMask: io["decoder_attention_mask"]}
		atInit := func(t *testing.T) {
			var logits, loss *ts.Tensor
			models.NoGrad(func() {
				logits = m.Forward(io["input_ids"], io["attention_mask"], io["decoder_input_ids"], io["decoder_attention_mask"])
				loss = m.Loss(b, 0)
			})
			if e := testmodel.RelErr(logits, io["logits"]); e > 1e-5 {
				t.Errorf("logits after Apply: rel err %g vs transformers, want ≤ 1e-5", e)
			} else {
				t.Logf("logits after Apply: rel err %.3g", e)
			}
			got, want := loss.Float64Values()[0], io["loss"].Float64Values()[0]
			if got-want > 1e-5 || want-got > 1e-5 {
				t.Errorf("loss at init %g, transformers %g", got, want)
			}
		}
		// Training steps use label smoothing 0.1; measurements none.
		loss := func(training bool) *ts.Tensor {
			if training {
				return m.Loss(b, 0.1)
			}
			return m.Loss(b, 0)
		}
		return testmodel.MethodsFixture{Model: m, AtInit: atInit, Loss: loss}
	}, testmodel.MethodsWant{MinDrop: 0.1})
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
