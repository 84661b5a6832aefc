package tokenize

import (
	"slices"
	"strings"
	"testing"
)

// A words-only tokenizer encodes and decodes its words as one token each and refuses a
// word its normalizer would change.
func TestBuiltinWords(t *testing.T) {
	tok, err := BuiltinWords([]string{"the", "red", "fox", "."})
	if err != nil {
		t.Fatal(err)
	}
	if n := tok.VocabSize(); n != 9 {
		t.Errorf("vocabulary of %d, want 5 special tokens + 4 words", n)
	}
	e, err := tok.Encode("The red fox.", "", false, 16)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{2, 5, 6, 7, 8, 3}; !slices.Equal(e.IDs, want) {
		t.Errorf("ids %v, want %v", e.IDs, want)
	}
	text, err := tok.Decode(e.IDs, true)
	if err != nil || text != "the red fox." {
		t.Errorf("decoded %q (%v), want %q", text, err, "the red fox.")
	}
	if _, err := BuiltinWords([]string{"Fox"}); err == nil || !strings.Contains(err.Error(), `"Fox" is not one token`) {
		t.Errorf("an upper-case word: %v", err)
	}
}
