package adalora

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/train"
)

// fixture is peft 0.12.0's AdaLoraModel on the tiny BERT (scripts/fixtures/gen_adalora.py).
const (
	bertDir = "../../models/testdata/bert"
	fixture = "testdata/adalora.safetensors"
)

// fixtureConfig is gen_adalora.py's AdaLoraConfig.
func fixtureConfig() Config {
	return Config{InitR: 4, TargetR: 2, Alpha: 8, Tinit: 2, Tfinal: 4, DeltaT: 2, TotalStep: 12,
		Beta1: 0.85, Beta2: 0.95, OrthRegWeight: 0.5}
}

// ceTask trains on the fixture's three batches in order, the model in eval mode (the
// reference has no dropout), loss = cross-entropy (the engine adds the penalty).
type ceTask struct {
	m       models.SequenceClassifier
	batches []any
}

type labelled struct {
	b      models.Batch
	labels *ts.Tensor
}

func (c *ceTask) Batches(int) ([]any, error) { return c.batches, nil }
func (c *ceTask) Loss(b any) (*ts.Tensor, error) {
	l := b.(labelled)
	logits := c.m.Forward(l.b)
	defer logits.MustDrop()
	return logits.CrossEntropyForLogits(l.labels), nil
}
func (c *ceTask) Evaluate() (train.Scores, error) {
	return train.Scores{Main: "none", Values: map[string]float64{"none": 0}}, nil
}
func (c *ceTask) SetTraining(bool) {}

func setup(t *testing.T) (*AdaLoRA, models.SequenceClassifier, map[string]*ts.Tensor, []any) {
	t.Helper()
	want, err := safetensors.Load(fixture)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := bert.Load(bertDir, bert.Classification, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	ad, err := New(fixtureConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := ad.Apply(m); err != nil {
		t.Fatal(err)
	}
	if len(ad.layers) != 12 {
		t.Fatalf("adapted %d linears, want the 12 of the fixture", len(ad.layers))
	}
	models.NoGrad(func() {
		for _, ly := range ad.layers {
			for j, p := range ly.params() {
				key := "init." + ly.linear.Name + "." + paramNames[j]
				w, ok := want[key]
				if !ok {
					t.Fatalf("fixture has no %s", key)
				}
				p.Copy_(w)
			}
		}
	})
	var batches []any
	for i := range 3 {
		ids := want[fmt.Sprintf("batch%d.input_ids", i)]
		batches = append(batches, labelled{
			b:      models.Batch{InputIDs: ids, AttentionMask: want[fmt.Sprintf("batch%d.attention_mask", i)], TokenTypeIDs: ids.MustZerosLike(false)},
			labels: want[fmt.Sprintf("batch%d.labels", i)],
		})
	}
	return ad, m, want, batches
}

func maxAbs(a, b *ts.Tensor) float64 {
	av, bv := a.Float64Values(), b.Float64Values()
	d := 0.0
	for i := range av {
		d = math.Max(d, math.Abs(av[i]-bv[i]))
	}
	return d
}

// At a non-trivial state (Λ ≠ 0) the logits, the task loss and the loss with the
// orthogonal penalty equal peft's.
func TestForwardAndLossMatchPEFT(t *testing.T) {
	ad, m, want, batches := setup(t)
	b0 := batches[0].(labelled)
	models.NoGrad(func() {
		logits := m.Forward(b0.b)
		if e := testmodel.RelErr(logits, want["logits0"]); e > 1e-5 {
			t.Errorf("logits: relative error %g against peft", e)
		}
		ce := logits.CrossEntropyForLogits(b0.labels)
		reg, err := ad.Regularization()
		if err != nil {
			t.Fatal(err)
		}
		total := ce.MustAdd(reg, false)
		t.Logf("task loss %.6f, penalty %.6f, total %.6f (peft %.6f)", ce.Float64Values()[0], reg.Float64Values()[0], total.Float64Values()[0], want["loss0"].Float64Values()[0])
		if d := maxAbs(ce, want["task_loss0"]); d > 1e-5 {
			t.Errorf("task loss differs from peft's by %g", d)
		}
		if d := maxAbs(total, want["loss0"]); d > 1e-5 {
			t.Errorf("loss with the penalty differs from peft's by %g", d)
		}
	})
}

// Twelve steps through the engine (AdamW, the penalty in the loss, the allocator as a
// hook) follow peft's loop: after every step the triplet scores, the budget and which
// λ are zeroed are peft's; A, B and the head after step 1 and everything after step
// 12 agree to float32 round-off.
func TestTrainingFollowsPEFT(t *testing.T) {
	ad, m, want, batches := setup(t)
	adapter, head := ad.Trainable()
	var params []train.Param
	for _, p := range append(adapter, head...) {
		p.NoDecay = false // torch.optim.AdamW(weight_decay=1e-2) decays all of them
		params = append(params, p)
	}
	cfg := train.Config{MaxSteps: 12, Schedule: train.ConstantSchedule, Regularization: ad.Regularization}
	opt := cfg.AdamW([]train.Group{{Params: params, LR: 1e-2, WeightDecay: 1e-2}})
	headNames := map[string]string{} // ours → the fixture's
	for _, p := range head {
		headNames[p.Name] = "classifier.weight"
		if strings.HasSuffix(p.Name, "bias") {
			headNames[p.Name] = "classifier.bias"
		}
	}
	end := ad.cfg.TotalStep - ad.cfg.Tfinal
	check := func(step int) error {
		gs := step - 1
		key := func(ly *Layer, what string) string { return fmt.Sprintf("step%d.%s.%s", step, ly.linear.Name, what) }
		budget, _ := ad.alloc.budget(gs)
		if w := int(want[fmt.Sprintf("step%d.budget", step)].Int64Values()[0]); budget != w {
			t.Errorf("step %d: budget %d, peft %d", step, budget, w)
		}
		var scores []*ts.Tensor
		switch {
		case gs < end:
			scores = ad.alloc.tripletScores()
		case gs == end:
			scores = ad.alloc.scores // the final allocation's, before the reset
		}
		worst := 0.0
		for i, ly := range ad.layers {
			if scores != nil {
				w := want[key(ly, "score")]
				if e := testmodel.RelErr(scores[i], w); e > 1e-3 {
					t.Errorf("step %d %s: scores %v, peft %v (relative error %g)", step, ly.linear.Name, scores[i].Float64Values(), w.Float64Values(), e)
				}
			}
			got, w := ly.E.Float64Values(), want[key(ly, "lora_E")].Float64Values()
			for j := range got {
				if (got[j] == 0) != (w[j] == 0) {
					t.Errorf("step %d %s: λ = %v, peft %v: masks differ", step, ly.linear.Name, got, w)
					break
				}
				worst = math.Max(worst, math.Abs(got[j]-w[j]))
			}
			if step == 1 {
				for _, p := range []struct {
					n string
					t *ts.Tensor
				}{{"lora_A", ly.A}, {"lora_B", ly.B}} {
					if d := maxAbs(p.t, want[key(ly, p.n)]); d > 1e-5 {
						t.Errorf("step 1 %s.%s differs from peft's by %g", ly.linear.Name, p.n, d)
					}
				}
			}
		}
		if worst > 1e-4 {
			t.Errorf("step %d: λ differ from peft's by up to %g", step, worst)
		}
		if step == 1 {
			for _, p := range head {
				if d := maxAbs(p.T, want["step1."+headNames[p.Name]]); d > 1e-5 {
					t.Errorf("step 1 %s differs from peft's by %g", p.Name, d)
				}
			}
		}
		return nil
	}
	hooks := append(ad.Hooks(), check)
	if _, err := train.Run(cfg, &ceTask{m: m, batches: batches}, opt, hooks...); err != nil {
		t.Fatal(err)
	}
	worst := map[string]float64{}
	for _, ly := range ad.layers {
		for j, p := range ly.params() {
			n := paramNames[j]
			worst[n] = math.Max(worst[n], maxAbs(p, want["final."+ly.linear.Name+"."+n]))
		}
	}
	for _, p := range head {
		worst["head"] = math.Max(worst["head"], maxAbs(p.T, want["final."+headNames[p.Name]]))
	}
	t.Logf("after 12 steps, max |Go − peft|: %v", worst)
	for n, d := range worst {
		if d > 1e-4 {
			t.Errorf("after 12 steps %s differs from peft's by %g", n, d)
		}
	}
	models.NoGrad(func() {
		logits := m.Forward(batches[0].(labelled).b)
		e := testmodel.RelErr(logits, want["final.logits"])
		t.Logf("final logits: relative error %g", e)
		if e > 1e-4 {
			t.Errorf("final logits: relative error %g against peft", e)
		}
	})
}
