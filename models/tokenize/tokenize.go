// Package tokenize turns text into model inputs with Hugging Face tokenizer.json files
// (WordPiece, BPE, Unigram) and carries the harness's built-in tokenizer for the tiny model.
//
// Files are read with sugarme/tokenizer, which keeps the vocabulary and adds the
// special tokens (post-processing). For WordPiece (BERT family) and Unigram models the
// whole single-sequence encoding is done here instead, because sugarme's differs from
// Hugging Face `tokenizers` (pipeline.go says where): added tokens, normalizers
// (bert.go, precompiled.go, with offsets aligned as tokenizers aligns them: aligned.go),
// pre-tokenizers and the models. BPE files are still encoded by sugarme,
// with tokenizers' merge order and added-token matching put in (bpe.go). Truncation,
// question-answering windows (EncodeWindows) and special-token layout are done here too.
// A file's own "padding" and "truncation" blocks are ignored (see wrap).
//
// Encodings of DeBERTa-v3-style Unigram tokenizers are tested to be identical to
// `tokenizers` 0.19.1 (ids, type ids, byte offsets), as are those of the built-in
// tokenizer and those of the real all-MiniLM-L6-v2 WordPiece tokenizer, on real GLUE
// and SQuAD text, hand-written edge strings and random strings (every field, windows
// included), and BERT's character handling on every Unicode code point
// (TestBertCharactersMatchHuggingFace).
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
	"github.com/sugarme/tokenizer/pretrained"
)

//go:embed builtin/tokenizer.json
var builtinJSON []byte

// Tokenizer encodes single sentences and sentence pairs.
type Tokenizer struct {
	Source string
	mu     sync.Mutex // truncation is tokenizer state in sugarme/tokenizer
	tk     *tokenizer.Tokenizer
	// pipe, for Unigram and WordPiece models, encodes single sequences in place of
	// sugarme (see pipeline.go for why); sugarme still post-processes and holds the
	// vocabulary. (It never pads or truncates: wrap clears the file's settings.)
	pipe *pipeline
	// bpeAdded, for BPE files without a normalizer, are the added tokens bpePieces cuts
	// out of the text before sugarme sees it (bpe.go says why).
	bpeAdded []addedToken
	padID    int64
	dec      *decoding // ids back to text (decode.go)
}

// Encoding is one encoded input: [CLS] a [SEP] (b [SEP]) for BERT-style tokenizers, as
// Hugging Face tokenizers returns it with padding off. An Encoding is never padded, and
// a tokenizer.json's own "padding" and "truncation" blocks never change it: the caller
// chooses the max length and strategy (Encode, EncodeWindows), and models.PadBatch pads
// a batch, where the padding gets attention mask 0.
type Encoding struct {
	IDs     []int64
	TypeIDs []int64
	// AttentionMask is 1 on every token: an encoding holds no padding.
	AttentionMask []int64
	// SpecialTokensMask is 1 on the tokens the post-processor added ([CLS], [SEP],
	// <s>, </s>) and 0 on the text's own tokens, even a "[SEP]" written in the text,
	// as in tokenizers.
	SpecialTokensMask []int64
	// Offsets are each token's [start, end) BYTE offsets in its own text (a or b, as
	// SequenceIDs says), so that a[o[0]:o[1]] is the token's text; special tokens have
	// [0, 0). tokenizers' Python API (return_offsets_mapping) counts characters (code
	// points) instead; suites/squad converts, as SQuAD's answer_start counts characters.
	Offsets [][2]int
	// SequenceIDs says where each token comes from: 0 for a, 1 for b, -1 for a special
	// token (tokenizers' sequence_ids(), with -1 for None).
	SequenceIDs []int
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
	pipe, err := newPipeline(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if pipe != nil {
		// sugarme would only trip over the parts the pipeline replaces (it panics on some).
		if raw, err = withoutKeys(raw, "normalizer", "pre_tokenizer"); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
	}
	tk, err := loadSugarme(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: not a tokenizer.json sugarme/tokenizer reads: %w", source, err)
	}
	t, err := wrap(tk, source)
	if err != nil {
		return nil, err
	}
	t.pipe = pipe
	if pipe == nil { // BPE: sugarme encodes, with tokenizers' merge order and added tokens (bpe.go)
		newBPEModel(tk)
		if t.bpeAdded, err = bpeAdded(raw); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
	}
	t.dec = newDecoding(raw)
	if err := t.checkIDs(); err != nil {
		return nil, err
	}
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
	// A tokenizer.json may carry its own "truncation" and "padding" blocks (every
	// sentence-transformers model pads to a fixed 128, for one). The harness applies its
	// protocol's max length and strategy in Encode, and pads only when it batches (with an
	// attention mask); the file's settings would cut again or pad with tokens the model
	// then attends to.
	tk.WithTruncation(nil)
	tk.WithPadding(nil)
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
// tokenizers does with truncation="longest_first" (transformers' truncation=True) and
// no padding. (sugarme/tokenizer's own pair truncation leaves pairs uncut.) An empty b
// still makes a pair, "[CLS] a [SEP] [SEP]", as in tokenizers; transformers'
// tokenizer(a, "") would drop it. With maxLen > 0 only a bounded prefix of a long text
// is tokenised, with the same result (bounded.go).
func (t *Tokenizer) Encode(a, b string, pair bool, maxLen int) (enc Encoding, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	defer func() { // sugarme panics on some inputs; ours are errors
		if r := recover(); r != nil {
			enc, err = Encoding{}, fmt.Errorf("tokenize %s / %s: %v", quoteHead(a), quoteHead(b), r)
		}
	}()
	if maxLen > 0 { // only the prefixes the truncation keeps are tokenised (bounded.go)
		first, second, err := t.truncatedPieces(a, b, pair, maxLen)
		if err != nil {
			return Encoding{}, err
		}
		return t.join(first, second)
	}
	first, err := t.pieces(a)
	if err != nil {
		return Encoding{}, err
	}
	var second *Pieces
	if pair {
		p, err := t.pieces(b)
		if err != nil {
			return Encoding{}, err
		}
		second = &p
	}
	return t.join(first, second)
}

// truncate cuts the pair so that it fits maxLen with its special tokens, as tokenizers'
// LongestFirst does: if both must be cut, they get half the budget each and the longer
// one (the second on ties) the odd token; if only the longer must, it gets the rest.
// tokenizers silently skips truncation when maxLen is below the special-token count (an
// unsigned wrap-around); that is an error here.
func (t *Tokenizer) truncate(first Pieces, second *Pieces, maxLen int) (Pieces, *Pieces, error) {
	added := t.addedTokens(second != nil)
	budget := maxLen - added
	if budget < 0 {
		return Pieces{}, nil, fmt.Errorf("tokenize: max length %d leaves no room beside %d special tokens", maxLen, added)
	}
	if second == nil {
		return first.head(budget), nil, nil
	}
	n1, n2 := len(first.IDs), len(second.IDs)
	if n1+n2 > budget {
		n1, n2 = longestFirst(n1, n2, budget)
	}
	b := second.head(n2)
	return first.head(n1), &b, nil
}

// addedTokens is the number of special tokens the post-processor adds.
func (t *Tokenizer) addedTokens(pair bool) int {
	if pp := t.tk.GetPostProcessor(); pp != nil {
		return pp.AddedTokens(pair)
	}
	return 0
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
