package tokenize

// Bounded work on long texts. Encode truncates to maxLen tokens, but tokenising a
// 10 MB line whole before cutting it took 84 s and 5.1 GB. Here only a prefix of each
// text is tokenised: one cut at a word boundary, grown (doubled) until it yields
// enough tokens or covers the text. The result is exactly that of tokenising the
// whole text and then truncating, because of the argument below.
//
// # Why a cut at a "safe point" cannot change the tokens before it
//
// A safe point is a byte position k with text[k-1] an ASCII letter or digit,
// text[k] == ' ' and text[k+1] printable ASCII (0x21-0x7E). Let P = text[:k]. The claim:
// the tokens of P (ids and offsets) are the first tokens of the whole text. It holds for
// pipelines built only from the steps listed in cutSafe, step by step:
//
//   - Added tokens are matched leftmost-longest in the raw text. A match that crosses k
//     would contain the space; cutSafe allows no added token with a space. An rstrip
//     token ending at k-1 would swallow the space after it in the whole text but not in
//     P (its offsets would differ); cutSafe allows rstrip only on tokens not ending in
//     a letter or digit, which cannot end at k-1. single_word looks at the character
//     after the match: the space, or the end of P, both "not a word character".
//   - Normalizers act on characters, or on the grapheme clusters of the Precompiled
//     (SentencePiece) step. A grapheme cannot join text[k-1] and the space (neither an
//     ASCII letter is a Prepend character nor a space an Extend/SpacingMark/ZWJ one), nor
//     the space and text[k+1] (printable ASCII). The Precompiled rules of the file are
//     checked to map printable ASCII to printable non-space ASCII and the space to
//     itself; BertNormalizer, Lowercase and NFD map ASCII letters to ASCII letters and the
//     space to itself, and NFD's reordering of combining marks never crosses a starter
//     such as an ASCII letter. Strip removes spaces only at the ends of a piece: P ends
//     in a letter, and in the whole text the space at k is followed by a printable
//     character. Prepend acts at the start only, the same in both. Replace with the
//     regex " {2,}" (DeBERTa-v3) rewrites runs of spaces, which cannot include text[k-1];
//     a literal Replace pattern without letters, digits and spaces cannot match across k.
//     So normalizing P gives a prefix of the whole text's normalized text, with the
//     same alignments, ending in a letter and followed there by a space.
//   - Pre-tokenizers: BertPreTokenizer and WhitespaceSplit split at the space; Metaspace
//     (split=true) turns it into "▁" and cuts before it; Punctuation splits around
//     punctuation, never between a letter and a space. So the whole text's words are P's
//     words followed by others, P's last word ending at k-1 in both.
//   - WordPiece and Unigram cut each word on its own.
//
// Files with other steps (sugarme's BPE path, Metaspace without split, a Replace of
// " ", custom regexes) are tokenised whole: correct, but not bounded, which is why the
// data readers also cap the length of a line. Tests compare both ways on real GLUE
// text and on random strings for every tokenizer the harness ships.
//
// Texts without safe points (e.g. long CJK text, which has no ASCII spaces) are also
// tokenised whole.

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// Prefix growth: the first cut is asked for at prefixBytesPerToken bytes per token
// wanted plus prefixMinBytes; tests lower them to make many cuts on short texts.
var (
	prefixBytesPerToken = 4
	prefixMinBytes      = 64
)

// cutSafe says whether the pipeline built from cfg is one the argument at the top of
// this file covers.
func cutSafe(cfg pipelineJSON, p *pipeline) bool {
	if !normalizerCutSafe(cfg.Normalizer) {
		return false
	}
	safe, splits := pretokCutSafe(cfg.PreTokenizer)
	if !safe || !splits {
		return false
	}
	for _, set := range [][]addedToken{p.added, p.addedNorm} {
		for _, t := range set {
			for i := 0; i < len(t.content); i++ {
				if t.content[i] == ' ' {
					return false
				}
			}
			if t.rstrip && t.content != "" && isASCIIAlnum(t.content[len(t.content)-1]) {
				return false
			}
		}
	}
	return true
}

func normalizerCutSafe(raw json.RawMessage) bool {
	c, err := parseComponent(raw)
	if err != nil {
		return false
	}
	if c == nil {
		return true
	}
	switch c.Type {
	case "Sequence":
		for _, sub := range c.Normalizers {
			if !normalizerCutSafe(sub) {
				return false
			}
		}
		return true
	case "Strip", "Prepend", "Lowercase", "BertNormalizer", "NFD":
		return true
	case "Precompiled":
		if c.Charsmap == nil || *c.Charsmap == "" {
			return true
		}
		pc, err := parsePrecompiled(*c.Charsmap)
		return err == nil && precompiledKeepsASCII(pc)
	case "Replace":
		if c.Pattern.Regex != nil {
			return *c.Pattern.Regex == " {2,}"
		}
		if c.Pattern.String == nil || *c.Pattern.String == "" {
			return false
		}
		for _, b := range []byte(*c.Pattern.String) {
			if b == ' ' || isASCIIAlnum(b) {
				return false
			}
		}
		return true
	}
	return false
}

// precompiledKeepsASCII checks the rules the argument relies on: printable ASCII maps
// to one printable non-space ASCII character (or has no rule), the space to itself.
func precompiledKeepsASCII(pc *precompiled) bool {
	for b := byte(' '); b < 0x7F; b++ {
		repl, ok := pc.lookup(string(rune(b)))
		if !ok {
			continue
		}
		if b == ' ' {
			if repl != " " {
				return false
			}
			continue
		}
		if len(repl) != 1 || repl[0] <= ' ' || repl[0] >= 0x7F {
			return false
		}
	}
	return true
}

// pretokCutSafe says whether every step is covered and whether one splits at spaces.
func pretokCutSafe(raw json.RawMessage) (safe, splits bool) {
	c, err := parseComponent(raw)
	if err != nil || c == nil {
		return err == nil, false
	}
	switch c.Type {
	case "Sequence":
		for _, sub := range c.Pretokenizers {
			s, sp := pretokCutSafe(sub)
			if !s {
				return false, false
			}
			splits = splits || sp
		}
		return true, splits
	case "BertPreTokenizer", "WhitespaceSplit":
		return true, true
	case "Punctuation":
		return true, false
	case "Metaspace":
		r, _ := utf8.DecodeRuneInString(c.Replacement)
		if (c.Split != nil && !*c.Split) || r < utf8.RuneSelf {
			return false, false
		}
		return true, true
	}
	return false, false
}

func isASCIIAlnum(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

// safePointFrom returns the first safe point k >= from (see the top of the file), or
// len(s) if there is none.
func safePointFrom(s string, from int) int {
	for k := max(from, 1); k+1 < len(s); k++ {
		if s[k] == ' ' && isASCIIAlnum(s[k-1]) && s[k+1] > ' ' && s[k+1] < 0x7F {
			return k
		}
	}
	return len(s)
}

// prefix is a text tokenised up to some safe point.
type prefix struct {
	text string
	want int    // bytes the next cut should at least reach
	cut  int    // bytes tokenised so far
	p    Pieces // tokens of text[:cut]: the first tokens of text
	done bool   // cut == len(text): p are all of text's tokens
}

// grow tokenises a longer prefix: up to the first safe point at or after p.want bytes,
// then doubles p.want. The caller holds t.mu.
func (t *Tokenizer) grow(p *prefix) error {
	for !p.done {
		k := len(p.text)
		if p.want < len(p.text) && t.pipe != nil && t.pipe.cutSafe {
			k = safePointFrom(p.text, p.want)
		}
		p.want = 2 * max(p.want, 1)
		if k <= p.cut && k < len(p.text) {
			continue // the same cut as before: reach further
		}
		pieces, err := t.pieces(p.text[:k])
		if err != nil {
			return err
		}
		p.p, p.cut, p.done = pieces, k, k == len(p.text)
		return nil
	}
	return nil
}

func (t *Tokenizer) startPrefix(text string, tokens int) (*prefix, error) {
	p := &prefix{text: text, want: prefixBytesPerToken*tokens + prefixMinBytes}
	return p, t.grow(p)
}

// truncatedPieces tokenises a (and b) as Encode needs them: each text's tokens, cut
// longest-first to fit maxLen with the special tokens, reading only as much of each
// text as that takes. The caller holds t.mu.
//
// For a pair, longest-first needs more than "at least budget tokens": when both texts
// must be cut and the budget is odd, the longer one gets the odd token (the second on
// ties), so which one is longer must be known. decided says when the counts so far
// fix the result; until then the text with fewer tokens so far grows. That costs at
// most about the shorter text's tokens, and only when both texts exceed the budget.
func (t *Tokenizer) truncatedPieces(a, b string, pair bool, maxLen int) (Pieces, *Pieces, error) {
	added := t.addedTokens(pair)
	budget := maxLen - added
	if budget < 0 {
		return Pieces{}, nil, fmt.Errorf("tokenize: max length %d leaves no room beside %d special tokens", maxLen, added)
	}
	pa, err := t.startPrefix(a, budget+1)
	if err != nil {
		return Pieces{}, nil, err
	}
	if !pair {
		for !pa.done && len(pa.p.IDs) < budget {
			if err := t.grow(pa); err != nil {
				return Pieces{}, nil, err
			}
		}
		return t.truncate(pa.p, nil, maxLen)
	}
	pb, err := t.startPrefix(b, budget+1)
	if err != nil {
		return Pieces{}, nil, err
	}
	for !decided(pa, pb, budget) {
		g := pa
		if pa.done || !pb.done && len(pb.p.IDs) < len(pa.p.IDs) {
			g = pb
		}
		if err := t.grow(g); err != nil {
			return Pieces{}, nil, err
		}
	}
	return t.truncate(pa.p, &pb.p, maxLen)
}

// decided says whether longest-first truncation of the pair to budget tokens gives
// the same lengths for every pair of true token counts consistent with what is known
// (a count is exact when its text is done, else a lower bound).
//
// longestFirst with short <= long: if 2*short <= budget the short text stays whole
// and the long one keeps budget-short; otherwise each keeps budget/2 and the longer
// (second on ties) the odd token.
func decided(a, b *prefix, budget int) bool {
	n1, n2 := len(a.p.IDs), len(b.p.IDs)
	switch {
	case a.done && b.done:
		return true
	case a.done: // b is strictly longer and must be cut: its exact count does not matter
		return n2 > max(n1, budget-n1)
	case b.done:
		return n1 > max(n2, budget-n2)
	default: // both are cut to budget/2; an odd token needs to know which is longer
		return n1 > budget && n2 > budget && budget%2 == 0
	}
}

// EncodePiecesHead is EncodePieces(text) cut to its first n tokens (all of them if
// n <= 0), reading only as much of text as that takes (see truncatedPieces).
func (t *Tokenizer) EncodePiecesHead(text string, n int) (p Pieces, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() { // sugarme panics on some inputs; ours are errors
		if r := recover(); r != nil {
			p, err = Pieces{}, fmt.Errorf("tokenize %s: %v", quoteHead(text), r)
		}
	}()
	if n <= 0 {
		return t.pieces(text)
	}
	pre, err := t.startPrefix(text, n)
	if err != nil {
		return Pieces{}, err
	}
	for !pre.done && len(pre.p.IDs) < n {
		if err := t.grow(pre); err != nil {
			return Pieces{}, err
		}
	}
	return pre.p.head(n), nil
}

// quoteHead quotes a text for an error message, at most its first 80 bytes: a message
// must not carry a 10 MB line.
func quoteHead(s string) string {
	const n = 80
	if len(s) <= n {
		return strconv.Quote(s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
