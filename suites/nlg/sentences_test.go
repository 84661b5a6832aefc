package nlg

import (
	"reflect"
	"testing"
)

// The documented rule of SplitSentences, case by case (hand-written; there is
// no Punkt reference here, see sentences.go).
func TestSplitSentences(t *testing.T) {
	cases := []struct {
		text string
		want []string
	}{
		{"", nil},
		{"  \n \n", nil},
		{"One sentence.", []string{"One sentence."}},
		{"First one. Second one! Third? Yes.", []string{"First one.", "Second one!", "Third?", "Yes."}},
		{"Line one\nline two", []string{"Line one", "line two"}},
		{"He said \"Stop.\" Then he left.", []string{"He said \"Stop.\"", "Then he left."}},
		{"Wait... What?!  Really.", []string{"Wait...", "What?!", "Really."}},
		{"Mr. Smith met Dr. Jones in Jan. 2015.", []string{"Mr. Smith met Dr. Jones in Jan. 2015."}},
		{"The U.S. Army and J. R. R. Tolkien.", []string{"The U.S. Army and J. R. R. Tolkien."}},
		{"It cost 3.5m pounds. Fine.", []string{"It cost 3.5m pounds.", "Fine."}},
		{"See e.g. this one. Ok.", []string{"See e.g. this one.", "Ok."}},
		{"Ends with a.m. and continues lower. next", []string{"Ends with a.m. and continues lower. next"}},
		{"No space.Next", []string{"No space.Next"}},
		{"Quoted end.” “Next quote.”", []string{"Quoted end.”", "“Next quote.”"}},
		{"Bad \xff byte. Next.", []string{"Bad \xff byte.", "Next."}},
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
