package glue

import (
	"testing"

	"github.com/vectorfit/harness/models/tokenize"
)

// The synthetic rules only work if the built-in tokenizer keeps every word whole
// (scripts/fixtures/gen_builtin_tokenizer.py trains it to): a word split into
// pieces or mapped to [UNK] would blur the classes.
func TestSyntheticWordsAreBuiltinTokens(t *testing.T) {
	tok := tokenize.Builtin()
	for _, w := range SyntheticWords() {
		if _, ok := tok.TokenID(w); !ok {
			t.Errorf("%q is not a token of the built-in tokenizer", w)
		}
	}
}
