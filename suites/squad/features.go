package squad

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vectorfit/harness/models/tokenize"
)

// Defaults of transformers' run_qa (and the paper's protocol, SPEC §4).
const (
	DefaultMaxLen       = 384
	DefaultDocStride    = 128
	DefaultMaxQueryLen  = 64
	DefaultNBest        = 20
	DefaultMaxAnswerLen = 30
)

// Feature is one window of an example: [CLS] question [SEP] context[a:b] [SEP].
// A context longer than the model's input is cut into windows that overlap by the
// document stride, as Hugging Face tokenizers do with return_overflowing_tokens.
type Feature struct {
	Example   int    // index of the example in the slice given to BuildFeatures
	ExampleID string // its question id
	InputIDs  []int64
	TypeIDs   []int64
	// Offsets map each token back to the context: [start, end) in characters
	// (code points, as answer_start counts) of Example.Context. Question and
	// special tokens have {-1, -1} (None in run_qa's validation features).
	Offsets [][2]int
	// CLS is the position of the [CLS] token: the answer "no answer here".
	CLS int
	// StartPos and EndPos are the training targets: the context tokens holding the
	// first gold answer's first and last characters, or CLS when the question has
	// no answer or the answer is not wholly inside this window.
	StartPos, EndPos int
}

// BuildFeatures lays out the windows of each example as transformers' run_qa
// (prepare_train_features and prepare_validation_features) does through the tokenizer
// with truncation="only_second" and return_overflowing_tokens (tokenize.JoinWindows,
// equal to tokenizers 0.19): the question, left-stripped and cut to maxQueryLen tokens
// (0: no limit; run_qa has no such limit, the older run_squad does), then as much
// context as fits in maxLen with the special tokens; each next window starts docStride
// tokens before the previous one ended (docStride is the overlap, as the tokenizer's
// stride). Offsets of question and special tokens become {-1, -1}, as run_qa sets
// them to None in its validation features.
//
// One difference from run_qa: when the answer starts in the last context token of
// a window, run_qa's search runs past the context (its own comment: "we could go
// after the last offset if the answer is the last word") and targets the last
// position; here the search stays inside the context and targets that token.
func BuildFeatures(examples []Example, tok *tokenize.Tokenizer, maxLen, docStride, maxQueryLen int) ([]Feature, error) {
	if maxLen <= 0 || docStride < 0 || maxQueryLen < 0 {
		return nil, fmt.Errorf("squad: max length %d, doc stride %d, max query length %d: want max length > 0 and the others >= 0", maxLen, docStride, maxQueryLen)
	}
	b := featureBuilder{tok: tok, maxLen: maxLen, stride: docStride, maxQuery: maxQueryLen, contexts: map[string]contextPieces{}}
	b.cls = clsID(tok)
	var out []Feature
	for i, ex := range examples {
		fs, err := b.build(i, ex)
		if err != nil {
			return nil, fmt.Errorf("squad: question %q: %w", ex.ID, err)
		}
		out = append(out, fs...)
	}
	return out, nil
}

// clsID is the id run_qa looks for: cls_token_id, else bos_token_id; -1 for none
// (position 0 is used then).
func clsID(tok *tokenize.Tokenizer) int64 {
	for _, t := range []string{"[CLS]", "<s>", "[BOS]"} {
		if id, ok := tok.TokenID(t); ok {
			return id
		}
	}
	return -1
}

type featureBuilder struct {
	tok                      *tokenize.Tokenizer
	maxLen, stride, maxQuery int
	cls                      int64
	contexts                 map[string]contextPieces // SQuAD asks several questions per context
}

// contextPieces is a tokenised context and, for its byte offsets, the character
// offsets: runesBefore[i] is the number of code points that start before byte i.
type contextPieces struct {
	pieces      tokenize.Pieces
	runesBefore []int
}

func (b *featureBuilder) context(text string) (contextPieces, error) {
	if c, ok := b.contexts[text]; ok {
		return c, nil
	}
	p, err := b.tok.EncodePieces(text)
	if err != nil {
		return contextPieces{}, err
	}
	c := contextPieces{pieces: p, runesBefore: runesBefore(text)}
	b.contexts[text] = c
	return c, nil
}

// runesBefore maps each byte position of text (and its end) to the number of code
// points that start before it: byte offsets to Python str indices.
func runesBefore(text string) []int {
	out := make([]int, len(text)+1)
	n := 0
	for i := 0; i < len(text); {
		_, size := utf8.DecodeRuneInString(text[i:])
		for k := 0; k < size; k++ {
			out[i+k] = n
		}
		n++
		i += size
	}
	out[len(text)] = n
	return out
}

// charOffsets turns byte offsets into code-point offsets (Python str indices).
func charOffsets(text string, bytes [][2]int) [][2]int {
	at := runesBefore(text)
	out := make([][2]int, len(bytes))
	for i, o := range bytes {
		out[i] = [2]int{at[o[0]], at[o[1]]}
	}
	return out
}

func (b *featureBuilder) build(index int, ex Example) ([]Feature, error) {
	// run_qa: q.lstrip(), cut to max query length; only the prefix kept is tokenised,
	// so a huge question costs no more than a short one (contexts are windowed and
	// must be tokenised whole).
	q, err := b.tok.EncodePiecesHead(strings.TrimLeftFunc(ex.Question, isPySpace), b.maxQuery)
	if err != nil {
		return nil, err
	}
	ctx, err := b.context(ex.Context)
	if err != nil {
		return nil, err
	}
	windows, err := b.tok.JoinWindows(q, ctx.pieces, b.maxLen, b.stride)
	if err != nil {
		return nil, err
	}
	out := make([]Feature, 0, len(windows))
	for _, enc := range windows {
		f := Feature{Example: index, ExampleID: ex.ID, InputIDs: enc.IDs, TypeIDs: enc.TypeIDs, Offsets: make([][2]int, len(enc.IDs))}
		for i, o := range enc.Offsets {
			f.Offsets[i] = [2]int{-1, -1} // run_qa: None outside the context
			if enc.SequenceIDs[i] == 1 {
				f.Offsets[i] = [2]int{ctx.runesBefore[o[0]], ctx.runesBefore[o[1]]}
			}
		}
		if i := slices.Index(enc.IDs, b.cls); i >= 0 {
			f.CLS = i // else 0, as run_qa
		}
		f.StartPos, f.EndPos = targets(ex, f)
		out = append(out, f)
	}
	return out, nil
}

// targets finds the first gold answer's tokens in the window, or CLS.
func targets(ex Example, f Feature) (start, end int) {
	if len(ex.Answers) == 0 {
		return f.CLS, f.CLS
	}
	a := ex.Answers[0]
	startChar := a.Start
	endChar := a.Start + utf8.RuneCountInString(a.Text)
	first, last := -1, -1
	for i, o := range f.Offsets {
		if o[0] >= 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || f.Offsets[first][0] > startChar || f.Offsets[last][1] < endChar {
		return f.CLS, f.CLS
	}
	start, end = first, last
	for i := first; i <= last; i++ {
		if f.Offsets[i][0] <= startChar {
			start = i
		}
	}
	for i := last; i >= first; i-- {
		if f.Offsets[i][1] >= endChar {
			end = i
		}
	}
	return start, end
}
