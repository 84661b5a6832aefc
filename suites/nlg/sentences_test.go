package nlg

import (
	"reflect"
	"testing"
)

// Hand-picked cases, with the sentences nltk 3.10.4's nltk.sent_tokenize gives
// (the English punkt_tab model): abbreviations, initials, ellipses, closing
// quotes, and a known abbreviation before a capitalised word that Punkt does
// not split ("the U.S. Then"). The fixture test (punkt_test.go) covers ~500
// real texts.
func TestSplitSentences(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"", nil},
		{"  \n \n", nil},
		{"One sentence.", []string{"One sentence."}},
		{"Mr. Smith met Dr. Jones in Jan. 2015. They talked.", []string{"Mr. Smith met Dr. Jones in Jan. 2015.", "They talked."}},
		{"He moved to the U.S. last year. The U.S. Army agreed. He left the U.S. Then he came back.",
			[]string{"He moved to the U.S. last year.", "The U.S. Army agreed.", "He left the U.S. Then he came back."}},
		{"J. R. R. Tolkien wrote it. C. S. Lewis too.", []string{"J. R. R. Tolkien wrote it.", "C. S. Lewis too."}},
		{"Wait... What?! Really. Wait... what? ok.", []string{"Wait...", "What?!", "Really.", "Wait... what?", "ok."}},
		{"He said \"Stop.\" Then he left. (Really.) Yes.", []string{"He said \"Stop.\"", "Then he left.", "(Really.)", "Yes."}},
		{"Quoted end.” “Next quote.” Done.", []string{"Quoted end.”", "“Next quote.”", "Done."}},
		{"Very bad acting!!! I promise.", []string{"Very bad acting!!!", "I promise."}},
		{"  The first. The second.\n\nThird  ", []string{"  The first.", "The second.", "Third"}},
		{"It cost 3.5m pounds. Fine.", []string{"It cost 3.5m pounds.", "Fine."}},
		{"No space.Next one. And e.g. this one. ok.", []string{"No space.Next one.", "And e.g.", "this one.", "ok."}},
		{"Line one\nline two", []string{"Line one\nline two"}},
		{"The Gen. Motors deal. Gov. Jones agreed.", []string{"The Gen. Motors deal.", "Gov.", "Jones agreed."}},
	}
	for _, c := range cases {
		if got := SplitSentences(c.text); !reflect.DeepEqual(got, c.want) {
			t.Errorf("SplitSentences(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestPostprocessText(t *testing.T) {
	got := PostprocessText("  The first. The second.\n\nThird  ")
	if want := "The first.\nThe second.\nThird"; got != want {
		t.Errorf("PostprocessText = %q, want %q", got, want)
	}
	// Python's str.strip also removes U+001C..U+001F, which Go's TrimSpace keeps.
	if got := PostprocessText("\x1c One. Two.\x1f"); got != "One.\nTwo." {
		t.Errorf("PostprocessText = %q, want %q", got, "One.\nTwo.")
	}
	// rougeLsum sees the split sentences: swapped sentences score 1 after
	// postprocessing, 0.5 without (see TestRougeHandComputed).
	pred, ref := "b1 b2. A1 a2.", "a1 a2 b1 b2"
	if f := Rouge(pred, ref)["rougeLsum"].F; f != 0.5 {
		t.Errorf("raw rougeLsum F = %v, want 0.5", f)
	}
	if f := Rouge(PostprocessText(pred), PostprocessText(ref))["rougeLsum"].F; f != 1 {
		t.Errorf("postprocessed rougeLsum F = %v, want 1", f)
	}
}

// No input panics; every score is in [0, 1]; a text with tokens scores 1 against
// itself on rouge1, rougeL and rougeLsum.
func FuzzRouge(f *testing.F) {
	for _, s := range []string{"", "\n", "İK", "a\xffb. C d!\nE", "yyyy skies\n\n--", "The cat. The mat."} {
		f.Add(s, "the cat")
	}
	f.Fuzz(func(t *testing.T, pred, ref string) {
		for typ, s := range Rouge(pred, ref) {
			for _, v := range []float64{s.Precision, s.Recall, s.F} {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("%s of (%q, %q) = %+v", typ, pred, ref, s)
				}
			}
		}
		_ = SplitSentences(pred)
		if len(rougeTokenize(pred)) > 0 {
			self := Rouge(pred, pred)
			for _, typ := range []string{"rouge1", "rougeL", "rougeLsum"} {
				if self[typ].F != 1 {
					t.Fatalf("%s of %q against itself = %+v", typ, pred, self[typ])
				}
			}
		}
	})
}
