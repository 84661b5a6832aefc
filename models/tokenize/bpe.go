package tokenize

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/model/bpe"
)

// Byte-level BPE files (GPT-2, RoBERTa, facebook/bart-*) are still read and encoded by
// sugarme/tokenizer, with two of its steps replaced because they differ from Hugging Face
// tokenizers 0.19 (found on real XSum/CNN text: TestBPEMatchesHuggingFace):
//
//   - Merge order. tokenizers applies the lowest-ranked merge first and, among equal
//     ranks, the leftmost one. sugarme breaks rank ties by an unset timestamp, i.e. in
//     heap order: " 2000" became "Ġ20 00" instead of "Ġ2 00 0" (bpeModel).
//   - Added tokens written in the text. sugarme drops "<s>" without a token and splits
//     "</s>", "<pad>", "<mask>" into ordinary pieces; tokenizers matches them as tokens.
//     splitBPEAdded cuts them out first, as the pipeline does (splitAdded).

// bpeModel is sugarme's BPE model with tokenizers' merge order.
type bpeModel struct{ bpe.BPE }

// newBPEModel replaces sugarme's BPE model of tk, if it has one that bpeModel covers
// (no subword prefix or word suffix, no dropout, as byte-level files have).
func newBPEModel(tk *tokenizer.Tokenizer) {
	var m bpe.BPE
	switch v := tk.GetModel().(type) {
	case bpe.BPE:
		m = v
	case *bpe.BPE:
		m = *v
	default:
		return
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" ||
		m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" ||
		m.Dropout != nil && *m.Dropout > 0 {
		return
	}
	tk.WithModel(&bpeModel{m})
}

// symbol is a stretch of the word in the merge loop, linked to its neighbours.
type symbol struct {
	id, start, end int
	prev, next     int // -1: none
	gone           bool
}

type mergeItem struct{ rank, pos, newID int }

// mergeQueue pops the lowest rank first, then the leftmost position (tokenizers' Merge order).
type mergeQueue []mergeItem

func (q mergeQueue) Len() int { return len(q) }
func (q mergeQueue) Less(i, j int) bool {
	return q[i].rank < q[j].rank || q[i].rank == q[j].rank && q[i].pos < q[j].pos
}
func (q mergeQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *mergeQueue) Push(x any)   { *q = append(*q, x.(mergeItem)) }
func (q *mergeQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// Tokenize cuts one pre-tokenized word as tokenizers' BPE::merge_word and
// Word::merge_all do: one symbol per character (the unknown token, if any, for a
// character not in the vocabulary; without one the character is dropped), then merges
// by rank, leftmost first among equal ranks. Offsets are bytes in the word.
func (b *bpeModel) Tokenize(word string) ([]tokenizer.Token, error) {
	vocab := *b.Vocab
	var syms []symbol
	for i, r := range word {
		id, ok := vocab[string(r)]
		if !ok {
			if b.UnkToken == nil {
				continue
			}
			if id, ok = vocab[*b.UnkToken]; !ok {
				return nil, fmt.Errorf("bpe: unknown token %q is not in the vocabulary", *b.UnkToken)
			}
		}
		syms = append(syms, symbol{id: id, start: i, end: i + utf8.RuneLen(r), prev: len(syms) - 1, next: len(syms) + 1})
	}
	if len(syms) == 0 {
		return nil, nil
	}
	syms[len(syms)-1].next = -1
	merges := *b.Merges
	q := &mergeQueue{}
	push := func(pos int) {
		if next := syms[pos].next; next >= 0 {
			if m, ok := merges[bpe.Pair{C1: syms[pos].id, C2: syms[next].id}]; ok {
				heap.Push(q, mergeItem{m.Rank, pos, m.NewId})
			}
		}
	}
	for i := range syms {
		push(i)
	}
	for q.Len() > 0 {
		top := heap.Pop(q).(mergeItem)
		s := &syms[top.pos]
		if s.gone || s.next < 0 {
			continue
		}
		right := &syms[s.next]
		// a stale entry: the pair has changed since it was queued
		if m, ok := merges[bpe.Pair{C1: s.id, C2: right.id}]; !ok || m.NewId != top.newID {
			continue
		}
		s.id, s.end, s.next = top.newID, right.end, right.next
		right.gone = true
		if s.next >= 0 {
			syms[s.next].prev = top.pos
		}
		if s.prev >= 0 {
			push(s.prev)
		}
		push(top.pos)
	}
	var out []tokenizer.Token
	for _, s := range syms {
		if !s.gone {
			out = append(out, tokenizer.Token{Id: s.id, Value: (*b.VocabR)[s.id], Offsets: []int{s.start, s.end}})
		}
	}
	return out, nil
}

// bpeAdded reads the added tokens of a BPE file without a normalizer (byte-level files
// have none), for splitBPEAdded; nil otherwise.
func bpeAdded(raw []byte) ([]addedToken, error) {
	var cfg pipelineJSON
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Model.Type != "BPE" || len(cfg.Normalizer) != 0 && string(cfg.Normalizer) != "null" {
		return nil, nil
	}
	var out []addedToken
	for _, t := range cfg.AddedTokens {
		out = append(out, addedToken{content: t.Content, id: t.ID, singleWord: t.SingleWord, lstrip: t.LStrip, rstrip: t.RStrip})
	}
	return out, nil
}

// bpePieces encodes text with sugarme, the added tokens cut out first as tokenizers
// does (each stretch between them is pre-tokenized and cut on its own).
func (t *Tokenizer) bpePieces(text string) (Pieces, error) {
	var out Pieces
	for _, pc := range (&pipeline{}).splitAdded([]piece{{text: newAligned(text, 0)}}, t.bpeAdded) {
		start := pc.text.start
		if pc.tokens != nil {
			out.IDs = append(out.IDs, int64(pc.tokens[0].Id))
			out.Offsets = append(out.Offsets, [2]int{start, start + len(pc.text.s)})
			continue
		}
		e, err := t.tk.EncodeSingleSequence(tokenizer.NewInputSequence(pc.text.s), 0, tokenizer.Byte)
		if err != nil {
			return Pieces{}, err
		}
		for i, id := range e.Ids {
			out.IDs = append(out.IDs, int64(id))
			out.Offsets = append(out.Offsets, [2]int{start + e.Offsets[i][0], start + e.Offsets[i][1]})
		}
	}
	return out, nil
}
