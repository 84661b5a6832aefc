package registry

import (
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/realmodel"
	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/train"
)

// cacheTask trains a classifier on fixed random batches and keeps every evaluation's
// logits on a dev batch.
type cacheTask struct {
	m      *bert.Model
	train  []models.Batch
	labels []*ts.Tensor
	dev    models.Batch
	evals  [][]float64
}

func newCacheTask(m *bert.Model, vocab int64) *cacheTask {
	torchx.ManualSeed(7)
	batch := func() models.Batch {
		ids := ts.MustRandint(min(vocab, 1000), []int64{4, 12}, gotch.Int64, gotch.CPU)
		return models.Batch{InputIDs: ids, AttentionMask: ts.MustOnes([]int64{4, 12}, gotch.Int64, gotch.CPU)}
	}
	t := &cacheTask{m: m, dev: batch()}
	for range 3 {
		t.train = append(t.train, batch())
		t.labels = append(t.labels, ts.MustRandint(3, []int64{4}, gotch.Int64, gotch.CPU))
	}
	return t
}

func (t *cacheTask) Batches(int) ([]any, error) { return []any{0, 1, 2}, nil }
func (t *cacheTask) SetTraining(on bool)        { t.m.SetTraining(on) }

func (t *cacheTask) Loss(b any) (*ts.Tensor, error) {
	out := t.m.Forward(t.train[b.(int)])
	return out.CrossEntropyForLogits(t.labels[b.(int)]), nil
}

func (t *cacheTask) Evaluate() (train.Scores, error) {
	out := t.m.Forward(t.dev)
	defer out.MustDrop()
	t.evals = append(t.evals, out.Float64Values())
	return train.Scores{Main: "x", Values: map[string]float64{"x": 0}}, nil
}

// cacheRun trains name for 4 steps, evaluating after each, with or without the
// method's evaluation cache; it returns the evaluations' logits and the trained
// parameters.
func cacheRun(t *testing.T, newModel func() (*bert.Model, int64), name string, opts map[string]string, cache bool) ([][]float64, [][]float64) {
	t.Helper()
	m, vocab := newModel()
	meth, err := New(name, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := meth.Apply(m); err != nil {
		t.Fatal(err)
	}
	task := newCacheTask(m, vocab)
	cfg := train.Config{MaxSteps: 4, EvalEvery: 1, Seed: 3}
	if cache {
		ec, ok := meth.(methods.EvalCacher)
		if !ok {
			t.Fatalf("%s is not a methods.EvalCacher", name)
		}
		cfg.EvalMode = ec.EvalMode
	}
	adapter, head := meth.Trainable()
	opt := cfg.AdamW([]train.Group{{Name: "adapter", Params: adapter, LR: 1e-2}, {Name: "head", Params: head, LR: 1e-2}})
	if _, err := train.Run(cfg, task, opt, meth.Hooks()...); err != nil {
		t.Fatal(err)
	}
	var params [][]float64
	for _, p := range append(adapter, head...) {
		params = append(params, p.T.MustDetach(false).Float64Values())
	}
	return task.evals, params
}

// Building VectorFit's W, merging LoRA/PiSSA's B·A and DoRA's magnitude once per
// evaluation gives the logits of the per-call path within 1e-5 (relative to the largest
// logit), and training that evaluates with the cache follows the trajectory without it
// bit for bit (a cache never writes into a trained tensor). The reference is the
// per-call path, which the methods' own tests hold to PEFT's outputs.
func TestEvalCacheSameNumbers(t *testing.T) {
	tiny := func() (*bert.Model, int64) { return testmodel.Tiny(t, 1), 50 }
	minilm := func() (*bert.Model, int64) {
		dir := realmodel.MiniLM(t)
		m, _, err := bert.Load(dir, bert.Classification, 3, 1)
		if err != nil {
			t.Fatal(err)
		}
		return m, m.Config.VocabSize
	}
	for _, model := range []struct {
		name string
		new  func() (*bert.Model, int64)
	}{{"tiny", tiny}, {"minilm", minilm}} {
		for _, meth := range []struct {
			name, method string
			opts         map[string]string
		}{
			{"vectorfit", "vectorfit", nil},
			{"vectorfit-factored", "vectorfit", map[string]string{"forward": "factored"}},
			{"lora", "lora", map[string]string{"seed": "2"}},
			{"pissa", "pissa", nil},
			{"dora", "dora", map[string]string{"seed": "2"}},
		} {
			if model.name == "minilm" && (meth.name == "vectorfit-factored" || meth.name == "pissa") {
				continue // their float64 SVDs of 36 matrices take ~10 s a run; the tiny model covers them
			}
			t.Run(model.name+"/"+meth.name, func(t *testing.T) {
				name := meth.method
				wantEvals, wantParams := cacheRun(t, model.new, name, meth.opts, false)
				gotEvals, gotParams := cacheRun(t, model.new, name, meth.opts, true)
				if len(gotEvals) != 4 || len(wantEvals) != 4 {
					t.Fatalf("%d and %d evaluations, want 4", len(gotEvals), len(wantEvals))
				}
				worst := 0.0
				for i := range wantEvals {
					e := relErr(gotEvals[i], wantEvals[i])
					worst = max(worst, e)
					if e > 1e-5 {
						t.Errorf("evaluation %d: logits differ by %.3g (relative), want ≤ 1e-5", i+1, e)
					}
				}
				t.Logf("largest relative logit difference %.2g", worst)
				for i := range wantParams {
					for j := range wantParams[i] {
						if gotParams[i][j] != wantParams[i][j] {
							t.Fatalf("trainable tensor %d, element %d: %v with the cache, %v without: the training trajectory changed", i, j, gotParams[i][j], wantParams[i][j])
						}
					}
				}
			})
		}
	}
}

func relErr(a, b []float64) float64 {
	num, den := 0.0, 0.0
	for i := range b {
		num = max(num, abs(a[i]-b[i]))
		den = max(den, abs(b[i]))
	}
	return num / den
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// The cache is what an evaluation runs on, and EvalMode(false) drops it: a change of
// the trainable parameters during EvalMode(true) does not reach the outputs, and
// reaches them once the cache is dropped. Without a cache (or with a stale one) this fails.
func TestEvalCacheIsUsedAndDropped(t *testing.T) {
	for _, name := range []string{"vectorfit", "lora", "pissa", "dora"} {
		t.Run(name, func(t *testing.T) {
			m := testmodel.Tiny(t, 1)
			meth, err := New(name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := meth.Apply(m); err != nil {
				t.Fatal(err)
			}
			b := testmodel.Batch()
			defer b.Drop()
			logits := func() []float64 {
				var v []float64
				models.NoGrad(func() {
					out := m.Forward(b)
					v = out.Float64Values()
					out.MustDrop()
				})
				return v
			}
			adapter, _ := meth.Trainable()
			nudge := func() { // every cached adapter tensor += 0.1, so B ≠ 0 and s ≠ s0
				models.NoGrad(func() {
					for _, p := range adapter {
						if strings.HasSuffix(p.Name, "bias") {
							continue // VectorFit's biases are the model's, live in every forward
						}
						p.T.MustAddScalar_(ts.FloatScalar(0.1))
					}
				})
			}
			ec := meth.(methods.EvalCacher)
			ec.EvalMode(true)
			before := logits()
			nudge()
			during := logits()
			ec.EvalMode(false)
			after := logits()
			if name == "vectorfit" {
				// VectorFit's W is keyed by s's values: rebuilt when they change (its
				// layer tests show the cache is used), so it never goes stale.
				if e := relErr(during, after); e > 1e-5 {
					t.Errorf("outputs during the evaluation differ from the per-call path's by %.3g after s changed: a stale W", e)
				}
			} else if e := relErr(during, before); e != 0 {
				t.Errorf("outputs moved by %.3g while the cache was on: the evaluation does not run on the cache", e)
			}
			if e := relErr(after, before); e < 1e-4 {
				t.Errorf("outputs moved by only %.3g after EvalMode(false): the cache was not dropped", e)
			}
		})
	}
}
