// Package tokenize turns text into model inputs with Hugging Face tokenizer.json files
// (WordPiece, BPE, Unigram) and carries the harness's built-in tokenizer for the tiny model.
//
// Files are read with sugarme/tokenizer, with workarounds where it encodes differently
// from Hugging Face `tokenizers` (see fixBertNormalizer, truncate, and unigram.go: for
// Unigram models the whole single-sequence encoding is done here). Encodings of
// DeBERTa-v3-style Unigram tokenizers are tested to be identical to `tokenizers` 0.19.1
// (ids, type ids, byte offsets), as are those of the built-in tokenizer (offsets on
// ASCII text).
//
// # DeBERTa-v3
//
// microsoft/deberta-v3-base ships only a SentencePiece spm.model. transformers converts it into a tokenizer.json (DebertaV2Converter); with
// transformers 4.44.2, sentencepiece 0.2.0 and protobuf 4.25.3 installed:
//
//	python3 -c 'from transformers import AutoTokenizer; AutoTokenizer.from_pretrained("microsoft/deberta-v3-base").save_pretrained("DIR")'
//
// writes DIR/tokenizer.json, beside spm.model, tokenizer_config.json,
// special_tokens_map.json and added_tokens.json (the model id may also be a local copy of
// the hub repo). Load("DIR/tokenizer.json") then encodes as the fast tokenizer
// transformers uses. scripts/fixtures/gen_unigram_tokenizer.py runs this very conversion
// on a small SentencePiece model laid out like the hub repo, and the tests check the
// result (testdata/unigram/spm).
package tokenize

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/sugarme/tokenizer"
	"github.com/sugarme/tokenizer/model/wordpiece"
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
	// unigram, for Unigram models, encodes single sequences in place of sugarme (see
	// unigram.go for why); sugarme still post-processes, pads and holds the vocabulary.
	unigram *unigramPipeline
	padID   int64
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
	unigram, err := newUnigramPipeline(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if unigram != nil {
		// sugarme would only trip over the parts the pipeline replaces (it panics on some).
		if raw, err = withoutKeys(raw, "normalizer", "pre_tokenizer"); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
	}
	tk, err := loadSugarme(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: not a tokenizer.json sugarme/tokenizer reads: %w", source, err)
	}
	if err := fixBertNormalizer(tk, raw); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	t, err := wrap(tk, source)
	if err != nil {
		return nil, err
	}
	t.unigram = unigram
	return t, nil
}

// loadSugarme turns sugarme/tokenizer's panics on files it cannot read into errors.
func loadSugarme(raw []byte) (tk *tokenizer.Tokenizer, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return pretrained.FromReader(bytes.NewReader(raw))
}

// withoutKeys sets the given top-level keys of a JSON object to null.
func withoutKeys(raw []byte, keys ...string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	for _, k := range keys {
		obj[k] = json.RawMessage("null")
	}
	return json.Marshal(obj)
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
	switch tk.GetModel().(type) {
	case *wordpiece.WordPiece, wordpiece.WordPiece:
		tk.WithModel(wordPieceBytes{tk.GetModel()}) // byte offsets, as everywhere else
	}
	tk.WithTruncation(nil) // Encode truncates as tokenizers does; the file's setting would cut again
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
// tokenizers does. (sugarme/tokenizer's own pair truncation leaves pairs uncut.) An empty
// b still makes a pair, "[CLS] a [SEP] [SEP]", as in tokenizers; transformers'
// tokenizer(a, "") would drop it.
func (t *Tokenizer) Encode(a, b string, pair bool, maxLen int) (enc Encoding, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() { // sugarme panics on some inputs; ours are errors
		if r := recover(); r != nil {
			enc, err = Encoding{}, fmt.Errorf("tokenize %q / %q: %v", a, b, r)
		}
	}()
	first, err := t.encodeOne(a, 0)
	if err != nil {
		return Encoding{}, fmt.Errorf("tokenize %q: %w", a, err)
	}
	var second *tokenizer.Encoding
	if pair {
		if second, err = t.encodeOne(b, 1); err != nil {
			return Encoding{}, fmt.Errorf("tokenize %q: %w", b, err)
		}
	}
	if maxLen > 0 {
		if first, second, err = t.truncate(first, second, maxLen); err != nil {
			return Encoding{}, err
		}
	}
	return convert(t.tk.PostProcess(first, second, true)), nil
}

// encodeOne encodes one text without special tokens, offsets in bytes.
func (t *Tokenizer) encodeOne(text string, typeID int) (*tokenizer.Encoding, error) {
	if t.unigram != nil {
		return t.unigram.encode(text, typeID)
	}
	return t.tk.EncodeSingleSequence(tokenizer.NewInputSequence(text), typeID, tokenizer.Byte)
}

// truncate cuts the pair so that it fits maxLen with its special tokens, as tokenizers'
// LongestFirst does: if both must be cut, they get half the budget each and the longer
// one (the second on ties) the odd token; if only the longer must, it gets the rest.
// tokenizers silently skips truncation when maxLen is below the special-token count (an
// unsigned wrap-around); that is an error here.
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
	if second == nil {
		n1 = min(n1, budget)
	} else if n1+n2 > budget {
		n1, n2 = longestFirst(n1, n2, budget)
	}
	return head(first, n1), head(second, n2), nil
}

// head keeps the first n tokens. (sugarme's Truncate refuses n = 0, panics on an
// encoding without word indices, and cuts the rest into overflowing windows that its
// post-processor then deep-copies through encoding/gob: 10.8 ms for a SQuAD-sized pair
// cut to 64 tokens, against 0.5 ms with head.)
func head(e *tokenizer.Encoding, n int) *tokenizer.Encoding {
	if e == nil || len(e.Ids) <= n {
		return e
	}
	cut := func(xs []int) []int { return xs[:min(n, len(xs))] }
	var words []int
	if e.Words != nil {
		words = cut(e.Words)
	}
	return tokenizer.NewEncoding(cut(e.Ids), cut(e.TypeIds), e.Tokens[:min(n, len(e.Tokens))], e.Offsets[:min(n, len(e.Offsets))],
		cut(e.SpecialTokenMask), cut(e.AttentionMask), nil, tokenizer.WithWordsEncodingOpt(words))
}

// longestFirst is tokenizers' LongestFirst split of budget between lengths n1 and n2
// whose sum exceeds it.
func longestFirst(n1, n2, budget int) (int, int) {
	short, long := n1, n2
	if n1 > n2 {
		short, long = n2, n1
	}
	long = max(short, budget-short)
	if short+long > budget {
		short = budget / 2
		long = short + budget%2
	}
	if n1 > n2 {
		return long, short
	}
	return short, long
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
