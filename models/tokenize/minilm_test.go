package tokenize

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vectorfit/harness/internal/realmodel"
)

// hfEncoding is one encoding as tokenizers 0.19.1 returns it (offsets in characters).
type hfEncoding struct {
	IDs               []int64  `json:"ids"`
	TypeIDs           []int64  `json:"type_ids"`
	AttentionMask     []int64  `json:"attention_mask"`
	SpecialTokensMask []int64  `json:"special_tokens_mask"`
	Offsets           [][2]int `json:"offsets"`
	SequenceIDs       []int    `json:"sequence_ids"`
}

// hfCase is one line of testdata/minilm/encodings.jsonl.gz
// (scripts/fixtures/gen_minilm_tokenizer.py).
type hfCase struct {
	Kind   string  `json:"kind"` // "encode" or "windows"
	Src    string  `json:"src"`
	A      string  `json:"a"`
	B      *string `json:"b"`
	MaxLen int     `json:"max_len"`
	Stride int     `json:"stride"`
	hfEncoding
	Windows []hfEncoding `json:"windows"`
	Error   string       `json:"error"` // windows tokenizers refuses: too_short, stride, stride_param
}

func loadHFCases(t *testing.T) []hfCase {
	t.Helper()
	var cases []hfCase
	sc := bufio.NewScanner(openGzip(t, "testdata/minilm/encodings.jsonl.gz"))
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		var c hfCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("encodings.jsonl.gz line %d: %v", line, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return cases
}

// charOffsets converts our byte offsets into the character (code point) offsets
// tokenizers' Python API reports, each in its own text as the sequence ids say.
func charOffsets(e Encoding, a, b string) [][2]int {
	out := make([][2]int, len(e.Offsets))
	for i, o := range e.Offsets {
		text := a
		if e.SequenceIDs[i] == 1 {
			text = b
		}
		if o[0] < 0 || o[1] > len(text) || o[0] > o[1] {
			out[i] = [2]int{-100, -100} // outside the text: cannot match
			continue
		}
		out[i] = [2]int{utf8.RuneCountInString(text[:o[0]]), utf8.RuneCountInString(text[:o[1]])}
	}
	return out
}

// sameEncoding reports the first field where got differs from want, or "".
func sameEncoding(got Encoding, want hfEncoding, a, b string) string {
	switch {
	case !slices.Equal(got.IDs, want.IDs):
		return "ids"
	case !slices.Equal(got.TypeIDs, want.TypeIDs):
		return "type ids"
	case !slices.Equal(got.AttentionMask, want.AttentionMask):
		return "attention mask"
	case !slices.Equal(got.SpecialTokensMask, want.SpecialTokensMask):
		return "special tokens mask"
	case !slices.Equal(got.SequenceIDs, want.SequenceIDs):
		return "sequence ids"
	case !slices.Equal(charOffsets(got, a, b), want.Offsets):
		return "offsets"
	}
	return ""
}

// The real all-MiniLM-L6-v2 tokenizer.json encodes real GLUE sentences and pairs and
// SQuAD questions and contexts (many with non-ASCII text) exactly as Hugging Face
// tokenizers 0.19.1 and transformers do: ids, type ids, attention and special-token
// masks, sequence ids and offsets; unpadded although the file asks for padding to 128,
// truncated longest-first at the suites' max lengths, and cut into run_qa's
// question + context windows (only_second with a stride), errors included.
func TestMiniLMMatchesHuggingFace(t *testing.T) {
	tok, err := Load(filepath.Join(realmodel.MiniLM(t), "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var encodes, pairs, cut, nonASCII, windows, multi, refused, edge, fuzz int
	for _, c := range loadHFCases(t) {
		b := ""
		if c.B != nil {
			b = *c.B
		}
		name := c.Src
		switch {
		case c.Kind == "encode":
			got, err := tok.Encode(c.A, b, c.B != nil, c.MaxLen)
			if err != nil {
				t.Errorf("%s (max %d): %v", name, c.MaxLen, err)
				continue
			}
			if field := sameEncoding(got, c.hfEncoding, c.A, b); field != "" {
				t.Errorf("%s (max %d): %s differ\n got  %v %v %v\n want %v %v %v", name, c.MaxLen, field,
					got.IDs, got.SequenceIDs, charOffsets(got, c.A, b), c.IDs, c.SequenceIDs, c.Offsets)
			}
			encodes++
			if c.B != nil {
				pairs++
			}
			if c.MaxLen > 0 && len(c.IDs) == c.MaxLen {
				cut++
			}
			if !ascii(c.A) || !ascii(b) {
				nonASCII++
			}
			switch {
			case strings.HasPrefix(name, "edge:"):
				edge++
			case strings.HasPrefix(name, "fuzz:"):
				fuzz++
			}
		case c.Kind == "windows" && c.Error != "":
			_, err := tok.EncodeWindows(c.A, b, c.MaxLen, c.Stride)
			if err == nil || !strings.Contains(err.Error(), map[string]string{"too_short": "no room", "stride": "stride", "stride_param": "stride"}[c.Error]) {
				t.Errorf("%s (max %d stride %d): err %v, want tokenizers' %s error", name, c.MaxLen, c.Stride, err, c.Error)
			}
			refused++
		case c.Kind == "windows":
			got, err := tok.EncodeWindows(c.A, b, c.MaxLen, c.Stride)
			if err != nil {
				t.Errorf("%s (max %d stride %d): %v", name, c.MaxLen, c.Stride, err)
				continue
			}
			if len(got) != len(c.Windows) {
				t.Errorf("%s (max %d stride %d): %d windows, want %d", name, c.MaxLen, c.Stride, len(got), len(c.Windows))
				continue
			}
			for i, w := range c.Windows {
				if field := sameEncoding(got[i], w, c.A, b); field != "" {
					t.Errorf("%s (max %d stride %d) window %d: %s differ\n got  %v\n want %v", name, c.MaxLen, c.Stride, i, field, got[i].IDs, w.IDs)
				}
			}
			windows += len(got)
			if len(got) > 1 {
				multi++
			}
		default:
			t.Fatalf("%s: unknown case kind %q", name, c.Kind)
		}
	}
	t.Logf("%d encodings (%d pairs, %d truncated, %d non-ASCII, %d of hand-written edge strings, %d of random strings), %d windows (%d multi-window cases), %d refused",
		encodes, pairs, cut, nonASCII, edge, fuzz, windows, multi, refused)
	if encodes < 500 || pairs < 300 || cut < 100 || nonASCII < 200 || edge < 60 || fuzz < 100 || windows < 200 || multi < 30 || refused < 4 {
		t.Error("fixture too weak")
	}
}

// A tokenizer.json's own padding and truncation blocks never change what Encode
// returns: the built-in tokenizer.json with a sentence-transformers-style padding
// block (Fixed 128) and truncation block (64) added encodes every reference case as
// Hugging Face tokenizers does with padding and truncation off (testdata/reference.json).
func TestFilePaddingAndTruncationIgnored(t *testing.T) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(builtinJSON, &obj); err != nil {
		t.Fatal(err)
	}
	obj["padding"] = json.RawMessage(`{"strategy":{"Fixed":128},"direction":"Right","pad_to_multiple_of":null,"pad_id":0,"pad_type_id":0,"pad_token":"[PAD]"}`)
	obj["truncation"] = json.RawMessage(`{"max_length":4,"strategy":"LongestFirst","stride":0}`)
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	tk, err := parse(raw, "builtin+padding")
	if err != nil {
		t.Fatal(err)
	}
	long := 0
	for _, r := range loadReferences(t) {
		b := ""
		if r.Pair != nil {
			b = *r.Pair
		}
		got, err := tk.Encode(r.Text, b, r.Pair != nil, r.MaxLen)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs, r.IDs) || !slices.Equal(got.TypeIDs, r.TypeIDs) {
			t.Errorf("%q / %q (max %d): %d ids %v, want %d %v", r.Text, b, r.MaxLen, len(got.IDs), got.IDs, len(r.IDs), r.IDs)
		}
		if len(r.IDs) > 4 {
			long++
		}
		for i, m := range got.AttentionMask {
			if m != 1 {
				t.Errorf("%q: attention mask %v has a 0 at %d", r.Text, got.AttentionMask, i)
				break
			}
		}
		if r.Pair != nil && r.MaxLen == 0 { // windows go through the same post-processing
			ws, err := tk.EncodeWindows(r.Text, b, 1000, 0)
			if err != nil || len(ws) != 1 || !slices.Equal(ws[0].IDs, r.IDs) {
				t.Errorf("%q / %q: windows %v (err %v), want one with %v", r.Text, b, ws, err, r.IDs)
			}
		}
	}
	if long == 0 {
		t.Error("no reference case longer than the file's truncation")
	}
}
