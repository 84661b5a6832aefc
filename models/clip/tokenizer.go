package clip

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer is transformers 4.44.2's CLIPTokenizer (the slow one: Stable Diffusion's
// tokenizer/ folder has vocab.json and merges.txt but no tokenizer.json) as it runs
// without ftfy installed, which is the case in the reference environment. Then
// CLIPTokenizer cleans text with BasicTokenizer(strip_accents=False,
// do_split_on_punc=False) instead of ftfy.fix_text + whitespace_clean + lower:
//
//  1. drop NUL, U+FFFD and control characters (category C except \t \n \r); every
//     whitespace character (\t \n \r, Zs) becomes a space;
//  2. put spaces around CJK ideographs;
//  3. NFC;
//  4. split on whitespace, lower-case each word (Python's str.lower), join with spaces.
//
// Then the CLIP pre-tokenizer regex splits the text into words, each word's UTF-8 bytes
// are mapped to printable characters (GPT-2's bytes_to_unicode), "</w>" is appended to
// the word's last character, and the merges are applied lowest rank first. Tokens not
// in the vocabulary become the unknown token. <|startoftext|> and <|endoftext|> written
// in the text are matched first, as special tokens.
type Tokenizer struct {
	vocab map[string]int64
	ranks map[[2]string]int
	// BOS, EOS, Pad and Unk are the special tokens' ids.
	BOS, EOS, Pad, Unk int64
	// MaxLength is model_max_length (77 for CLIP): what EncodePadded pads and truncates to.
	MaxLength int
	specials  []string
}

const (
	startOfText = "<|startoftext|>"
	endOfText   = "<|endoftext|>"
	// maxMerges is CLIPTokenizer's cut of merges.txt: lines [1, 49152 − 256 − 2 + 1).
	maxMerges = 49152 - 256 - 2
)

// pattern is CLIPTokenizer.pat (compiled with re.IGNORECASE). After the clean-up the
// only whitespace left is the ASCII space, so RE2's ASCII \s equals the regex module's.
var pattern = regexp.MustCompile(`(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`)

// byteEncoder is bytes_to_unicode: printable bytes map to themselves, the others to
// code points from 256 on, in byte order.
var byteEncoder = func() [256]string {
	var out [256]string
	keep := func(b int) bool { return b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF }
	n := 0
	for b := range 256 {
		if keep(b) {
			out[b] = string(rune(b))
		} else {
			out[b] = string(rune(256 + n))
			n++
		}
	}
	return out
}()

// tokenizerConfig is what tokenizer_config.json and special_tokens_map.json say.
type tokenizerConfig struct {
	ModelMaxLength *float64        `json:"model_max_length"`
	Bos            json.RawMessage `json:"bos_token"`
	Eos            json.RawMessage `json:"eos_token"`
	Pad            json.RawMessage `json:"pad_token"`
	Unk            json.RawMessage `json:"unk_token"`
}

// tokenContent reads a special token written as a string or as an AddedToken object.
func tokenContent(raw json.RawMessage) (string, bool, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", false, fmt.Errorf("%s: want a string or an object with \"content\"", raw)
	}
	return *obj.Content, true, nil
}

// LoadTokenizer reads a tokenizer/ folder as Stable Diffusion ships it: vocab.json,
// merges.txt, and optionally tokenizer_config.json and special_tokens_map.json (the
// latter overriding the former, as from_pretrained does) for the special tokens and
// model_max_length. Defaults are CLIPTokenizer's: <|startoftext|>, <|endoftext|> as
// EOS, padding and unknown token, and 77.
func LoadTokenizer(dir string) (*Tokenizer, error) {
	t := &Tokenizer{MaxLength: 77}
	vocabPath := filepath.Join(dir, "vocab.json")
	raw, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &t.vocab); err != nil {
		return nil, fmt.Errorf("%s: want a JSON object of token → id: %w", vocabPath, err)
	}
	if t.ranks, err = readMerges(filepath.Join(dir, "merges.txt")); err != nil {
		return nil, err
	}
	names := map[string]string{"bos": startOfText, "eos": endOfText, "pad": endOfText, "unk": endOfText}
	for _, file := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		path := filepath.Join(dir, file)
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		var c tokenizerConfig
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
		}
		if c.ModelMaxLength != nil {
			// Hub configs without a limit hold 1e30 (VERY_LARGE_INTEGER): then there is none.
			if m := *c.ModelMaxLength; m < 2 || m > 1<<20 {
				return nil, fmt.Errorf("%s: model_max_length %g, want 2 to %d (<|startoftext|>, <|endoftext|> and text)", path, m, 1<<20)
			}
			t.MaxLength = int(*c.ModelMaxLength)
		}
		for key, rawTok := range map[string]json.RawMessage{"bos": c.Bos, "eos": c.Eos, "pad": c.Pad, "unk": c.Unk} {
			s, ok, err := tokenContent(rawTok)
			if err != nil {
				return nil, fmt.Errorf("%s: %s_token %w", path, key, err)
			}
			if ok {
				names[key] = s
			}
		}
	}
	for _, sp := range []struct {
		key string
		dst *int64
	}{{"bos", &t.BOS}, {"eos", &t.EOS}, {"pad", &t.Pad}, {"unk", &t.Unk}} {
		id, ok := t.vocab[names[sp.key]]
		if !ok {
			return nil, fmt.Errorf("%s: %s_token %q is not in the vocabulary", vocabPath, sp.key, names[sp.key])
		}
		*sp.dst = id
	}
	for _, s := range []string{names["bos"], names["eos"], names["pad"], names["unk"]} {
		if s != "" && !containsString(t.specials, s) {
			t.specials = append(t.specials, s)
		}
	}
	return t, nil
}

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// readMerges reads merges.txt as CLIPTokenizer: the whole file stripped, split into
// lines, the first (#version) skipped and at most maxMerges kept; line i+1 is the merge
// of rank i. A line that is not two symbols is an error (CLIPTokenizer would keep it as
// a merge that can never apply).
func readMerges(path string) (map[[2]string]int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) < 1 || !strings.HasPrefix(lines[0], "#version") {
		return nil, fmt.Errorf("%s: line 1: want the \"#version: 0.2\" header", path)
	}
	lines = lines[1:min(len(lines), maxMerges+1)]
	ranks := make(map[[2]string]int, len(lines))
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s: line %d: %q, want two symbols separated by a space", path, i+2, l)
		}
		ranks[[2]string{f[0], f[1]}] = i // a repeated merge keeps its last rank, as dict(zip(...))
	}
	return ranks, nil
}

// Tokenize is CLIPTokenizer.tokenize: the BPE tokens, without <|startoftext|> and
// <|endoftext|> around them.
func (t *Tokenizer) Tokenize(text string) []string {
	var out []string
	for _, chunk := range t.splitSpecial(text) {
		if chunk.special {
			out = append(out, chunk.text)
			continue
		}
		for _, w := range pattern.FindAllString(basicClean(chunk.text), -1) {
			var b strings.Builder
			for _, c := range []byte(w) {
				b.WriteString(byteEncoder[c])
			}
			out = append(out, t.bpe(b.String())...)
		}
	}
	return out
}

// IDs maps tokens to ids, unknown ones to Unk.
func (t *Tokenizer) IDs(tokens []string) []int64 {
	ids := make([]int64, len(tokens))
	for i, tok := range tokens {
		id, ok := t.vocab[tok]
		if !ok {
			id = t.Unk
		}
		ids[i] = id
	}
	return ids
}

// Encode is tokenizer(text)["input_ids"]: <|startoftext|> ids <|endoftext|>, without
// truncation or padding.
func (t *Tokenizer) Encode(text string) []int64 {
	return append(append([]int64{t.BOS}, t.IDs(t.Tokenize(text))...), t.EOS)
}

// EncodePadded is Stable Diffusion's call, tokenizer(text, padding="max_length",
// max_length=MaxLength, truncation=True): the text's tokens cut to MaxLength − 2,
// framed by <|startoftext|> and <|endoftext|>, padded with Pad to MaxLength; mask is 1
// on the framed tokens, 0 on padding.
func (t *Tokenizer) EncodePadded(text string) (ids, mask []int64) {
	body := t.IDs(t.Tokenize(text))
	body = body[:min(len(body), t.MaxLength-2)]
	ids = make([]int64, 0, t.MaxLength)
	ids = append(append(append(ids, t.BOS), body...), t.EOS)
	mask = make([]int64, t.MaxLength)
	for i := range ids {
		mask[i] = 1
	}
	for len(ids) < t.MaxLength {
		ids = append(ids, t.Pad)
	}
	return ids, mask
}

type chunk struct {
	text    string
	special bool
}

// splitSpecial cuts the special tokens written in text out of it (leftmost, longest
// first), as PreTrainedTokenizer.tokenize's trie does; they are neither cleaned nor
// stripped of the spaces around them (lstrip = rstrip = False).
func (t *Tokenizer) splitSpecial(text string) []chunk {
	var out []chunk
	for len(text) > 0 {
		at, which := -1, ""
		for _, s := range t.specials {
			if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at || i == at && len(s) > len(which)) {
				at, which = i, s
			}
		}
		if at < 0 {
			out = append(out, chunk{text: text})
			break
		}
		if at > 0 {
			out = append(out, chunk{text: text[:at]})
		}
		out = append(out, chunk{text: which, special: true})
		text = text[at+len(which):]
	}
	return out
}

// bpe is CLIPTokenizer.bpe on one byte-encoded word: the lowest-ranked adjacent pair is
// merged everywhere (left to right, without overlap) until no pair has a rank.
func (t *Tokenizer) bpe(token string) []string {
	if token == startOfText || token == endOfText { // CLIPTokenizer's cache holds them as they are
		return []string{token}
	}
	var word []string
	for _, r := range token {
		word = append(word, string(r))
	}
	word[len(word)-1] += "</w>"
	for len(word) > 1 {
		best, bestRank := [2]string{}, -1
		for i := 0; i+1 < len(word); i++ {
			if r, ok := t.ranks[[2]string{word[i], word[i+1]}]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = [2]string{word[i], word[i+1]}, r
			}
		}
		if bestRank < 0 {
			break
		}
		next := make([]string, 0, len(word))
		for i := 0; i < len(word); i++ {
			if i+1 < len(word) && word[i] == best[0] && word[i+1] == best[1] {
				next = append(next, best[0]+best[1])
				i++
			} else {
				next = append(next, word[i])
			}
		}
		word = next
	}
	return word
}

// basicClean is the BasicTokenizer fallback CLIPTokenizer uses without ftfy (see
// Tokenizer), returning the words joined by single spaces.
func basicClean(text string) string {
	var b strings.Builder
	for _, r := range text {
		switch {
		case r == 0 || r == 0xFFFD || isControl(r):
		case r == ' ' || r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.Zs, r):
			b.WriteByte(' ')
		case isCJK(r):
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	words := strings.Fields(norm.NFC.String(b.String()))
	for i, w := range words {
		words[i] = pyLower(w)
	}
	return strings.Join(strings.Fields(strings.Join(words, " ")), " ")
}

// isControl is transformers' _is_control: category C (Cc, Cf, Cs, Co; Cn, unassigned,
// too), except \t \n \r, which are whitespace.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Cs, unicode.Co) || !unicode.In(r, assigned...)
}

// assigned are the categories other than Cn.
var assigned = []*unicode.RangeTable{unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z,
	unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs}

// isCJK is BasicTokenizer._is_chinese_char.
func isCJK(r rune) bool {
	return r >= 0x4E00 && r <= 0x9FFF || r >= 0x3400 && r <= 0x4DBF || r >= 0x20000 && r <= 0x2A6DF ||
		r >= 0x2A700 && r <= 0x2B73F || r >= 0x2B740 && r <= 0x2B81F || r >= 0x2B820 && r <= 0x2CEAF ||
		r >= 0xF900 && r <= 0xFAFF || r >= 0x2F800 && r <= 0x2FA1F
}

// pyLower is Python's str.lower where it differs from Go's per-rune ToLower: İ (U+0130)
// lowers to "i̇" (i + combining dot, SpecialCasing), and Σ to final ς when it ends a
// word (Final_Sigma: a cased letter before, none after, case-ignorable marks skipped).
func pyLower(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		switch r {
		case 0x130:
			b.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(rs, i) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

func cased(r rune) bool { return unicode.IsUpper(r) || unicode.IsLower(r) || unicode.IsTitle(r) }

func caseIgnorable(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk) || r == '\'' || r == '.' || r == ':' || r == 0xB7 || r == 0x2019
}

func finalSigma(rs []rune, i int) bool {
	before := false
	for j := i - 1; j >= 0; j-- {
		if caseIgnorable(rs[j]) {
			continue
		}
		before = cased(rs[j])
		break
	}
	if !before {
		return false
	}
	for j := i + 1; j < len(rs); j++ {
		if caseIgnorable(rs[j]) {
			continue
		}
		return !cased(rs[j])
	}
	return true
}

// CharTokenizer is a CLIP tokenizer without merges, for a built-in tiny model: the
// vocabulary is CLIP's first 512 entries (the 256 byte characters, then each with
// "</w>") and the two special tokens after them (<|endoftext|> the largest id, as the
// legacy argmax pooling of the text model needs), so every character of a word is one
// token. Clean-up, the pre-tokenizer and padding are CLIPTokenizer's.
func CharTokenizer(maxLength int) *Tokenizer {
	t := &Tokenizer{vocab: map[string]int64{}, ranks: map[[2]string]int{}, MaxLength: maxLength}
	// bytes_to_unicode's order: the printable bytes, then the others (mapped from 256 on).
	var chars []string
	for b := range 256 {
		if []rune(byteEncoder[b])[0] < 256 {
			chars = append(chars, byteEncoder[b])
		}
	}
	for b := range 256 {
		if []rune(byteEncoder[b])[0] >= 256 {
			chars = append(chars, byteEncoder[b])
		}
	}
	for _, suffix := range []string{"", "</w>"} {
		for _, c := range chars {
			t.vocab[c+suffix] = int64(len(t.vocab))
		}
	}
	t.BOS, t.EOS = int64(len(t.vocab)), int64(len(t.vocab)+1)
	t.vocab[startOfText], t.vocab[endOfText] = t.BOS, t.EOS
	t.Pad, t.Unk = t.EOS, t.EOS
	t.specials = []string{startOfText, endOfText}
	return t
}

// VocabSize is the number of entries of the vocabulary.
func (t *Tokenizer) VocabSize() int64 { return int64(len(t.vocab)) }
