// Package tokenize turns text into model inputs with Hugging Face tokenizer.json files
// (WordPiece, BPE, Unigram) through sugarme/tokenizer, and carries the harness's
// built-in tokenizer for the tiny model.
package tokenize

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/normalizer"
	"github.com/sugarme/tokenizer/pretrained"
)

//go:embed builtin/tokenizer.json
var builtinJSON []byte

// Tokenizer encodes single sentences and sentence pairs.
type Tokenizer struct {
	Source string
	mu     sync.Mutex // truncation is tokenizer state in sugarme/tokenizer
	tk     *tokenizer.Tokenizer
	padID  int64
}

// Encoding is one encoded input: [CLS] a [SEP] (b [SEP]) for BERT-style tokenizers.
type Encoding struct {
	IDs     []int64
	TypeIDs []int64
	// Offsets are each token's [start, end) byte offsets in its own text (a or b);
	// special tokens have [0, 0).
	Offsets [][2]int
}

// Load reads a tokenizer.json.
func Load(path string) (*Tokenizer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(raw, path)
}

func parse(raw []byte, source string) (*Tokenizer, error) {
	tk, err := pretrained.FromReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: not a tokenizer.json sugarme/tokenizer reads: %w", source, err)
	}
	if err := fixBertNormalizer(tk, raw); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return wrap(tk, source)
}

// fixBertNormalizer: Hugging Face's BertNormalizer strips accents by decomposing (NFD)
// and then dropping non-spacing marks; sugarme/tokenizer drops the marks without
// decomposing, so "café" keeps its "é" and becomes [UNK]. An NFD step in front restores
// Hugging Face's behaviour (the other BERT steps commute with NFD).
func fixBertNormalizer(tk *tokenizer.Tokenizer, raw []byte) error {
	var cfg struct {
		Normalizer *struct {
			Type               string `json:"type"`
			CleanText          bool   `json:"clean_text"`
			HandleChineseChars bool   `json:"handle_chinese_chars"`
			StripAccents       *bool  `json:"strip_accents"`
			Lowercase          bool   `json:"lowercase"`
		} `json:"normalizer"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return err
	}
	n := cfg.Normalizer
	if n == nil || n.Type != "BertNormalizer" {
		return nil
	}
	// strip_accents null means "as lowercase", in tokenizers as in transformers.
	strip := n.Lowercase
	if n.StripAccents != nil {
		strip = *n.StripAccents
	}
	if strip {
		bert := normalizer.NewBertNormalizer(n.CleanText, n.Lowercase, n.HandleChineseChars, true)
		tk.WithNormalizer(normalizer.NewSequence([]normalizer.Normalizer{normalizer.NewNFD(), bert}))
	}
	return nil
}

// Builtin is the harness's own small uncased WordPiece tokenizer (3000 tokens, trained
// by scripts/fixtures/gen_builtin_tokenizer.py on the GLUE samples), for the tiny model.
func Builtin() *Tokenizer {
	t, err := parse(builtinJSON, "builtin")
	if err != nil {
		panic(fmt.Sprintf("tokenize: the embedded builtin/tokenizer.json does not load: %v", err)) // a build defect, not user input
	}
	return t
}

func wrap(tk *tokenizer.Tokenizer, source string) (*Tokenizer, error) {
	t := &Tokenizer{Source: source, tk: tk}
	for _, pad := range []string{"[PAD]", "<pad>"} {
		if id, ok := tk.TokenToId(pad); ok {
			t.padID = int64(id)
			return t, nil
		}
	}
	return nil, fmt.Errorf("%s: no [PAD] or <pad> token in the vocabulary", source)
}

// VocabSize counts the vocabulary with added tokens.
func (t *Tokenizer) VocabSize() int64 { return int64(t.tk.GetVocabSize(true)) }

// PadID is the id that pads batches.
func (t *Tokenizer) PadID() int64 { return t.padID }

// TokenID looks a token up.
func (t *Tokenizer) TokenID(tok string) (int64, bool) {
	id, ok := t.tk.TokenToId(tok)
	return int64(id), ok
}

// Encode encodes a, or the pair (a, b) when pair is true, with the special tokens,
// truncated longest-first to maxLen tokens in all (0: no truncation), as Hugging Face
// tokenizers does. (sugarme/tokenizer's own pair truncation leaves pairs uncut.)
func (t *Tokenizer) Encode(a, b string, pair bool, maxLen int) (Encoding, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	first, err := t.tk.EncodeSingleSequence(tokenizer.NewInputSequence(a), 0, tokenizer.Byte)
	if err != nil {
		return Encoding{}, fmt.Errorf("tokenize %q: %w", a, err)
	}
	var second *tokenizer.Encoding
	if pair {
		if second, err = t.tk.EncodeSingleSequence(tokenizer.NewInputSequence(b), 1, tokenizer.Byte); err != nil {
			return Encoding{}, fmt.Errorf("tokenize %q: %w", b, err)
		}
	}
	if maxLen > 0 {
		if first, second, err = t.truncate(first, second, maxLen); err != nil {
			return Encoding{}, err
		}
	}
	t.tk.WithTruncation(nil)
	return convert(t.tk.PostProcess(first, second, true)), nil
}

// truncate cuts the longer sequence one token at a time (the second on ties) until the
// pair with its special tokens fits maxLen: tokenizers' LongestFirst.
func (t *Tokenizer) truncate(first, second *tokenizer.Encoding, maxLen int) (*tokenizer.Encoding, *tokenizer.Encoding, error) {
	added := 0
	if pp := t.tk.GetPostProcessor(); pp != nil {
		added = pp.AddedTokens(second != nil)
	}
	n1, n2 := len(first.GetIds()), 0
	if second != nil {
		n2 = len(second.GetIds())
	}
	budget := maxLen - added
	if budget < 0 {
		return nil, nil, fmt.Errorf("tokenize: max length %d leaves no room beside %d special tokens", maxLen, added)
	}
	for n1+n2 > budget {
		if n1 > n2 {
			n1--
		} else {
			n2--
		}
	}
	cut := func(e *tokenizer.Encoding, n int) (*tokenizer.Encoding, error) {
		if e == nil || len(e.GetIds()) == n {
			return e, nil
		}
		return e.Truncate(n, 0)
	}
	var err error
	if first, err = cut(first, n1); err != nil {
		return nil, nil, err
	}
	second, err = cut(second, n2)
	return first, second, err
}

func convert(enc *tokenizer.Encoding) Encoding {
	out := Encoding{}
	for _, id := range enc.GetIds() {
		out.IDs = append(out.IDs, int64(id))
	}
	for _, id := range enc.GetTypeIds() {
		out.TypeIDs = append(out.TypeIDs, int64(id))
	}
	for _, o := range enc.GetOffsets() {
		out.Offsets = append(out.Offsets, [2]int{o[0], o[1]})
	}
	return out
}
