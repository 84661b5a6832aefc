package bert

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/realmodel"
	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/models/tokenize"
)

// Fixtures of scripts/fixtures/gen_minilm_model.py: real GLUE texts through the real
// all-MiniLM-L6-v2 in transformers.
const minilmFixtures = "../testdata/minilm"

type minilmTexts struct {
	Batches []struct {
		Name      string `json:"name"`
		MaxLength int    `json:"max_length"`
		Texts     []struct {
			Source string  `json:"source"`
			A      string  `json:"a"`
			B      *string `json:"b"`
		} `json:"texts"`
	} `json:"batches"`
}

// Text → Go tokenizer → Go model → logits equals transformers on the same text with the
// real all-MiniLM-L6-v2 checkpoint: token ids, every layer's hidden state (as summaries:
// the [CLS] rows, each token's mean and root mean square) and the logits of a classification and a
// regression head, within 1e-4. The batches are padded dynamically, to their longest
// row, and hold rows of 4 to 128 tokens, so a tokenizer that pads by itself (the
// checkpoint's tokenizer.json asks for 128) or a mask that lets the model attend to
// padding fails here.
func TestMiniLMTextToLogitsMatchesTransformers(t *testing.T) {
	dir := realmodel.MiniLM(t)
	texts := readMiniLMTexts(t)
	ref, err := safetensors.Load(filepath.Join(minilmFixtures, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenize.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	cls := loadMiniLM(t, dir, "classification", 2)
	reg := loadMiniLM(t, dir, "regression", 1)
	for _, batch := range texts.Batches {
		t.Run(batch.Name, func(t *testing.T) {
			var ids, types [][]int64
			for i, x := range batch.Texts {
				b := ""
				if x.B != nil {
					b = *x.B
				}
				enc, err := tok.Encode(x.A, b, x.B != nil, batch.MaxLength)
				if err != nil {
					t.Fatalf("%s: %v", x.Source, err)
				}
				checkIDs(t, fmt.Sprintf("%s row %d (%s)", batch.Name, i, x.Source), enc, ref, batch.Name, i)
				ids, types = append(ids, enc.IDs), append(types, enc.TypeIDs)
			}
			b := models.PadBatch(ids, types, tok.PadID(), gotch.CPU)
			defer b.Drop()
			for _, k := range []string{"input_ids", "attention_mask", "token_type_ids"} {
				want := ref[batch.Name+"."+k]
				got := map[string]*ts.Tensor{"input_ids": b.InputIDs, "attention_mask": b.AttentionMask, "token_type_ids": b.TokenTypeIDs}[k]
				if !slices.Equal(got.MustSize(), want.MustSize()) || !slices.Equal(got.Int64Values(), want.Int64Values()) {
					t.Fatalf("padded %s: %v, transformers %v (shapes %v, %v)", k, got.Int64Values(), want.Int64Values(), got.MustSize(), want.MustSize())
				}
			}
			models.NoGrad(func() {
				compareSummaries(t, batch.Name, cls.HiddenStates(b), ref)
				compare.Close(t, batch.Name+".logits", cls.Forward(b), ref[batch.Name+".logits"], 1e-4)
				compare.Close(t, batch.Name+".logits_regression", reg.Forward(b), ref[batch.Name+".logits_regression"], 1e-4)
			})
			checkPaddingBug(t, cls, ids, types, tok.PadID(), ref[batch.Name+".logits"])
		})
	}
}

func readMiniLMTexts(t *testing.T) minilmTexts {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(minilmFixtures, "texts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var texts minilmTexts
	if err := json.Unmarshal(raw, &texts); err != nil {
		t.Fatalf("texts.json: %v", err)
	}
	if len(texts.Batches) != 2 {
		t.Fatalf("texts.json has %d batches, want 2", len(texts.Batches))
	}
	return texts
}

// loadMiniLM loads the checkpoint as the runner does (LoadWithConfig with the task's
// label count: the head starts fresh, everything else, the pooler included, comes from
// the checkpoint), then puts in the fixture's head, the one transformers ran.
func loadMiniLM(t *testing.T, dir, head string, labels int64) *Model {
	t.Helper()
	c, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	c.NumLabels = labels
	m, rep, err := LoadWithConfig(dir, c, Classification, 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"classifier.weight", "classifier.bias"}; !slices.Equal(rep.NewlyInitialised, want) {
		t.Fatalf("loading all-MiniLM-L6-v2 initialised %v, want only %v (the pooler is pre-trained)", rep.NewlyInitialised, want)
	}
	weights, err := safetensors.Load(filepath.Join(minilmFixtures, "head_"+head+".safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range rep.NewlyInitialised {
		p, ok := m.Param(name)
		if !ok || weights[name] == nil {
			t.Fatalf("head %s: no %s", head, name)
		}
		models.NoGrad(func() { p.Copy_(weights[name]) })
	}
	m.SetTraining(false)
	return m
}

// checkIDs: the Go tokenizer's ids and token types for one text equal transformers'
// row, whose padding (attention mask 0) is not part of the encoding.
func checkIDs(t *testing.T, what string, enc tokenize.Encoding, ref map[string]*ts.Tensor, batch string, row int) {
	t.Helper()
	mask := ref[batch+".attention_mask"].MustSelect(0, int64(row), false).Int64Values()
	n := 0
	for _, v := range mask {
		n += int(v)
	}
	wantIDs := ref[batch+".input_ids"].MustSelect(0, int64(row), false).Int64Values()[:n]
	wantTypes := ref[batch+".token_type_ids"].MustSelect(0, int64(row), false).Int64Values()[:n]
	if !slices.Equal(enc.IDs, wantIDs) {
		t.Errorf("%s: ids %v (%d), transformers %v (%d)", what, enc.IDs, len(enc.IDs), wantIDs, n)
	}
	if !slices.Equal(enc.TypeIDs, wantTypes) {
		t.Errorf("%s: token types %v, transformers %v", what, enc.TypeIDs, wantTypes)
	}
}

// compareSummaries reduces every hidden state as the generator did and compares them
// layer by layer, naming the first layer that diverges.
func compareSummaries(t *testing.T, batch string, states []*ts.Tensor, ref map[string]*ts.Tensor) {
	t.Helper()
	defer models.DropAll(states)
	// Means over the hidden size, in float64 as the generator computes them: their error
	// is at most the largest element's, so 1e-4 holds them to the elements' tolerance.
	mean := func(h *ts.Tensor) *ts.Tensor {
		return h.MustTotype(gotch.Double, false).MustMeanDim([]int64{-1}, false, gotch.Double, true)
	}
	reduce := map[string]func(h *ts.Tensor) *ts.Tensor{
		"first": func(h *ts.Tensor) *ts.Tensor { return h.MustSelect(1, 0, false) },
		"mean":  mean,
		"rms":   func(h *ts.Tensor) *ts.Tensor { return mean(h.MustSquare(false)).MustSqrt(true) },
	}
	for _, kind := range []string{"first", "mean", "rms"} {
		var got, want []*ts.Tensor
		for i, h := range states {
			w := ref[fmt.Sprintf("%s.hidden_states_%d.%s", batch, i, kind)]
			if w == nil {
				t.Fatalf("reference has no %s.hidden_states_%d.%s", batch, i, kind)
			}
			got, want = append(got, reduce[kind](h)), append(want, w)
		}
		compare.Layers(t, batch+".hidden_states."+kind, got, want, 1e-4)
	}
}

// checkPaddingBug shows that the test above would catch issue 10's bug: the same rows
// padded to 128 with the pads taken for tokens (what the tokenizer.json padding block
// did) move the logits far from transformers', while padding to 128 with the right mask
// changes nothing.
func checkPaddingBug(t *testing.T, m *Model, ids, types [][]int64, pad int64, want *ts.Tensor) {
	t.Helper()
	const fixed = 128
	var padIDs, padTypes [][]int64
	for i := range ids {
		p := slices.Clone(ids[i])
		for len(p) < fixed {
			p = append(p, pad)
		}
		padIDs = append(padIDs, p)
		padTypes = append(padTypes, append(slices.Clone(types[i]), make([]int64, fixed-len(types[i]))...))
	}
	bug := models.PadBatch(padIDs, padTypes, pad, gotch.CPU) // every position "real"
	defer bug.Drop()
	right := models.PadBatch(ids, types, pad, gotch.CPU)
	defer right.Drop()
	mask := bug.AttentionMask.MustZerosLike(false)
	defer mask.MustDrop()
	if n := right.AttentionMask.MustSize()[1]; n < fixed {
		models.NoGrad(func() { mask.MustNarrow(1, 0, n, false).Copy_(right.AttentionMask) })
	} else {
		models.NoGrad(func() { mask.Copy_(right.AttentionMask) })
	}
	masked := models.Batch{InputIDs: bug.InputIDs, TokenTypeIDs: bug.TokenTypeIDs, AttentionMask: mask}
	models.NoGrad(func() {
		if d := compare.MaxAbsDiff(t, "logits, pads attended", m.Forward(bug), want); d < 1e-2 {
			t.Errorf("attending to 128-padding moves the logits by only %g: the test could not catch issue 10's bug", d)
		} else {
			t.Logf("attending to padding up to 128 moves the logits by %.3g (what the test catches)", d)
		}
		compare.Close(t, "logits padded to 128, masked", m.Forward(masked), want, 1e-4)
	})
}
