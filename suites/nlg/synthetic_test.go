package nlg

import (
	"reflect"
	"strings"
	"testing"

	tok "github.com/vectorfit/harness/models/tokenize"
)

func TestSynthetic(t *testing.T) {
	train, dev := Synthetic(50, 20, 7)
	if len(train.Examples) != 50 || len(dev.Examples) != 20 || train.Name != SplitTrain || dev.Name != SplitValidation {
		t.Fatalf("sizes %d/%d, names %s/%s", len(train.Examples), len(dev.Examples), train.Name, dev.Name)
	}
	again, _ := Synthetic(50, 20, 7)
	if !reflect.DeepEqual(train, again) {
		t.Error("same seed, different examples")
	}
	other, _ := Synthetic(50, 20, 8)
	if reflect.DeepEqual(train.Examples, other.Examples) {
		t.Error("different seeds, same examples")
	}
	words := map[string]bool{}
	for _, w := range SyntheticWords() {
		words[w] = true
	}
	for _, sp := range []Split{train, dev} {
		checkExamples(t, sp)
		for _, ex := range sp.Examples {
			sents := strings.SplitAfter(ex.Source, " . ")
			if n := strings.Count(ex.Source, " ."); n < 3 || n > 5 {
				t.Errorf("%s: %d sentences, want 3-5", ex.ID, n)
			}
			// The summary is the first sentence, copied.
			if strings.TrimSpace(sents[0]) != ex.Target || !strings.HasPrefix(ex.Source, ex.Target+" ") {
				t.Errorf("%s: summary %q is not the first sentence of %q", ex.ID, ex.Target, ex.Source)
			}
			for _, w := range strings.Fields(ex.Source) {
				if !words[w] {
					t.Errorf("%s: word %q not in SyntheticWords", ex.ID, w)
				}
			}
		}
	}
	// Every word is one whole token of the built-in tokenizer: no [UNK], no
	// word pieces.
	bt := tok.Builtin()
	for w := range words {
		if _, ok := bt.TokenID(w); !ok {
			t.Errorf("%q is not a token of the built-in tokenizer", w)
		}
	}
}

func TestSyntheticPretraining(t *testing.T) {
	sp := SyntheticPretraining(400, 0.1, 3)
	if !reflect.DeepEqual(sp, SyntheticPretraining(400, 0.1, 3)) {
		t.Error("same seed, different documents")
	}
	fine, _ := Synthetic(400, 0, 3)
	seen := map[string]bool{}
	for _, ex := range fine.Examples {
		seen[ex.Source] = true
	}
	masked, words := 0, 0
	for _, ex := range sp.Examples {
		if seen[ex.Target] {
			t.Errorf("%s: pre-training document %q is a fine-tuning document", ex.ID, ex.Target)
		}
		if n := strings.Count(ex.Target, " ."); n < 1 || n > 3 {
			t.Errorf("%s: %d sentences, want 1-3", ex.ID, n)
		}
		src, tgt := strings.Fields(ex.Source), strings.Fields(ex.Target)
		if len(src) != len(tgt) {
			t.Fatalf("%s: source %q and target %q differ in length", ex.ID, ex.Source, ex.Target)
		}
		for i := range src {
			words++
			switch {
			case src[i] == "[MASK]":
				masked++
			case src[i] != tgt[i]:
				t.Errorf("%s: word %d is %q in the source, %q in the target", ex.ID, i, src[i], tgt[i])
			}
		}
	}
	if rate := float64(masked) / float64(words); rate < 0.08 || rate > 0.12 {
		t.Errorf("%.3f of the words masked, want ≈ 0.10", rate)
	}
	// [MASK] is the tokenizer's mask token, not a word split into pieces.
	bt, err := tok.BuiltinWords(SyntheticWords())
	if err != nil {
		t.Fatal(err)
	}
	e, err := bt.Encode("the [MASK] dog", "", false, 16)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := bt.TokenID("[MASK]"); len(e.IDs) != 5 || e.IDs[2] != id {
		t.Errorf("\"the [MASK] dog\" encodes as %v, want [CLS] the [MASK] dog [SEP] with [MASK] = %d", e.IDs, id)
	}
}
