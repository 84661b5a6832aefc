package tokenize

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sugarme/tokenizer"
)

// pipeline encodes one text exactly as Hugging Face tokenizers 0.19 does for Unigram
// (SentencePiece models such as DeBERTa-v3 converted by transformers) and WordPiece (BERT
// family) tokenizer.json files, up to but not including the post-processor: added
// tokens split out, each other piece normalized, pre-tokenized and cut by the model.
// Post-processing (TemplateProcessing, BertProcessing) stays with sugarme/tokenizer,
// which also holds the vocabulary.
//
// It replaces sugarme's encoding of single sequences for these files, because sugarme
// diverges at several steps.
//
// Unigram: on the 73 reference cases of the DeBERTa-v3-style fixture sugarme gets 57
// right: 4 panic in its Precompiled normalizer (index out of range on decomposed
// accents, tabs and newlines), 8 get other ids and 4 other offsets; on the byte-fallback
// fixture it gets 4 right. The causes, each handled here: its Precompiled normalizer
// cannot tell a removal from "no rule" and misaligns (precompiled.go); its Replace
// loader drops Regex patterns (it looks for "Regex" in the wrong map), so " {2,}" never
// collapses; its Metaspace replaces every \s, not only ' '; its added-token matcher sorts
// matches by id instead of position, so "[CLS] x [SEP]" in a text loses the [CLS]; its
// Unigram never tries pieces longer than 20 bytes, and with byte_fallback cuts every
// text into bytes.
//
// WordPiece (bert.go): sugarme's BertNormalizer drops accents without decomposing them
// ("café" stays "café", an [UNK]), misaligns offsets after CJK characters and NFD-split
// Hangul, and panics on some mixed-script text with combining marks; its BERT
// normalizer and pre-tokenizer do not take U+00A0, U+3000 and other Unicode spaces for
// whitespace; added tokens written in the text ("[SEP]") are not split out; its
// WordPiece reports offsets in characters where bytes are meant.
type pipeline struct {
	added       []addedToken // matched in the raw text
	addedNorm   []addedToken // matched in the normalized text
	normalizers []func(aligned) (aligned, error)
	pretok      []func([]aligned) []aligned
	model       interface {
		// tokenize cuts one pre-tokenized word into tokens with byte offsets in it.
		tokenize(word string) ([]tokenizer.Token, error)
	}
	// cutSafe: a prefix cut at a safe point tokenises as the whole text begins
	// (bounded.go), so Encode may tokenise prefixes only.
	cutSafe bool
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

// encode returns the tokens of text with input byte offsets.
func (p *pipeline) encode(text string) (Pieces, error) {
	pieces := p.splitAdded([]piece{{text: newAligned(text, 0)}}, p.added)
	for i := range pieces {
		if pieces[i].tokens == nil {
			var err error
			if pieces[i].text, err = p.normalize(pieces[i].text); err != nil {
				return Pieces{}, err
			}
		}
	}
	words := p.preTokenize(p.splitAdded(pieces, p.addedNorm))
	var out Pieces
	for _, pc := range words {
		if pc.tokens == nil {
			var err error
			if pc.tokens, err = p.model.tokenize(pc.text.s); err != nil {
				return Pieces{}, err
			}
		}
		for _, tok := range pc.tokens {
			out.IDs = append(out.IDs, int64(tok.Id))
			out.Offsets = append(out.Offsets, pc.text.offsets(tok.Offsets[0], tok.Offsets[1]))
		}
	}
	return out, nil
}

func (p *pipeline) normalize(a aligned) (aligned, error) {
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
func (p *pipeline) preTokenize(pieces []piece) []piece {
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
func (p *pipeline) splitAdded(pieces []piece, set []addedToken) []piece {
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

// pipelineJSON is the part of a tokenizer.json the pipeline reads.
type pipelineJSON struct {
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
		Type  string          `json:"type"`
		Vocab json.RawMessage `json:"vocab"` // Unigram: [[piece, score], ...]; WordPiece: {token: id}
		// Unigram
		UnkID        *int `json:"unk_id"`
		ByteFallback bool `json:"byte_fallback"`
		// WordPiece
		UnkToken      *string `json:"unk_token"`
		Prefix        *string `json:"continuing_subword_prefix"`
		MaxInputChars *int    `json:"max_input_chars_per_word"`
	} `json:"model"`
}

// newPipeline builds the pipeline of a tokenizer.json whose model is Unigram or
// WordPiece, or returns nil for other models (BPE: sugarme encodes those).
func newPipeline(raw []byte) (*pipeline, error) {
	var cfg pipelineJSON
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, err
	}
	p := &pipeline{}
	switch cfg.Model.Type {
	case "Unigram":
		var vocab []json.RawMessage
		if err := json.Unmarshal(cfg.Model.Vocab, &vocab); err != nil {
			return nil, fmt.Errorf("model.vocab: want a list of [piece, score]: %w", err)
		}
		m, err := newUnigramModel(vocab, cfg.Model.UnkID, cfg.Model.ByteFallback)
		if err != nil {
			return nil, err
		}
		p.model = m
	case "WordPiece":
		var vocab map[string]int
		if err := json.Unmarshal(cfg.Model.Vocab, &vocab); err != nil {
			return nil, fmt.Errorf("model.vocab: want an object {token: id}: %w", err)
		}
		// tokenizers' defaults for the keys a file may leave out
		unk, prefix, maxChars := "[UNK]", "##", 100
		if cfg.Model.UnkToken != nil {
			unk = *cfg.Model.UnkToken
		}
		if cfg.Model.Prefix != nil {
			prefix = *cfg.Model.Prefix
		}
		if cfg.Model.MaxInputChars != nil {
			maxChars = *cfg.Model.MaxInputChars
		}
		m, err := newWordPiece(vocab, unk, prefix, maxChars)
		if err != nil {
			return nil, err
		}
		p.model = m
	default:
		return nil, nil
	}
	var err error
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
	p.cutSafe = cutSafe(cfg, p)
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
	// BertNormalizer
	CleanText          bool  `json:"clean_text"`
	HandleChineseChars bool  `json:"handle_chinese_chars"`
	StripAccents       *bool `json:"strip_accents"`
	Lowercase          bool  `json:"lowercase"`
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

// parseNormalizer supports the normalizers transformers' SentencePiece and BERT
// converters emit.
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
	case "BertNormalizer":
		return []func(aligned) (aligned, error){newBertNormalizer(c).normalize}, nil
	case "NFD":
		return ok(nfd), nil
	}
	return nil, fmt.Errorf("%q is not supported (supported: Sequence, Strip, Precompiled, Replace, Prepend, Lowercase, BertNormalizer, NFD)", c.Type)
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
	if !containsFunc(a.s, func(r rune) bool { return r >= utf8.RuneSelf || 'A' <= r && r <= 'Z' }) {
		return a, nil
	}
	if !containsFunc(a.s, func(r rune) bool { return r >= utf8.RuneSelf }) {
		a.s = strings.ToLower(a.s) // ASCII: one byte for one, alignments unchanged
		return a, nil
	}
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

// parsePreTokenizer supports Metaspace and Punctuation (isolated), alone or in a Sequence
// (what transformers' DeBERTa-v2/v3 converter emits), BertPreTokenizer and WhitespaceSplit.
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
	case "BertPreTokenizer":
		return []func([]aligned) []aligned{splitSpaces, punctuation}, nil
	case "WhitespaceSplit":
		return []func([]aligned) []aligned{splitSpaces}, nil
	}
	return nil, fmt.Errorf("%q is not supported (supported: Sequence, Metaspace, Punctuation, BertPreTokenizer, WhitespaceSplit)", c.Type)
}

// punctuation isolates every punctuation character (Rust's is_ascii_punctuation or
// Unicode P*), as tokenizers' Punctuation pre-tokenizer with the Isolated behaviour.
func punctuation(texts []aligned) []aligned { return splitOn(texts, isPunct, true) }

// isPunct is Rust's is_ascii_punctuation (which takes in the ASCII symbols $+<=>^`|~
// that Unicode files as S*) or Unicode P* (tokenizers' is_punc and is_bert_punc).
func isPunct(r rune) bool {
	if r < utf8.RuneSelf {
		return r > ' ' && r < 0x7F && !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
	}
	// tokenizers' Unicode category tables are older than Go's: see unicode_tables.go.
	return unicode.IsPunct(r) && !unicode.Is(punctNotInTokenizers, r) || unicode.Is(punctOnlyInTokenizers, r)
}
