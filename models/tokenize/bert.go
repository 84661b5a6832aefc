package tokenize

import (
	"fmt"
	"slices"
	"unicode"
	"unicode/utf8"

	"github.com/sugarme/tokenizer"
	"golang.org/x/text/unicode/norm"
)

// This file is the BERT family's part of the pipeline: tokenizers' BertNormalizer,
// BertPreTokenizer and WordPiece model (tokenizers 0.19: normalizers/bert.rs,
// pre_tokenizers/bert.rs, models/wordpiece/mod.rs), with offsets aligned as
// tokenizers' NormalizedString aligns them (see aligned.go).

// bertNormalizer is tokenizers' BertNormalizer. Its steps run in this order, each on
// the whole text: clean_text, handle_chinese_chars, strip_accents, lowercase.
type bertNormalizer struct {
	cleanText, chinese, stripAccents, lowercase bool
}

func newBertNormalizer(c *component) bertNormalizer {
	n := bertNormalizer{cleanText: c.CleanText, chinese: c.HandleChineseChars, lowercase: c.Lowercase}
	// strip_accents null means "as lowercase" (tokenizers and transformers agree):
	// uncased BERT strips accents, cased BERT keeps them.
	n.stripAccents = c.Lowercase
	if c.StripAccents != nil {
		n.stripAccents = *c.StripAccents
	}
	return n
}

func (n bertNormalizer) normalize(a aligned) (aligned, error) {
	var err error
	if n.cleanText {
		if a, err = a.filter(keptByCleanText); err != nil {
			return aligned{}, err
		}
		a = a.mapRunes(func(r rune) rune {
			if isSpace(r) { // includes \t, \n, \r
				return ' '
			}
			return r
		})
	}
	if n.chinese {
		if a, err = spaceChinese(a); err != nil {
			return aligned{}, err
		}
	}
	if n.stripAccents {
		if a, err = stripMarks(nfd(a)); err != nil {
			return aligned{}, err
		}
	}
	if n.lowercase {
		return lowercase(a)
	}
	return a, nil
}

// keptByCleanText: clean_text removes NUL, U+FFFD and "control" characters, which for
// tokenizers are the categories Cc, Cf and Co (tab, newline and carriage return
// excepted: they become spaces). Its category tables are older than Go's (see
// unicode_tables.go), so a few newer format characters stay.
func keptByCleanText(r rune) bool {
	if r < 0x80 {
		return r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r != 0x7F
	}
	if r == 0xFFFD {
		return false
	}
	return !unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co) || unicode.Is(formatNotInTokenizers, r)
}

// isChinese is tokenizers' is_chinese_char: the CJK Unified Ideographs blocks (not
// Hangul, Hiragana or Katakana, which are written with spaces between words).
func isChinese(r rune) bool {
	switch {
	case r < 0x3400:
		return false
	case r <= 0x4DBF, r >= 0x4E00 && r <= 0x9FFF, r >= 0xF900 && r <= 0xFAFF:
		return true
	}
	return r >= 0x20000 && r <= 0x2A6DF || r >= 0x2A700 && r <= 0x2B73F || r >= 0x2B740 && r <= 0x2B81F ||
		r >= 0x2B920 && r <= 0x2CEAF || r >= 0x2F800 && r <= 0x2FA1F
}

// spaceChinese puts a space on both sides of every CJK ideograph, as tokenizers'
// handle_chinese_chars does: the first space takes the ideograph's place (and its
// alignment), the ideograph and the second space count as inserted, so both take the
// alignment of the byte before them, the ideograph's own last byte.
func spaceChinese(a aligned) (aligned, error) {
	if !containsFunc(a.s, isChinese) {
		return a, nil
	}
	dest := make([]change, 0, len(a.s)+8)
	for _, r := range a.s {
		if isChinese(r) {
			dest = append(dest, change{' ', 0}, change{r, 1}, change{' ', 1})
		} else {
			dest = append(dest, change{r, 0})
		}
	}
	return a.transform(dest, 0)
}

// nfd decomposes the text canonically (NFD), with tokenizers' alignment of the result
// (its unicode-normalization-alignments crate): the first character of a character's
// decomposition replaces it, the others count as inserted; then each run of combining
// marks is put in canonical order (a stable sort by combining class), every character
// keeping its change.
func nfd(a aligned) aligned {
	if norm.NFD.IsNormalString(a.s) {
		return a // nothing to decompose or reorder: every character replaces itself
	}
	type item struct {
		c change
		// ccc is the canonical combining class: 0 for starters.
		ccc uint8
	}
	var buf []item
	run := 0 // where the current run of non-starters begins
	flush := func() {
		slices.SortStableFunc(buf[run:], func(x, y item) int { return int(x.ccc) - int(y.ccc) })
	}
	for _, r := range a.s {
		d := string(r)
		if r >= 0xC0 && !unicode.Is(decompositionNotInTokenizers, r) {
			d = norm.NFD.String(d)
		}
		first := true
		for _, c := range d {
			ccc := norm.NFD.PropertiesString(string(c)).CCC()
			if ccc != 0 && unicode.Is(combiningNotInTokenizers, c) {
				ccc = 0
			}
			if ccc == 0 {
				flush()
				run = len(buf)
			}
			n := 1
			if first {
				n, first = 0, false
			}
			buf = append(buf, item{change{c, n}, ccc})
		}
	}
	flush()
	dest := make([]change, len(buf))
	for i, it := range buf {
		dest[i] = it.c
	}
	out, _ := a.transform(dest, 0) // as many characters replaced as there are: cannot fail
	return out
}

// stripMarks removes the non-spacing marks (Mn), as BertNormalizer's strip_accents does
// after NFD. tokenizers' Mn table is older than Go's: see unicode_tables.go.
func stripMarks(a aligned) (aligned, error) {
	return a.filter(func(r rune) bool {
		if r < 0x300 {
			return true
		}
		if unicode.Is(unicode.Mn, r) {
			return unicode.Is(markNotInTokenizers, r)
		}
		return !unicode.Is(markOnlyInTokenizers, r)
	})
}

// splitSpaces cuts each text at whitespace (Rust's char::is_whitespace), dropping it:
// the first step of BertPreTokenizer, and all of WhitespaceSplit.
func splitSpaces(texts []aligned) []aligned { return splitOn(texts, isSpace, false) }

// splitOn cuts each text around every character that matches, which is dropped
// (tokenizers' SplitDelimiterBehavior::Removed) or kept as a piece of its own (Isolated).
func splitOn(texts []aligned, match func(rune) bool, isolate bool) []aligned {
	var out []aligned
	for _, t := range texts {
		last := 0
		for i, r := range t.s {
			if !match(r) {
				continue
			}
			if i > last {
				out = append(out, t.slice(last, i))
			}
			last = i + utf8.RuneLen(r)
			if isolate {
				out = append(out, t.slice(i, last))
			}
		}
		if last < len(t.s) {
			out = append(out, t.slice(last, len(t.s)))
		}
	}
	return out
}

func containsFunc(s string, f func(rune) bool) bool {
	for _, r := range s {
		if f(r) {
			return true
		}
	}
	return false
}

// ---- model ----

// wordPiece is tokenizers' WordPiece model: each word is cut greedily into the longest
// vocabulary entry it starts with, then the longest "##"-prefixed entry the rest starts
// with, and so on; a word with a piece that matches nothing, or longer than
// max_input_chars_per_word characters, is one unknown token over the whole word.
type wordPiece struct {
	head, cont map[string]int // entries for a word's start; "##" entries without the "##"
	maxLen     int            // longest entry in bytes (a bound on the search)
	unk        string
	unkID      int // -1: not in the vocabulary
	maxChars   int
}

func newWordPiece(vocab map[string]int, unk, prefix string, maxChars int) (*wordPiece, error) {
	if len(vocab) == 0 {
		return nil, fmt.Errorf("model.vocab is empty")
	}
	m := &wordPiece{head: vocab, cont: map[string]int{}, unk: unk, unkID: -1, maxChars: maxChars}
	for tok, id := range vocab {
		if len(tok) >= len(prefix) && tok[:len(prefix)] == prefix {
			m.cont[tok[len(prefix):]] = id
		}
		m.maxLen = max(m.maxLen, len(tok))
	}
	if id, ok := vocab[unk]; ok {
		m.unkID = id
	}
	return m, nil
}

func (m *wordPiece) tokenize(word string) ([]tokenizer.Token, error) {
	if utf8.RuneCountInString(word) > m.maxChars {
		return m.unknown(word)
	}
	var out []tokenizer.Token
	for start := 0; start < len(word); {
		vocab := m.head
		if start > 0 {
			vocab = m.cont
		}
		end := min(len(word), start+m.maxLen) // nothing longer can match
		for end < len(word) && !utf8.RuneStart(word[end]) {
			end-- // back to a character boundary
		}
		id, found := 0, false
		for end > start {
			if id, found = vocab[word[start:end]]; found {
				break
			}
			_, size := utf8.DecodeLastRuneInString(word[start:end])
			end -= size
		}
		if !found {
			return m.unknown(word)
		}
		out = append(out, tokenizer.Token{Id: id, Offsets: []int{start, end}})
		start = end
	}
	return out, nil
}

func (m *wordPiece) unknown(word string) ([]tokenizer.Token, error) {
	if m.unkID < 0 {
		return nil, fmt.Errorf("%q is not in the vocabulary and the model's unk_token %q is not either", word, m.unk)
	}
	return []tokenizer.Token{{Id: m.unkID, Value: m.unk, Offsets: []int{0, len(word)}}}, nil
}
