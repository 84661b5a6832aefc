package tokenize

import (
	"fmt"

	"github.com/sugarme/tokenizer"
)

// Pieces is a text tokenised without special tokens: what tokenizers encodes for each
// sequence of an input before it truncates and post-processes. Extractive question
// answering works at this level: a context is tokenised once for all its questions.
type Pieces struct {
	IDs []int64
	// Offsets are each token's [start, end) byte offsets in the text.
	Offsets [][2]int
}

// head keeps the first n tokens.
func (p Pieces) head(n int) Pieces {
	n = min(n, len(p.IDs))
	return Pieces{IDs: p.IDs[:n], Offsets: p.Offsets[:n]}
}

// slice keeps tokens [i, j).
func (p Pieces) slice(i, j int) Pieces {
	return Pieces{IDs: p.IDs[i:j], Offsets: p.Offsets[i:j]}
}

// EncodePieces tokenises text as one sequence (normaliser, pre-tokeniser, model) with
// no special tokens and no truncation.
func (t *Tokenizer) EncodePieces(text string) (p Pieces, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() { // sugarme panics on some inputs; ours are errors
		if r := recover(); r != nil {
			p, err = Pieces{}, fmt.Errorf("tokenize %s: %v", quoteHead(text), r)
		}
	}()
	return t.pieces(text)
}

// pieces is EncodePieces without the lock.
func (t *Tokenizer) pieces(text string) (Pieces, error) {
	if t.pipe != nil {
		p, err := t.pipe.encode(text)
		if err != nil {
			return Pieces{}, fmt.Errorf("tokenize %s: %w", quoteHead(text), err)
		}
		return p, nil
	}
	if t.bpeAdded != nil {
		p, err := t.bpePieces(text)
		if err != nil {
			return Pieces{}, fmt.Errorf("tokenize %s: %w", quoteHead(text), err)
		}
		return p, nil
	}
	e, err := t.tk.EncodeSingleSequence(tokenizer.NewInputSequence(text), 0, tokenizer.Byte)
	if err != nil {
		return Pieces{}, fmt.Errorf("tokenize %s: %w", quoteHead(text), err)
	}
	p := Pieces{IDs: make([]int64, len(e.Ids)), Offsets: make([][2]int, len(e.Ids))}
	for i, id := range e.Ids {
		p.IDs[i] = int64(id)
		p.Offsets[i] = [2]int{e.Offsets[i][0], e.Offsets[i][1]}
	}
	return p, nil
}

// JoinPair adds the post-processor's special tokens around the pair (a, b):
// [CLS] a [SEP] b [SEP] for BERT, <s> a </s></s> b </s> for RoBERTa, as tokenizers'
// post-processing does (no truncation, no padding).
func (t *Tokenizer) JoinPair(a, b Pieces) (enc Encoding, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() { // sugarme panics on some inputs; ours are errors
		if r := recover(); r != nil {
			enc, err = Encoding{}, fmt.Errorf("tokenize: join: %v", r)
		}
	}()
	return t.join(a, &b)
}

// EncodeWindows encodes question + context windows exactly as Hugging Face tokenizers
// 0.19 (and transformers' run_qa through it) does with
//
//	tok(question, context, truncation="only_second", max_length=maxLen, stride=stride,
//	    return_overflowing_tokens=True, return_offsets_mapping=True)
//
// (offsets in bytes here; see Encoding): every window holds the whole question and as
// much context as fits in maxLen with the special tokens; each next window starts
// stride tokens before the previous one ended, and the last one ends with the context.
// It fails where tokenizers does: when the question leaves no room for the context, or
// the stride is not smaller than the context tokens a window holds (see JoinWindows).
func (t *Tokenizer) EncodeWindows(question, context string, maxLen, stride int) ([]Encoding, error) {
	q, err := t.EncodePieces(question)
	if err != nil {
		return nil, err
	}
	c, err := t.EncodePieces(context)
	if err != nil {
		return nil, err
	}
	return t.JoinWindows(q, c, maxLen, stride)
}

// JoinWindows is EncodeWindows on tokenised texts. It follows tokenizers' steps
// (TokenizerImpl::with_truncation, truncate_encodings with OnlySecond, then
// Encoding::truncate with its stride, then post-processing of the first window and of
// each overflowing one) and their errors:
//   - a stride above maxLen minus the special tokens of a single sequence
//     (tokenizers' enable_truncation refuses it, even when nothing needs cutting);
//   - when the pair does not fit: a question that leaves no context token ("Sequence to
//     truncate too short to respect the provided max_length"), and a stride not smaller
//     than the context tokens a window holds (tokenizers panics: "`stride` must be
//     strictly less than `max_len`").
//
// A maxLen below the pair's special tokens is an error here; tokenizers' unsigned
// arithmetic wraps around and skips truncation.
func (t *Tokenizer) JoinWindows(question, context Pieces, maxLen, stride int) (encs []Encoding, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			encs, err = nil, fmt.Errorf("tokenize: windows: %v", r)
		}
	}()
	if stride < 0 || stride > maxLen-t.addedTokens(false) {
		return nil, fmt.Errorf("tokenize: stride %d must be between 0 and max length %d less %d special tokens", stride, maxLen, t.addedTokens(false))
	}
	added := t.addedTokens(true)
	if maxLen < added {
		return nil, fmt.Errorf("tokenize: max length %d leaves no room beside %d special tokens", maxLen, added)
	}
	budget := maxLen - added - len(question.IDs) // context tokens per window
	if len(context.IDs) <= budget {
		enc, err := t.join(question, &context)
		if err != nil {
			return nil, err
		}
		return []Encoding{enc}, nil
	}
	if budget <= 0 {
		return nil, fmt.Errorf("tokenize: a question of %d tokens leaves no room for the context in max length %d with %d special tokens", len(question.IDs), maxLen, added)
	}
	if stride >= budget {
		return nil, fmt.Errorf("tokenize: stride %d must be smaller than the %d context tokens a window holds (max length %d, %d question tokens, %d special tokens)", stride, budget, maxLen, len(question.IDs), added)
	}
	for start := 0; ; start += budget - stride {
		stop := min(start+budget, len(context.IDs))
		part := context.slice(start, stop)
		enc, err := t.join(question, &part)
		if err != nil {
			return nil, err
		}
		encs = append(encs, enc)
		if stop == len(context.IDs) {
			return encs, nil
		}
	}
}

// join post-processes a (and b, if not nil) into an Encoding. The caller holds t.mu.
func (t *Tokenizer) join(a Pieces, b *Pieces) (Encoding, error) {
	var second *tokenizer.Encoding
	if b != nil {
		second = t.rawEncoding(*b, 1)
	}
	out := t.tk.PostProcess(t.rawEncoding(a, 0), second, true)
	enc := Encoding{
		IDs:               toInt64(out.GetIds()),
		TypeIDs:           toInt64(out.GetTypeIds()),
		AttentionMask:     toInt64(out.GetAttentionMask()),
		SpecialTokensMask: toInt64(out.GetSpecialTokenMask()),
		Offsets:           make([][2]int, len(out.GetOffsets())),
		SequenceIDs:       make([]int, len(out.GetIds())),
	}
	for i, o := range out.GetOffsets() {
		enc.Offsets[i] = [2]int{o[0], o[1]}
	}
	n := len(enc.IDs)
	if len(enc.TypeIDs) != n || len(enc.AttentionMask) != n || len(enc.SpecialTokensMask) != n || len(enc.Offsets) != n {
		return Encoding{}, fmt.Errorf("tokenize: the post-processor returned %d ids, %d type ids, %d mask and %d special-mask entries, %d offsets",
			n, len(enc.TypeIDs), len(enc.AttentionMask), len(enc.SpecialTokensMask), len(enc.Offsets))
	}
	// Post-processors keep each input's tokens in order and a before b, and rawEncoding
	// marks none of them special, so the non-special tokens are a's, then b's.
	seen, want := 0, len(a.IDs)
	if b != nil {
		want += len(b.IDs)
	}
	for i, special := range enc.SpecialTokensMask {
		switch {
		case special == 1:
			enc.SequenceIDs[i] = -1
		case seen < len(a.IDs):
			enc.SequenceIDs[i] = 0
			seen++
		default:
			enc.SequenceIDs[i] = 1
			seen++
		}
		if enc.AttentionMask[i] != 1 {
			return Encoding{}, fmt.Errorf("tokenize: token %d of the encoding is padding; the harness pads only when it batches", i)
		}
	}
	if seen != want {
		return Encoding{}, fmt.Errorf("tokenize: the post-processor kept %d of the %d text tokens", seen, want)
	}
	return enc, nil
}

// rawEncoding wraps pieces as a sugarme encoding of the given type id, as
// EncodeSingleSequence would have returned them (with no token marked special).
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

func toInt64(xs []int) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}
