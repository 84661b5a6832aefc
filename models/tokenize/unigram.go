package tokenize

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sugarme/tokenizer"
)

// unigramPipeline encodes one text for a Unigram tokenizer.json (SentencePiece models
// such as DeBERTa-v3 converted by transformers) exactly as Hugging Face tokenizers 0.19
// does, up to but not including the post-processor: added tokens split out, each other
// piece normalized, pre-tokenized and cut by the Unigram model's Viterbi search.
//
// It replaces sugarme/tokenizer's encoding of single sequences for these files, because
// sugarme diverges at several steps. On the 73 reference cases of the DeBERTa-v3-style
// fixture it gets 57 right: 4 panic in its Precompiled normalizer (index out of range on
// decomposed accents, tabs and newlines), 8 get other ids and 4 other offsets; on the
// byte-fallback fixture it gets 4 right. The causes, each handled below: its Precompiled normalizer cannot tell a
// removal from "no rule" and misaligns (precompiled.go); its Replace loader drops Regex
// patterns (it looks for "Regex" in the wrong map), so " {2,}" never collapses; its
// Metaspace replaces every \s, not only ' '; its added-token matcher sorts matches by id
// instead of position, so "[CLS] x [SEP]" in a text loses the [CLS]; its Unigram never
// tries pieces longer than 20 bytes, and with byte_fallback cuts every text into bytes.
// Post-processing (TemplateProcessing) and padding stay with sugarme.
type unigramPipeline struct {
	added       []addedToken // matched in the raw text
	addedNorm   []addedToken // matched in the normalized text
	normalizers []func(aligned) (aligned, error)
	pretok      []func([]aligned) []aligned
	model       *unigramModel
}

type addedToken struct {
	content                    string // for normalized tokens: as normalized
	id                         int
	singleWord, lstrip, rstrip bool
}

// piece is a stretch of text and, once tokenized, its tokens.
type piece struct {
	text   aligned
	tokens []tokenizer.Token // offsets in bytes of text.s
}

// encode returns the tokens of text with input byte offsets, all with type typeID.
func (p *unigramPipeline) encode(text string, typeID int) (*tokenizer.Encoding, error) {
	pieces := p.splitAdded([]piece{{text: newAligned(text, 0)}}, p.added)
	for i := range pieces {
		if pieces[i].tokens == nil {
			var err error
			if pieces[i].text, err = p.normalize(pieces[i].text); err != nil {
				return nil, err
			}
		}
	}
	words := p.preTokenize(p.splitAdded(pieces, p.addedNorm))
	var ids, typeIDs, mask, attn, wordIdx []int
	var toks []string
	var offs [][]int
	for w, pc := range words {
		if pc.tokens == nil {
			var err error
			if pc.tokens, err = p.model.tokenize(pc.text.s); err != nil {
				return nil, err
			}
		}
		for _, tok := range pc.tokens {
			o := pc.text.offsets(tok.Offsets[0], tok.Offsets[1])
			ids, toks, offs = append(ids, tok.Id), append(toks, tok.Value), append(offs, []int{o[0], o[1]})
			typeIDs, mask, attn, wordIdx = append(typeIDs, typeID), append(mask, 0), append(attn, 1), append(wordIdx, w)
		}
	}
	return tokenizer.NewEncoding(ids, typeIDs, toks, offs, mask, attn, nil, tokenizer.WithWordsEncodingOpt(wordIdx)), nil
}

func (p *unigramPipeline) normalize(a aligned) (aligned, error) {
	for _, n := range p.normalizers {
		var err error
		if a, err = n(a); err != nil {
			return aligned{}, err
		}
	}
	return a, nil
}

// preTokenize splits the pieces that are not added tokens into words; tokenizers drops
// the empty ones.
func (p *unigramPipeline) preTokenize(pieces []piece) []piece {
	var words []piece
	for _, pc := range pieces {
		if pc.tokens != nil {
			words = append(words, pc)
			continue
		}
		texts := []aligned{pc.text}
		for _, pt := range p.pretok {
			texts = pt(texts)
		}
		for _, t := range texts {
			if t.s != "" {
				words = append(words, piece{text: t})
			}
		}
	}
	return words
}

// splitAdded cuts the untokenized pieces around the added tokens in set, as tokenizers'
// AddedVocabulary::split_with_indices does: leftmost-longest matches (the search goes on
// after a match's own end, whatever single_word, lstrip and rstrip make of it), every
// stretch re-sliced (which moves its start past characters the normalizer removed), empty
// stretches dropped.
func (p *unigramPipeline) splitAdded(pieces []piece, set []addedToken) []piece {
	var out []piece
	for _, pc := range pieces {
		if pc.tokens != nil {
			out = append(out, pc)
			continue
		}
		s := pc.text.s
		last := 0
		for i := 0; i < len(s); {
			tok, ok := longestAdded(s[i:], set)
			if !ok {
				i++
				continue
			}
			start, stop := i, i+len(tok.content)
			i = stop
			if tok.singleWord && (start > 0 && endsWithWord(s[:start]) || stop < len(s) && startsWithWord(s[stop:])) {
				continue // not a word on its own
			}
			if tok.lstrip {
				start = max(len(strings.TrimRightFunc(s[:start], unicode.IsSpace)), last)
			}
			if tok.rstrip {
				stop = len(s) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
			}
			if last < start {
				out = append(out, piece{text: pc.text.slice(last, start)})
			}
			value := s[start:stop]
			out = append(out, piece{text: pc.text.slice(start, stop), tokens: []tokenizer.Token{{Id: tok.id, Value: value, Offsets: []int{0, len(value)}}}})
			last = stop
		}
		if last < len(s) {
			out = append(out, piece{text: pc.text.slice(last, len(s))})
		}
	}
	return out
}

// longestAdded returns the longest added token that s starts with.
func longestAdded(s string, set []addedToken) (addedToken, bool) {
	best, ok := addedToken{}, false
	for _, t := range set {
		if t.content != "" && strings.HasPrefix(s, t.content) && (!ok || len(t.content) > len(best.content)) {
			best, ok = t, true
		}
	}
	return best, ok
}

// isWordChar is Rust regex's Unicode \w: Alphabetic, marks, decimal digits, connector
// punctuation, joiners (Go's \w is ASCII only).
func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.In(r, unicode.Nl, unicode.Other_Alphabetic, unicode.M, unicode.Nd, unicode.Pc, unicode.Join_Control)
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return isWordChar(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return isWordChar(r)
}

// ---- loading ----

// unigramJSON is the part of a tokenizer.json the pipeline reads.
type unigramJSON struct {
	AddedTokens []struct {
		ID         int    `json:"id"`
		Content    string `json:"content"`
		SingleWord bool   `json:"single_word"`
		LStrip     bool   `json:"lstrip"`
		RStrip     bool   `json:"rstrip"`
		Normalized bool   `json:"normalized"`
	} `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Model        struct {
		Type         string          `json:"type"`
		Vocab        json.RawMessage `json:"vocab"` // [[piece, score], ...] for Unigram
		UnkID        *int            `json:"unk_id"`
		ByteFallback bool            `json:"byte_fallback"`
	} `json:"model"`
}

// newUnigramPipeline builds the pipeline of a tokenizer.json whose model is Unigram,
// or returns nil for other models.
func newUnigramPipeline(raw []byte) (*unigramPipeline, error) {
	var cfg unigramJSON
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Model.Type != "Unigram" {
		return nil, nil
	}
	var vocab []json.RawMessage
	if err := json.Unmarshal(cfg.Model.Vocab, &vocab); err != nil {
		return nil, fmt.Errorf("model.vocab: want a list of [piece, score]: %w", err)
	}
	p := &unigramPipeline{}
	var err error
	if p.model, err = newUnigramModel(vocab, cfg.Model.UnkID, cfg.Model.ByteFallback); err != nil {
		return nil, err
	}
	if p.normalizers, err = parseNormalizer(cfg.Normalizer); err != nil {
		return nil, fmt.Errorf("normalizer: %w", err)
	}
	if p.pretok, err = parsePreTokenizer(cfg.PreTokenizer); err != nil {
		return nil, fmt.Errorf("pre_tokenizer: %w", err)
	}
	for _, t := range cfg.AddedTokens {
		tok := addedToken{content: t.Content, id: t.ID, singleWord: t.SingleWord, lstrip: t.LStrip, rstrip: t.RStrip}
		if !t.Normalized {
			p.added = append(p.added, tok)
			continue
		}
		// Normalized added tokens are matched in the normalized text, as normalized.
		a, err := p.normalize(newAligned(t.Content, 0))
		if err != nil {
			return nil, fmt.Errorf("added_tokens %q: %w", t.Content, err)
		}
		tok.content = a.s
		p.addedNorm = append(p.addedNorm, tok)
	}
	return p, nil
}

type component struct {
	Type string `json:"type"`
	// Sequence
	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	// Strip
	StripLeft  bool `json:"strip_left"`
	StripRight bool `json:"strip_right"`
	// Precompiled
	Charsmap *string `json:"precompiled_charsmap"`
	// Replace
	Pattern struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	} `json:"pattern"`
	Content string `json:"content"`
	// Prepend
	Prepend string `json:"prepend"`
	// Metaspace
	Replacement    string  `json:"replacement"`
	PrependScheme  *string `json:"prepend_scheme"`
	AddPrefixSpace *bool   `json:"add_prefix_space"`
	Split          *bool   `json:"split"`
	// Punctuation
	Behavior string `json:"behavior"`
}

func parseComponent(raw json.RawMessage) (*component, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// parseNormalizer supports the normalizers transformers' SentencePiece converters emit.
func parseNormalizer(raw json.RawMessage) ([]func(aligned) (aligned, error), error) {
	c, err := parseComponent(raw)
	if c == nil || err != nil {
		return nil, err
	}
	ok := func(f func(aligned) aligned) []func(aligned) (aligned, error) {
		return []func(aligned) (aligned, error){func(a aligned) (aligned, error) { return f(a), nil }}
	}
	switch c.Type {
	case "Sequence":
		var all []func(aligned) (aligned, error)
		for i, sub := range c.Normalizers {
			steps, err := parseNormalizer(sub)
			if err != nil {
				return nil, fmt.Errorf("normalizers[%d]: %w", i, err)
			}
			all = append(all, steps...)
		}
		return all, nil
	case "Strip":
		return ok(func(a aligned) aligned { return a.strip(c.StripLeft, c.StripRight) }), nil
	case "Precompiled":
		if c.Charsmap == nil || *c.Charsmap == "" {
			return nil, nil // transformers writes none when the spm model has no rules
		}
		pc, err := parsePrecompiled(*c.Charsmap)
		if err != nil {
			return nil, err
		}
		return []func(aligned) (aligned, error){pc.normalize}, nil
	case "Replace":
		find, err := replacePattern(c.Pattern.String, c.Pattern.Regex)
		if err != nil {
			return nil, err
		}
		return ok(func(a aligned) aligned { return a.replace(find(a.s), c.Content) }), nil
	case "Prepend":
		return ok(func(a aligned) aligned { return a.prepend(c.Prepend) }), nil
	case "Lowercase":
		return []func(aligned) (aligned, error){lowercase}, nil
	}
	return nil, fmt.Errorf("%q is not supported with a Unigram model (supported: Sequence, Strip, Precompiled, Replace, Prepend, Lowercase)", c.Type)
}

func replacePattern(str, re *string) (func(string) [][2]int, error) {
	switch {
	case str != nil && *str != "":
		lit := *str
		return func(s string) [][2]int {
			var m [][2]int
			for i := 0; ; {
				j := strings.Index(s[i:], lit)
				if j < 0 {
					return m
				}
				m = append(m, [2]int{i + j, i + j + len(lit)})
				i += j + len(lit)
			}
		}, nil
	case re != nil:
		r, err := regexp.Compile(*re)
		if err != nil {
			return nil, fmt.Errorf("Replace pattern %q: %w", *re, err)
		}
		return func(s string) [][2]int {
			var m [][2]int
			for _, loc := range r.FindAllStringIndex(s, -1) {
				m = append(m, [2]int{loc[0], loc[1]})
			}
			return m
		}, nil
	}
	return nil, fmt.Errorf("Replace needs a String or Regex pattern")
}

// lowercase is tokenizers' Lowercase: each character's full lowercase mapping (Rust's
// char::to_lowercase, which only differs from Go's unicode.ToLower on U+0130).
func lowercase(a aligned) (aligned, error) {
	var dest []change
	for _, r := range a.s {
		if r == 'İ' {
			dest = append(dest, change{'i', 0}, change{'\u0307', 1})
			continue
		}
		dest = append(dest, change{unicode.ToLower(r), 0})
	}
	return a.transform(dest, 0)
}

// parsePreTokenizer supports Metaspace and Punctuation (isolated), alone or in a Sequence:
// what transformers' DeBERTa-v2/v3 converter emits.
func parsePreTokenizer(raw json.RawMessage) ([]func([]aligned) []aligned, error) {
	c, err := parseComponent(raw)
	if c == nil || err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var all []func([]aligned) []aligned
		for i, sub := range c.Pretokenizers {
			steps, err := parsePreTokenizer(sub)
			if err != nil {
				return nil, fmt.Errorf("pretokenizers[%d]: %w", i, err)
			}
			all = append(all, steps...)
		}
		return all, nil
	case "Metaspace":
		m, err := newMetaspace(c)
		if err != nil {
			return nil, err
		}
		return []func([]aligned) []aligned{m.pretokenize}, nil
	case "Punctuation":
		if c.Behavior != "Isolated" && c.Behavior != "isolated" {
			return nil, fmt.Errorf("Punctuation behavior %q is not supported (supported: Isolated)", c.Behavior)
		}
		return []func([]aligned) []aligned{punctuation}, nil
	}
	return nil, fmt.Errorf("%q is not supported with a Unigram model (supported: Sequence, Metaspace, Punctuation)", c.Type)
}

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

// punctuation isolates every punctuation character (Rust's is_ascii_punctuation or
// Unicode P*), as tokenizers' Punctuation pre-tokenizer with the Isolated behaviour.
func punctuation(texts []aligned) []aligned {
	var out []aligned
	for _, t := range texts {
		last := 0
		for i, r := range t.s {
			if isPunct(r) {
				if i > last {
					out = append(out, t.slice(last, i))
				}
				end := i + utf8.RuneLen(r)
				out = append(out, t.slice(i, end))
				last = end
			}
		}
		if last < len(t.s) {
			out = append(out, t.slice(last, len(t.s)))
		}
	}
	return out
}

// isPunct is Rust's is_ascii_punctuation (which takes in the ASCII symbols $+<=>^`|~
// that Unicode files as S*) or Unicode P*.
func isPunct(r rune) bool {
	return unicode.IsPunct(r) || r < 0x80 && strings.ContainsRune("$+<=>^`|~", r)
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
