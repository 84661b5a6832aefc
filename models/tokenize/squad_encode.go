package tokenize

import (
	"fmt"

	"github.com/sugarme/tokenizer"
)

// Pieces is a text tokenised without special tokens. Extractive question answering
// needs this level: it cuts a long context into overlapping windows itself (the
// document stride) and only then adds the special tokens, with JoinPair.
type Pieces struct {
	IDs []int64
	// Offsets are each token's [start, end) byte offsets in the text.
	Offsets [][2]int
}

// EncodePieces tokenises text as one sequence (normaliser, pre-tokeniser, model) with
// no special tokens and no truncation.
func (t *Tokenizer) EncodePieces(text string) (p Pieces, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() { // sugarme panics on some inputs; ours are errors
		if r := recover(); r != nil {
			p, err = Pieces{}, fmt.Errorf("tokenize %q: %v", text, r)
		}
	}()
	e, err := t.encodeOne(text, 0)
	if err != nil {
		return Pieces{}, fmt.Errorf("tokenize %q: %w", text, err)
	}
	p = Pieces{IDs: make([]int64, len(e.Ids)), Offsets: make([][2]int, len(e.Ids))}
	for i, id := range e.Ids {
		p.IDs[i] = int64(id)
		p.Offsets[i] = [2]int{e.Offsets[i][0], e.Offsets[i][1]}
	}
	return p, nil
}

// JoinPair adds the post-processor's special tokens around the pair (a, b):
// [CLS] a [SEP] b [SEP] for BERT, <s> a </s></s> b </s> for RoBERTa. Offsets are
// those of the pieces, in their own text; special tokens get [0, 0). SequenceIDs
// says where each token came from: 0 for a, 1 for b, -1 for a special token
// (tokenizers' sequence_ids(), with -1 for None).
func (t *Tokenizer) JoinPair(a, b Pieces) (enc Encoding, sequenceIDs []int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.tk.PostProcess(t.rawEncoding(a, 0), t.rawEncoding(b, 1), true)
	enc = convert(out)
	sequenceIDs = make([]int, len(enc.IDs))
	// Post-processors keep each input's tokens in order and a before b, so the
	// non-special tokens are a's, then b's.
	seen := 0
	for i, special := range out.SpecialTokenMask {
		switch {
		case special == 1:
			sequenceIDs[i] = -1
		case seen < len(a.IDs):
			sequenceIDs[i] = 0
			seen++
		default:
			sequenceIDs[i] = 1
		}
	}
	return enc, sequenceIDs
}

// rawEncoding wraps pieces as a sugarme encoding of the given type id, as
// EncodeSingleSequence would have returned them.
func (t *Tokenizer) rawEncoding(p Pieces, typeID int) *tokenizer.Encoding {
	n := len(p.IDs)
	ids, types := make([]int, n), make([]int, n)
	tokens, offsets := make([]string, n), make([][]int, n)
	special, attention, words := make([]int, n), make([]int, n), make([]int, n)
	for i, id := range p.IDs {
		ids[i], types[i] = int(id), typeID
		tokens[i], _ = t.tk.IdToToken(int(id))
		offsets[i] = []int{p.Offsets[i][0], p.Offsets[i][1]}
		attention[i], words[i] = 1, -1
	}
	return tokenizer.NewEncoding(ids, types, tokens, offsets, special, attention, nil, tokenizer.WithWordsEncodingOpt(words))
}

// wordPieceBytes works around sugarme/tokenizer v0.3.0's WordPiece, which reports
// each token's offsets in code points of its word while the pipeline reads them as
// bytes of the normalised word (tokenizer.Model's contract; Hugging Face's
// WordPiece uses bytes). Any word with a multi-byte character after normalisation
// gets offsets short by the extra bytes: "Norðmaðr" (10 bytes) becomes one [UNK]
// at [0, 8) instead of [0, 10). Converting code points to bytes here gives the
// tokenizers offsets.
type wordPieceBytes struct{ tokenizer.Model }

func (m wordPieceBytes) Tokenize(word string) ([]tokenizer.Token, error) {
	toks, err := m.Model.Tokenize(word)
	if err != nil {
		return nil, err
	}
	byteAt := make([]int, 0, len(word)+1) // byte offset of each code point, and the end
	for i := range word {
		byteAt = append(byteAt, i)
	}
	byteAt = append(byteAt, len(word))
	for i, tok := range toks {
		if len(tok.Offsets) != 2 || tok.Offsets[0] < 0 || tok.Offsets[1] >= len(byteAt) || tok.Offsets[0] > tok.Offsets[1] {
			return nil, fmt.Errorf("tokenize: word piece %q of %q has offsets %v outside the word", tok.Value, word, tok.Offsets)
		}
		toks[i].Offsets = []int{byteAt[tok.Offsets[0]], byteAt[tok.Offsets[1]]}
	}
	return toks, nil
}
