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
