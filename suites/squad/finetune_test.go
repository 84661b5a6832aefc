package squad

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/train"
)

// runTiny fine-tunes the tiny BERT with a span head through the training engine
// and returns the result and the task.
func runTiny(t *testing.T, method string, trainSet, dev Dataset, o Options, epochs int) (train.Result, *Finetune) {
	t.Helper()
	tok := tokenize.Builtin()
	m, err := bert.New(bert.Tiny(tok.VocabSize()), bert.Span, 1)
	if err != nil {
		t.Fatal(err)
	}
	meth, err := registry.New(method, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := meth.Apply(m); err != nil {
		t.Fatal(err)
	}
	ft, err := NewFinetune(m, tok, trainSet, dev, o)
	if err != nil {
		t.Fatal(err)
	}
	adapter, head := meth.Trainable()
	cfg := train.Config{Epochs: epochs, WarmupRatio: 0.1, Seed: 1}
	opt := cfg.AdamW([]train.Group{{Name: "adapter", Params: adapter, LR: 1e-2}, {Name: "head", Params: head, LR: 1e-2}})
	res, err := train.Run(cfg, ft, opt, meth.Hooks()...)
	if err != nil {
		t.Fatal(err)
	}
	return res, ft
}

// End to end on the shared SQuAD samples: the tiny model, trained a few steps by
// the engine, is evaluated through windows, post-processing and the official
// scoring, and writes the prediction files; scoring those files again gives the
// numbers the run reported. (Nothing is learnt in so few steps; the scores only
// have to be well defined.)
func TestFinetuneEndToEnd(t *testing.T) {
	v1 := mustLoad(t, filepath.Join(sharedSQuAD, "dev-v1.1.subset.json"), "")
	trainSet, dev := v1.Head(64), v1
	dev.Examples = v1.Examples[64:96]
	out := t.TempDir()
	o := Options{BatchSize: 16, MaxLen: 128, DocStride: 32, Seed: 1, OutDir: out}
	res, ft := runTiny(t, "vectorfit", trainSet, dev, o, 2)
	best := res.Best.Scores
	t.Logf("v1.1 (64 train questions → %d windows, 32 dev → %d windows, vectorfit, 2 epochs): %v, final loss %.3f, %d steps, %v/step",
		len(ft.Train), len(ft.DevFeatures), best.Values, res.FinalLoss, res.Steps, res.StepTime)
	if len(ft.Train) <= 64 || len(ft.DevFeatures) <= 32 {
		t.Errorf("max length 128 should split some contexts: %d train and %d dev windows", len(ft.Train), len(ft.DevFeatures))
	}
	wantSteps := 2 * ((len(ft.Train) + 15) / 16)
	if best.Main != "f1" || res.Steps != wantSteps || math.IsNaN(res.FinalLoss) || len(best.Values) != 2 {
		t.Errorf("main %q, %d steps (want %d), loss %v, scores %v", best.Main, res.Steps, wantSteps, res.FinalLoss, best.Values)
	}
	for _, k := range []string{"exact", "f1"} {
		if v, ok := best.Values[k]; !ok || math.IsNaN(v) || v < 0 || v > 1 {
			t.Errorf("%s = %v, want a fraction", k, v)
		}
	}
	preds, err := ReadPredictions(filepath.Join(out, "predictions.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(preds) != 32 {
		t.Errorf("predictions.json has %d answers, want 32", len(preds))
	}
	again, err := Evaluate(dev, preds, nil, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	if again["f1"]/100 != best.Values["f1"] || again["exact_match"]/100 != best.Values["exact"] {
		t.Errorf("rescoring predictions.json: %v, the run reported %v", again, best.Values)
	}
	if _, err := os.Stat(filepath.Join(out, "na_prob.json")); !os.IsNotExist(err) {
		t.Errorf("v1.1 wrote na_prob.json (%v)", err)
	}

	// v2.0, with unanswerable questions: null odds and the best-threshold keys.
	v2 := mustLoad(t, filepath.Join(sharedSQuAD, "dev-v2.0.subset.json"), "")
	trainSet, dev = v2, v2
	trainSet.Examples, dev.Examples = v2.Examples[:48], v2.Examples[48:80]
	out = t.TempDir()
	o.OutDir = out
	res, _ = runTiny(t, "lora", trainSet, dev, o, 1)
	best = res.Best.Scores
	t.Logf("v2.0 (48 train, 32 dev, lora, 1 epoch): %v", best.Values)
	if len(best.Values) != 13 || best.Values["total"] != 32 {
		t.Errorf("v2.0 scores %v, want the 13 official keys over 32 questions", best.Values)
	}
	preds, err = ReadPredictions(filepath.Join(out, "predictions.json"))
	if err != nil {
		t.Fatal(err)
	}
	na, order, err := ReadNAProbs(filepath.Join(out, "na_prob.json"))
	if err != nil {
		t.Fatal(err)
	}
	again, err = EvaluateInOrder(dev, preds, na, order, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range ToFractions(again).Values {
		if best.Values[k] != v {
			t.Errorf("rescoring the written v2.0 files: %s = %v, the run reported %v", k, v, best.Values[k])
		}
	}
}
