package nlg

import (
	"fmt"
	"math"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models/bart"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/train"
)

// tinyBART is the tiny BART on the built-in tokenizer, its special ids those of the
// tokenizer: [CLS] begins and [SEP] ends a sequence, as <s> and </s> do in BART's.
func tinyBART(t *testing.T, tok *tokenize.Tokenizer) *bart.Model {
	t.Helper()
	c := bart.Tiny(tok.VocabSize())
	cls, _ := tok.TokenID("[CLS]")
	sep, _ := tok.TokenID("[SEP]")
	c.PadTokenID, c.BosTokenID, c.EosTokenID, c.DecoderStartTokenID = tok.PadID(), cls, sep, sep
	c.ForcedEosTokenID = &sep
	m, err := bart.New(c, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Training lowers the token cross-entropy of the synthetic copy task, and evaluation
// scores what the generator returns: the references themselves give ROUGE 1.
func TestFinetuneTrainsAndScores(t *testing.T) {
	tok := tokenize.Builtin()
	m := tinyBART(t, tok)
	trainSplit, dev := Synthetic(64, 8, 1)
	// A generator that "predicts" each dev reference from its source's ids, whatever
	// the batches' order: evaluation must put each summary back at its example.
	var refs [][]int64
	bySource := map[string][]int64{}
	for _, ex := range dev.Examples {
		e, err := tok.Encode(ex.Target, "", false, 32)
		if err != nil {
			t.Fatal(err)
		}
		src, err := tok.Encode(ex.Source, "", false, 64)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, e.IDs)
		bySource[key(src.IDs)] = e.IDs
	}
	gen := func(ids, mask *ts.Tensor) ([][]int64, error) {
		shape := ids.MustSize()
		flat, m := ids.Int64Values(), mask.Int64Values()
		var out [][]int64
		for r := range int(shape[0]) {
			var row []int64
			for k := range int(shape[1]) {
				if i := r*int(shape[1]) + k; m[i] == 1 {
					row = append(row, flat[i])
				}
			}
			ref, ok := bySource[key(row)]
			if !ok {
				return nil, fmt.Errorf("generator: row %d is no dev source", r)
			}
			out = append(out, ref)
		}
		return out, nil
	}
	byIDs := map[string]string{}
	for i, ex := range dev.Examples {
		byIDs[key(refs[i])] = ex.Target
	}
	dec := func(ids []int64) (string, error) { return byIDs[key(ids)], nil }
	f, err := NewFinetune(m, tok, trainSplit, dev, Options{SourceLen: 64, TargetLen: 32, BatchSize: 8, Seed: 1}, gen, dec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := train.Config{Epochs: 4, Seed: 1}
	params := []train.Param{}
	for _, p := range m.Params() {
		p.T.MustRequiresGrad_(true)
		params = append(params, train.Param{Name: p.Name, T: p.T})
	}
	res, err := train.Run(cfg, f, cfg.AdamW([]train.Group{{Params: params, LR: 3e-3}}))
	if err != nil {
		t.Fatal(err)
	}
	first, last := res.History[0].Loss, res.History[len(res.History)-1].Loss
	if !(last < 0.8*first) {
		t.Errorf("training loss %.3f → %.3f, want a clear drop", first, last)
	}
	for _, k := range RougeTypes {
		if v := res.Best.Scores.Values[k]; math.Abs(v-1) > 1e-12 {
			t.Errorf("%s = %v with the references as predictions, want 1", k, v)
		}
	}
}

func key(ids []int64) string {
	b := make([]byte, 0, 8*len(ids))
	for _, v := range ids {
		b = append(b, byte(v), byte(v>>8), byte(v>>16))
	}
	return string(b)
}
