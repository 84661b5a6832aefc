package tokenize

import (
	"fmt"
	"sort"
)

// checkIDs makes sure that every id the tokenizer can produce indexes an embedding of
// VocabSize() rows. The runner compares VocabSize() with the model's vocab_size; a
// tokenizer.json that numbers a token past its own size ({"[PAD]": 0, "the": 50000} is
// a vocabulary of 2) would pass that comparison and then index past the embedding
// table in the middle of training. The ids come from three places: the model's
// vocabulary, the added tokens the pipeline matches (with the ids the file gives), and
// the special tokens of the post-processor (probed by encoding an empty pair).
func (t *Tokenizer) checkIDs() error {
	n := t.tk.GetVocabSize(true)
	type entry struct {
		what string
		id   int
	}
	var bad []entry
	check := func(what string, id int) {
		if id < 0 || id >= n {
			bad = append(bad, entry{what, id})
		}
	}
	// GetVocab(false) is the model's own map: read it, never write it (GetVocab(true)
	// would add the added tokens to it, changing the model's vocabulary size).
	for tok, id := range t.tk.GetVocab(false) {
		check(fmt.Sprintf("model.vocab token %q", tok), id)
	}
	if t.pipe != nil {
		for _, a := range append(append([]addedToken(nil), t.pipe.added...), t.pipe.addedNorm...) {
			check(fmt.Sprintf("added_tokens %q", a.content), a.id)
		}
	}
	if len(bad) == 0 {
		enc, err := t.Encode("", "", true, 0)
		if err != nil {
			return fmt.Errorf("%s: cannot encode an empty pair: %w", t.Source, err)
		}
		for i, id := range enc.IDs {
			check(fmt.Sprintf("post_processor special token %d of an empty pair", i), int(id))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Slice(bad, func(i, j int) bool {
		return bad[i].id > bad[j].id || bad[i].id == bad[j].id && bad[i].what < bad[j].what
	})
	more := ""
	if len(bad) > 1 {
		more = fmt.Sprintf(" (and %d more)", len(bad)-1)
	}
	return fmt.Errorf("%s: %s has id %d, outside the %d-token vocabulary (ids 0 to %d)%s",
		t.Source, bad[0].what, bad[0].id, n, n-1, more)
}
