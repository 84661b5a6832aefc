package bert

import (
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
)

// Forward runs the last layer for the first token only (encodeFirst). Its logits and
// every parameter's gradient equal those of the full encoder followed by the same head
// on h[:, 0], on the padded sentence-pair fixture, for BERT and RoBERTa heads.
func TestForwardFirstTokenMatchesFullEncoder(t *testing.T) {
	for _, dir := range []string{fixtures, "../testdata/roberta"} {
		t.Run(dir, func(t *testing.T) {
			m, _, err := Load(dir, Classification, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			m.SetTraining(false) // dropout off: both paths must compute the same function
			b, _ := loadFixtureBatch(t)
			params := m.Params()
			for _, p := range params {
				p.T.MustRequiresGrad_(true)
			}
			gradsOf := func(logits *ts.Tensor) []*ts.Tensor {
				loss := logits.MustSquare(false).MustSum(logits.DType(), true)
				loss.MustBackward()
				loss.MustDrop()
				var out []*ts.Tensor
				for _, p := range params {
					g := p.T.MustGrad(false)
					if !g.MustDefined() { // a parameter the head does not reach
						out = append(out, nil)
						continue
					}
					out = append(out, g.MustDetachCopy(false))
					models.NoGrad(func() { g.MustZero_() })
				}
				return out
			}
			fast := m.Forward(b)
			wantLogits := fullEncoderLogits(m, b)
			compare.Close(t, "logits", fast, wantLogits, 1e-5)
			gFast, gFull := gradsOf(fast), gradsOf(wantLogits)
			for i, p := range params {
				if (gFast[i] == nil) != (gFull[i] == nil) {
					t.Errorf("%s: gradient defined on one path only", p.Name)
				} else if gFast[i] != nil {
					compare.Close(t, p.Name, gFast[i], gFull[i], 1e-5)
				}
			}
		})
	}
}

// fullEncoderLogits is the classification head on the full encoder's h[:, 0], as
// transformers computes it.
func fullEncoderLogits(m *Model, b models.Batch) *ts.Tensor {
	cls := m.Encode(b).MustSelect(1, 0, true)
	if m.Config.ModelType == "roberta" {
		y := m.Dense("classifier.dense", cls).MustTanh(true)
		return m.Dense("classifier.out_proj", y)
	}
	pooled := m.Dense(m.Config.prefix()+"pooler.dense", cls).MustTanh(true)
	return m.Dense("classifier", pooled)
}
