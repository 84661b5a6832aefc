package tokenize

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Decode turns token ids back into text, as Hugging Face tokenizers 0.19.1's
// Tokenizer.decode(ids, skip_special_tokens) does: each id becomes its token (added tokens
// first, then the model's vocabulary), special added tokens are dropped when skipSpecial
// is set, and the file's "decoder" joins the tokens (none: joined with spaces).
//
// Decoders: WordPiece, ByteLevel, Metaspace, Replace (string patterns), Strip, Fuse,
// ByteFallback, BPEDecoder and Sequence of these; any other is an error here (not at
// Load, which only encodes). tokenizers silently skips an id outside the vocabulary;
// here it is an error, since a generated id the tokenizer cannot name means the model
// and the tokenizer do not belong together.
//
// Not sugarme/tokenizer's Decode: on the reference cases (testdata/decode) it equals
// tokenizers for the MiniLM WordPiece tokenizer, but not for byte-level BPE (278 of 702
// differ: it returns invalid UTF-8 instead of U+FFFD) nor Metaspace (111 of 226 and
// 321 of 660: with special tokens skipped it keeps the first token's leading space), and
// it skips unknown ids silently.
func (t *Tokenizer) Decode(ids []int64, skipSpecial bool) (string, error) {
	d := t.dec
	if d == nil || d.err != nil {
		err := fmt.Errorf("no vocabulary read")
		if d != nil {
			err = d.err
		}
		return "", fmt.Errorf("%s: decode: %w", t.Source, err)
	}
	tokens := make([]string, 0, len(ids))
	for i, id := range ids {
		tok, ok := d.token(id)
		if !ok {
			n := t.VocabSize()
			return "", fmt.Errorf("%s: decode: id %d (position %d) is not in the %d-token vocabulary (ids 0 to %d)",
				t.Source, id, i, n, n-1)
		}
		if skipSpecial && d.special[tok] {
			continue // by content, as tokenizers' is_special_token
		}
		tokens = append(tokens, tok)
	}
	if d.chain == nil {
		if d.chainErr != nil {
			return "", fmt.Errorf("%s: decode: %w", t.Source, d.chainErr)
		}
		return strings.Join(tokens, " "), nil
	}
	return strings.Join(d.chain(tokens), ""), nil
}

// decoding is what Decode needs from a tokenizer.json: id -> token and the decoder.
type decoding struct {
	err      error            // the vocabulary could not be read
	added    map[int64]string // added_tokens, looked up first
	vocab    map[int64]string // model.vocab
	special  map[string]bool  // contents of the special added tokens
	chain    func([]string) []string
	chainErr error // the decoder is not supported (nil chain and nil error: no decoder)
}

func (d *decoding) token(id int64) (string, bool) {
	if tok, ok := d.added[id]; ok {
		return tok, true
	}
	tok, ok := d.vocab[id]
	return tok, ok
}

// newDecoding reads the vocabulary and the decoder of a tokenizer.json. It never fails
// Load: a file whose decoder is unknown still encodes; Decode reports the problem.
func newDecoding(raw []byte) *decoding {
	var file struct {
		AddedTokens []struct {
			ID      int64  `json:"id"`
			Content string `json:"content"`
			Special bool   `json:"special"`
		} `json:"added_tokens"`
		Model struct {
			Vocab json.RawMessage `json:"vocab"`
		} `json:"model"`
		Decoder json.RawMessage `json:"decoder"`
	}
	d := &decoding{added: map[int64]string{}, vocab: map[int64]string{}, special: map[string]bool{}}
	if err := json.Unmarshal(raw, &file); err != nil {
		d.err = err
		return d
	}
	for _, a := range file.AddedTokens {
		d.added[a.ID] = a.Content
		if a.Special {
			d.special[a.Content] = true
		}
	}
	if d.err = readVocab(file.Model.Vocab, d.vocab); d.err != nil {
		return d
	}
	d.chain, d.chainErr = parseDecoder(file.Decoder, "decoder")
	return d
}

// readVocab reads model.vocab: {"token": id} (WordPiece, BPE, WordLevel) or
// [["piece", score], ...] numbered by position (Unigram).
func readVocab(raw json.RawMessage, into map[int64]string) error {
	var byToken map[string]int64
	if err := json.Unmarshal(raw, &byToken); err == nil {
		for tok, id := range byToken {
			into[id] = tok
		}
		return nil
	}
	var pieces []json.RawMessage
	if err := json.Unmarshal(raw, &pieces); err != nil {
		return fmt.Errorf("model.vocab is neither {\"token\": id} nor [[piece, score], ...]")
	}
	for i, p := range pieces {
		var pair []json.RawMessage
		var tok string
		if json.Unmarshal(p, &pair) != nil || len(pair) != 2 || json.Unmarshal(pair[0], &tok) != nil {
			return fmt.Errorf("model.vocab[%d]: want [piece, score], got %.40s", i, p)
		}
		into[int64(i)] = tok
	}
	return nil
}

// decoderSpec holds the fields of every supported decoder type.
type decoderSpec struct {
	Type          string            `json:"type"`
	Decoders      []json.RawMessage `json:"decoders"`       // Sequence
	Prefix        *string           `json:"prefix"`         // WordPiece
	Cleanup       *bool             `json:"cleanup"`        // WordPiece
	Replacement   *string           `json:"replacement"`    // Metaspace
	PrependScheme *string           `json:"prepend_scheme"` // Metaspace
	AddPrefix     *bool             `json:"add_prefix_space"`
	Pattern       *struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	} `json:"pattern"` // Replace
	Content *string `json:"content"` // Replace, Strip
	Start   int     `json:"start"`   // Strip
	Stop    int     `json:"stop"`    // Strip
	Suffix  *string `json:"suffix"`  // BPEDecoder
}

// parseDecoder builds the decoder's decode_chain; null means no decoder.
func parseDecoder(raw json.RawMessage, where string) (func([]string) []string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s decoderSpec
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s: %v", where, err)
	}
	str := func(p *string, def string) string {
		if p == nil {
			return def
		}
		return *p
	}
	oneChar := func(key, v string) (rune, error) {
		if utf8.RuneCountInString(v) != 1 {
			return 0, fmt.Errorf("%s.%s: want one character, got %q", where, key, v)
		}
		r, _ := utf8.DecodeRuneInString(v)
		return r, nil
	}
	switch s.Type {
	case "WordPiece":
		prefix, cleanup := str(s.Prefix, "##"), s.Cleanup == nil || *s.Cleanup
		return func(toks []string) []string { return wordPieceDecode(toks, prefix, cleanup) }, nil
	case "ByteLevel":
		return byteLevelDecode, nil
	case "Metaspace":
		r, err := oneChar("replacement", str(s.Replacement, "▁"))
		if err != nil {
			return nil, err
		}
		// tokenizers drops every replacement character of the first token unless the
		// scheme is "never"; files from before prepend_scheme say add_prefix_space.
		stripFirst := s.AddPrefix == nil || *s.AddPrefix
		if s.PrependScheme != nil {
			switch *s.PrependScheme {
			case "always", "first":
				stripFirst = true
			case "never":
				stripFirst = false
			default:
				return nil, fmt.Errorf("%s.prepend_scheme: want always, first or never, got %q", where, *s.PrependScheme)
			}
		}
		return func(toks []string) []string { return metaspaceDecode(toks, r, stripFirst) }, nil
	case "Replace":
		if s.Pattern == nil || s.Pattern.String == nil {
			return nil, fmt.Errorf("%s: Replace decoders with a Regex pattern are not supported (only {\"String\": ...})", where)
		}
		pat, content := *s.Pattern.String, str(s.Content, "")
		return func(toks []string) []string {
			return mapTokens(toks, func(_ int, tok string) string {
				if pat == "" {
					return tok
				}
				return strings.ReplaceAll(tok, pat, content)
			})
		}, nil
	case "Strip":
		r, err := oneChar("content", str(s.Content, ""))
		if err != nil {
			return nil, err
		}
		if s.Start < 0 || s.Stop < 0 {
			return nil, fmt.Errorf("%s: Strip start %d and stop %d must not be negative", where, s.Start, s.Stop)
		}
		start, stop := s.Start, s.Stop
		return func(toks []string) []string {
			return mapTokens(toks, func(_ int, tok string) string { return stripDecode(tok, r, start, stop) })
		}, nil
	case "Fuse":
		return func(toks []string) []string { return []string{strings.Join(toks, "")} }, nil
	case "ByteFallback":
		return byteFallbackDecode, nil
	case "BPEDecoder":
		suffix := str(s.Suffix, "</w>")
		return func(toks []string) []string {
			return mapTokens(toks, func(i int, tok string) string {
				if i == len(toks)-1 {
					return strings.ReplaceAll(tok, suffix, "")
				}
				return strings.ReplaceAll(tok, suffix, " ")
			})
		}, nil
	case "Sequence":
		var chain []func([]string) []string
		for i, sub := range s.Decoders {
			f, err := parseDecoder(sub, fmt.Sprintf("%s.decoders[%d]", where, i))
			if err != nil {
				return nil, err
			}
			if f != nil {
				chain = append(chain, f)
			}
		}
		return func(toks []string) []string {
			for _, f := range chain {
				toks = f(toks)
			}
			return toks
		}, nil
	}
	return nil, fmt.Errorf("%s: decoder type %q is not supported (WordPiece, ByteLevel, Metaspace, Replace, Strip, Fuse, ByteFallback, BPEDecoder, Sequence are)", where, s.Type)
}

func mapTokens(toks []string, f func(int, string) string) []string {
	out := make([]string, len(toks))
	for i, tok := range toks {
		out[i] = f(i, tok)
	}
	return out
}

// wordPieceDecode glues "##" continuations to the previous token and puts a space
// before every other token but the first (even a first "##x" keeps its prefix). The
// cleanup runs on each token on its own, as in tokenizers, so " ' s" stays apart.
func wordPieceDecode(toks []string, prefix string, cleanup bool) []string {
	return mapTokens(toks, func(i int, tok string) string {
		if i != 0 {
			if strings.HasPrefix(tok, prefix) {
				tok = tok[len(prefix):]
			} else {
				tok = " " + tok
			}
		}
		if cleanup {
			tok = wordPieceCleanup.Replace(tok)
		}
		return tok
	})
}

// wordPieceCleanup is tokenizers' decoders::wordpiece::cleanup, replacements applied
// one after another in this order.
var wordPieceCleanup = sequentialReplacer{
	" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't", " 'm", "'m",
	" do not", " don't", " 's", "'s", " 've", "'ve", " 're", "'re",
}

// sequentialReplacer replaces pairs one after another, as chained str::replace calls.
type sequentialReplacer []string

func (r sequentialReplacer) Replace(s string) string {
	for i := 0; i+1 < len(r); i += 2 {
		s = strings.ReplaceAll(s, r[i], r[i+1])
	}
	return s
}

// metaspaceDecode turns the replacement character back into a space; in the first
// token it is dropped (every occurrence, as tokenizers does) when stripFirst.
func metaspaceDecode(toks []string, repl rune, stripFirst bool) []string {
	return mapTokens(toks, func(i int, tok string) string {
		var b strings.Builder
		for _, c := range tok {
			switch {
			case c != repl:
				b.WriteRune(c)
			case i == 0 && stripFirst:
			default:
				b.WriteByte(' ')
			}
		}
		return b.String()
	})
}

// stripDecode removes up to start leading and stop trailing copies of c. (tokenizers
// 0.19.1 panics when stop reaches into the part start removed, e.g. " " with start 1,
// stop 2; here the two cuts never cross, as in later tokenizers.)
func stripDecode(tok string, c rune, start, stop int) string {
	chars := []rune(tok)
	lo := 0
	for lo < len(chars) && lo < start && chars[lo] == c {
		lo++
	}
	hi := len(chars)
	for n := 0; n < stop && hi > lo && chars[hi-1] == c; n++ {
		hi--
	}
	return string(chars[lo:hi])
}

// byteFallbackDecode turns runs of <0xNN> tokens into the bytes they stand for: valid
// UTF-8 becomes its text, anything else one U+FFFD per byte (tokenizers' ByteFallback).
func byteFallbackDecode(toks []string) []string {
	var out []string
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			out = append(out, strings.Repeat("\uFFFD", len(pending)))
		}
		pending = pending[:0]
	}
	for _, tok := range toks {
		if b, ok := fallbackByte(tok); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, tok)
	}
	flush()
	return out
}

// fallbackByte parses "<0xNN>" as tokenizers does: 6 bytes, and NN read by Rust's
// u8::from_str_radix(NN, 16), which also takes "+N".
func fallbackByte(tok string) (byte, bool) {
	if len(tok) != 6 || !strings.HasPrefix(tok, "<0x") || tok[5] != '>' {
		return 0, false
	}
	digits := tok[3:5]
	if digits[0] == '+' {
		digits = digits[1:]
	}
	var v byte
	for i := 0; i < len(digits); i++ {
		d, ok := hexDigit(digits[i])
		if !ok {
			return 0, false
		}
		v = v*16 + d
	}
	return v, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// byteLevelDecode maps GPT-2's printable stand-ins back to bytes and reads the bytes as
// UTF-8, as tokenizers' ByteLevel decoder: a token with any character outside the
// 256-character alphabet is taken as its own UTF-8 bytes, and invalid UTF-8 is replaced
// as Rust's String::from_utf8_lossy does.
func byteLevelDecode(toks []string) []string {
	var buf []byte
	for _, tok := range toks {
		start := len(buf)
		for _, c := range tok {
			b, ok := byteOfChar[c]
			if !ok {
				buf = append(buf[:start], tok...)
				break
			}
			buf = append(buf, b)
		}
	}
	return []string{lossyUTF8(buf)}
}

// byteOfChar inverts GPT-2's bytes_to_unicode: the printable bytes ('!'..'~',
// '¡'..'¬', '®'..'ÿ') stand for themselves, the other 68 for U+0100 onwards in byte order.
var byteOfChar = func() map[rune]byte {
	m := make(map[rune]byte, 256)
	next := rune(256)
	for b := 0; b < 256; b++ {
		if '!' <= b && b <= '~' || 0xA1 <= b && b <= 0xAC || 0xAE <= b && b <= 0xFF {
			m[rune(b)] = byte(b)
		} else {
			m[next] = byte(b)
			next++
		}
	}
	return m
}()

// lossyUTF8 is Rust's String::from_utf8_lossy: each maximal prefix of a valid sequence
// that does not complete (or a lone bad byte) becomes one U+FFFD. Go's own conversions
// differ: strings.ToValidUTF8 merges adjacent errors, utf8.DecodeRune takes one byte.
func lossyUTF8(b []byte) string {
	var out strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r != utf8.RuneError || size > 1 {
			out.Write(b[:size])
			b = b[size:]
			continue
		}
		out.WriteRune(utf8.RuneError)
		b = b[invalidLen(b):]
	}
	return out.String()
}

// invalidLen is the length of the invalid sequence at the start of b (Rust's
// Utf8Error::error_len, or the rest of b for a sequence cut by the end).
func invalidLen(b []byte) int {
	first := b[0]
	lo, hi := byte(0x80), byte(0xBF) // allowed range of the second byte
	var need int                     // continuation bytes after first
	switch {
	case 0xC2 <= first && first <= 0xDF:
		need = 1
	case first == 0xE0:
		need, lo = 2, 0xA0
	case first == 0xED:
		need, hi = 2, 0x9F
	case 0xE1 <= first && first <= 0xEF:
		need = 2
	case first == 0xF0:
		need, lo = 3, 0x90
	case first == 0xF4:
		need, hi = 3, 0x8F
	case 0xF1 <= first && first <= 0xF3:
		need = 3
	default:
		return 1
	}
	n := 1
	for i := 1; i <= need && i < len(b); i++ {
		if i == 1 && (b[i] < lo || b[i] > hi) || i > 1 && (b[i] < 0x80 || b[i] > 0xBF) {
			break
		}
		n++
	}
	return n
}
