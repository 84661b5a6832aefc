package tokenize

import (
	"encoding/json"
	"fmt"
	"slices"
)

// BuiltinWords is the built-in tokenizer's pipeline (uncased BERT normalizer and
// pre-tokenizer, [CLS] … [SEP]) over a vocabulary of exactly the given words after
// the five special tokens: a model over a task's own small vocabulary (the synthetic
// summarisation task) learns in minutes what a 3000-token softmax takes hours to. A
// word the normalizer would change (upper case, accents) or splits (punctuation inside
// a word) is an error.
func BuiltinWords(words []string) (*Tokenizer, error) {
	var js map[string]any
	if err := json.Unmarshal(builtinJSON, &js); err != nil {
		return nil, err
	}
	vocab := map[string]int{}
	for i, s := range []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"} {
		vocab[s] = i
	}
	for _, w := range words {
		if _, dup := vocab[w]; dup {
			continue
		}
		vocab[w] = len(vocab)
	}
	js["model"].(map[string]any)["vocab"] = vocab
	raw, err := json.Marshal(js)
	if err != nil {
		return nil, err
	}
	t, err := parse(raw, "builtin words")
	if err != nil {
		return nil, err
	}
	for _, w := range words {
		e, err := t.Encode(w, "", false, 8)
		if err != nil {
			return nil, err
		}
		if id := vocab[w]; !slices.Equal(e.IDs, []int64{2, int64(id), 3}) {
			return nil, fmt.Errorf("tokenize: %q is not one token of the built-in pipeline (it encodes as %v)", w, e.IDs)
		}
	}
	return t, nil
}
