package tokenize

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sugarme/tokenizer"
)

// This file holds the SentencePiece side of the pipeline (pipeline.go): the Metaspace
// pre-tokenizer and the Unigram model, as tokenizers 0.19 implements them.

// metaspace is tokenizers' Metaspace pre-tokenizer.
type metaspace struct {
	replacement   string
	prepend       string // "always", "first" or "never"
	split         bool
	replacementCh rune
}

func newMetaspace(c *component) (*metaspace, error) {
	r, n := utf8.DecodeRuneInString(c.Replacement)
	if n == 0 || n != len(c.Replacement) {
		return nil, fmt.Errorf("Metaspace replacement %q is not one character", c.Replacement)
	}
	m := &metaspace{replacement: c.Replacement, replacementCh: r, prepend: "always", split: true}
	if c.PrependScheme != nil {
		m.prepend = strings.ToLower(*c.PrependScheme)
	}
	if c.AddPrefixSpace != nil && !*c.AddPrefixSpace { // files written before prepend_scheme existed
		m.prepend = "never"
	}
	if c.Split != nil {
		m.split = *c.Split
	}
	if m.prepend != "always" && m.prepend != "first" && m.prepend != "never" {
		return nil, fmt.Errorf("Metaspace prepend_scheme %q is not always, first or never", m.prepend)
	}
	return m, nil
}

// pretokenize replaces each ' ' (only the space: tokenizers 0.19 leaves tabs and newlines
// alone) by the replacement, prepends one as the scheme says, and cuts before every
// replacement character (tokenizers' MergedWithNext split).
func (m *metaspace) pretokenize(texts []aligned) []aligned {
	var out []aligned
	for _, t := range texts {
		var spaces [][2]int
		for i := 0; i < len(t.s); i++ {
			if t.s[i] == ' ' {
				spaces = append(spaces, [2]int{i, i + 1})
			}
		}
		t = t.replace(spaces, m.replacement)
		if !strings.HasPrefix(t.s, m.replacement) && (m.prepend == "always" || m.prepend == "first" && t.start == 0) {
			t = t.prepend(m.replacement)
		}
		if !m.split {
			out = append(out, t)
			continue
		}
		last := 0
		for i, r := range t.s {
			if r == m.replacementCh && i > last {
				out = append(out, t.slice(last, i))
				last = i
			}
		}
		if last < len(t.s) {
			out = append(out, t.slice(last, len(t.s)))
		}
	}
	return out
}

// ---- model ----

// unigramModel is tokenizers' Unigram model: the best-scoring segmentation of each piece
// by Viterbi over every vocabulary entry (no length limit, no bonus), an unknown
// character scoring the vocabulary's minimum minus 10, consecutive unknowns fused.
type unigramModel struct {
	ids          map[string]int
	scores       []float64
	maxLen       int // longest vocabulary entry in bytes
	unkID        int // -1: none
	minScore     float64
	byteFallback bool
}

const unkPenalty = 10.0

func newUnigramModel(vocab []json.RawMessage, unkID *int, byteFallback bool) (*unigramModel, error) {
	m := &unigramModel{ids: make(map[string]int, len(vocab)), unkID: -1, minScore: math.Inf(1), byteFallback: byteFallback}
	for i, raw := range vocab {
		var entry []any
		if err := json.Unmarshal(raw, &entry); err != nil || len(entry) != 2 {
			return nil, fmt.Errorf("model.vocab[%d]: want [piece, score], got %s", i, raw)
		}
		tok, ok1 := entry[0].(string)
		score, ok2 := entry[1].(float64)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("model.vocab[%d]: want [piece, score], got %s", i, raw)
		}
		m.ids[tok] = i // a later duplicate wins, as in tokenizers' map
		m.scores = append(m.scores, score)
		m.maxLen = max(m.maxLen, len(tok))
		m.minScore = min(m.minScore, score)
	}
	if unkID != nil {
		if *unkID < 0 || *unkID >= len(vocab) {
			return nil, fmt.Errorf("model.unk_id %d is outside the vocabulary of %d", *unkID, len(vocab))
		}
		m.unkID = *unkID
	}
	return m, nil
}

// viterbi returns the best segmentation of s as byte boundaries and ids
// (tokenizers' encode_optimized: ties keep the path found first).
func (m *unigramModel) viterbi(s string) (starts, ends, ids []int) {
	type node struct {
		score float64
		start int // -1: not reached
		id    int
	}
	best := make([]node, len(s)+1)
	for i := range best {
		best[i].start = -1
	}
	unkScore := m.minScore - unkPenalty
	for start := 0; start < len(s); {
		_, width := utf8.DecodeRuneInString(s[start:])
		here := best[start].score
		single := false
		for end := start + 1; end <= len(s) && end-start <= m.maxLen; end++ {
			id, ok := m.ids[s[start:end]]
			if !ok {
				continue
			}
			if cand := here + m.scores[id]; best[end].start < 0 || cand > best[end].score {
				best[end] = node{cand, start, id}
			}
			single = single || end-start == width
		}
		if !single {
			if cand := here + unkScore; best[start+width].start < 0 || cand > best[start+width].score {
				best[start+width] = node{cand, start, m.unkID}
			}
		}
		start += width
	}
	for end := len(s); end > 0; end = best[end].start {
		starts, ends, ids = append(starts, best[end].start), append(ends, end), append(ids, best[end].id)
	}
	return starts, ends, ids // last token first
}

// tokenize cuts one piece into tokens with byte offsets in it.
func (m *unigramModel) tokenize(s string) ([]tokenizer.Token, error) {
	if s == "" {
		return nil, nil
	}
	starts, ends, ids := m.viterbi(s)
	if m.unkID < 0 && slices.Contains(ids, -1) {
		return nil, fmt.Errorf("%q has characters outside the vocabulary and the model has no unk_id", s)
	}
	// Walk back to front, fusing runs of unknowns (tokenizers' fuse_unk is always on).
	var spans [][2]int
	for i := 0; i < len(ids); i++ {
		span := [2]int{starts[i], ends[i]}
		if m.unkID >= 0 && ids[i] == m.unkID {
			for i+1 < len(ids) && ids[i+1] == m.unkID {
				i++
				span[0] = starts[i]
			}
		}
		spans = append(spans, span)
	}
	var out []tokenizer.Token
	for i := len(spans) - 1; i >= 0; i-- {
		value := s[spans[i][0]:spans[i][1]]
		out = append(out, m.token(value, spans[i])...)
	}
	return out, nil
}

func (m *unigramModel) token(value string, span [2]int) []tokenizer.Token {
	offsets := []int{span[0], span[1]}
	if id, ok := m.ids[value]; ok {
		return []tokenizer.Token{{Id: id, Value: value, Offsets: offsets}}
	}
	if m.byteFallback { // every byte as <0xHH>, all with the whole span, if all exist
		var out []tokenizer.Token
		for i := 0; i < len(value); i++ {
			b := fmt.Sprintf("<0x%02X>", value[i])
			id, ok := m.ids[b]
			if !ok {
				out = nil
				break
			}
			out = append(out, tokenizer.Token{Id: id, Value: b, Offsets: offsets})
		}
		if out != nil {
			return out
		}
	}
	return []tokenizer.Token{{Id: m.unkID, Value: value, Offsets: offsets}}
}
