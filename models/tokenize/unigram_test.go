package tokenize

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type unigramReference struct {
	Text    string   `json:"text"`
	Pair    *string  `json:"pair"`
	MaxLen  int      `json:"max_len"`
	Tokens  []string `json:"tokens"`
	IDs     []int64  `json:"ids"`
	TypeIDs []int64  `json:"type_ids"`
	Offsets [][2]int `json:"offsets"` // bytes, computed by the script from tokenizers' char offsets
}

// Two DeBERTa-v3-style Unigram tokenizers (one trained by `tokenizers`, one converted by
// transformers from a SentencePiece model, as for microsoft/deberta-v3-base) encode
// exactly as Hugging Face `tokenizers` does: ids, type ids and byte offsets, for singles,
// pairs and longest-first truncation (scripts/fixtures/gen_unigram_tokenizer.py).
func TestUnigramMatchesHuggingFace(t *testing.T) {
	raw, err := os.ReadFile("testdata/unigram/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var refs map[string]struct {
		File      string             `json:"file"`
		VocabSize int64              `json:"vocab_size"`
		Cases     []unigramReference `json:"cases"`
	}
	if err := json.Unmarshal(raw, &refs); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"trained", "spm", "lower_punct", "bytes"} {
		t.Run(name, func(t *testing.T) {
			ref := refs[name]
			if len(ref.Cases) < 50 {
				t.Fatalf("%d reference cases, want at least 50", len(ref.Cases))
			}
			tk, err := Load(filepath.Join("testdata", "unigram", ref.File))
			if err != nil {
				t.Fatal(err)
			}
			if tk.pipe == nil {
				t.Fatal("not encoded by the Unigram pipeline")
			}
			for _, r := range ref.Cases {
				checkReference(t, tk, r)
			}
			if tk.PadID() != 0 || tk.VocabSize() != ref.VocabSize {
				t.Errorf("pad %d vocab %d, want 0 and %d", tk.PadID(), tk.VocabSize(), ref.VocabSize)
			}
			if cls, ok := tk.TokenID("[CLS]"); !ok || cls != 1 {
				t.Errorf("[CLS] is %d (%v), want 1", cls, ok)
			}
		})
	}
}

func checkReference(t *testing.T, tk *Tokenizer, r unigramReference) {
	t.Helper()
	b := ""
	if r.Pair != nil {
		b = *r.Pair
	}
	got, err := tk.Encode(r.Text, b, r.Pair != nil, r.MaxLen)
	if err != nil {
		t.Errorf("%q / %q (max %d): %v", r.Text, b, r.MaxLen, err)
		return
	}
	if !slices.Equal(got.IDs, r.IDs) {
		t.Errorf("%q / %q (max %d): ids\n got  %v\n want %v %q", r.Text, b, r.MaxLen, got.IDs, r.IDs, r.Tokens)
		return
	}
	if !slices.Equal(got.TypeIDs, r.TypeIDs) {
		t.Errorf("%q / %q (max %d): type ids %v, want %v", r.Text, b, r.MaxLen, got.TypeIDs, r.TypeIDs)
	}
	if !slices.Equal(got.Offsets, r.Offsets) {
		t.Errorf("%q / %q (max %d): byte offsets\n got  %v\n want %v %q", r.Text, b, r.MaxLen, got.Offsets, r.Offsets, r.Tokens)
	}
}

// tokenizers silently skips truncation when the maximum length leaves no room for the
// special tokens (an unsigned wrap-around); Encode says so instead.
func TestEncodeMaxLenBelowSpecialTokens(t *testing.T) {
	tk, err := Load("testdata/unigram/spm/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Encode("a b c", "d e f", true, 2); err == nil {
		t.Error("pair with max length 2 < 3 special tokens: no error")
	}
	if _, err := tk.Encode("a b c", "", false, 1); err == nil {
		t.Error("single with max length 1 < 2 special tokens: no error")
	}
}

// The budget split of tokenizers' LongestFirst (utils/truncation.rs), by hand: the longer
// sequence (the second on ties) gets the odd token when both are cut.
func TestLongestFirst(t *testing.T) {
	for _, c := range []struct{ n1, n2, budget, w1, w2 int }{
		{16, 10, 9, 5, 4}, {10, 16, 9, 4, 5}, {6, 6, 7, 3, 4}, {6, 6, 6, 3, 3},
		{1, 10, 5, 1, 4}, {10, 1, 5, 4, 1}, {3, 3, 0, 0, 0}, {4, 0, 3, 3, 0},
	} {
		if g1, g2 := longestFirst(c.n1, c.n2, c.budget); g1 != c.w1 || g2 != c.w2 {
			t.Errorf("longestFirst(%d, %d, %d) = %d, %d, want %d, %d", c.n1, c.n2, c.budget, g1, g2, c.w1, c.w2)
		}
	}
}

// Unigram files with parts the pipeline does not implement, or broken parts, are errors
// that name the file and the part, not panics or silently different encodings.
func TestUnigramLoadErrors(t *testing.T) {
	raw, err := os.ReadFile("testdata/unigram/lower_punct.json")
	if err != nil {
		t.Fatal(err)
	}
	var base map[string]any
	if err := json.Unmarshal(raw, &base); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key  string
		val  any
		want string
	}{
		{"normalizer", map[string]any{"type": "NFKD"}, `normalizer: "NFKD" is not supported`},
		{"normalizer", map[string]any{"type": "Precompiled", "precompiled_charsmap": "AAAA"}, "precompiled_charsmap"},
		{"normalizer", map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": "("}, "content": ""}, "Replace pattern"},
		{"pre_tokenizer", map[string]any{"type": "ByteLevel"}, `pre_tokenizer: "ByteLevel" is not supported`},
		{"pre_tokenizer", map[string]any{"type": "Metaspace", "replacement": "ab"}, "not one character"},
		{"model", map[string]any{"type": "Unigram", "vocab": [][]any{{"a", 0.0}}, "unk_id": 5}, "unk_id 5"},
		{"model", map[string]any{"type": "Unigram", "vocab": []any{"a"}}, "model.vocab[0]"},
	} {
		cfg := maps.Clone(base)
		cfg[c.key] = c.val
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "tokenizer.json")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = Load(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s = %v: error %v, want one naming %s and %q", c.key, c.val, err, path, c.want)
		}
	}
}

// Any text, invalid UTF-8 included, encodes without error, and every token's offsets lie
// inside its own text. (`go test -fuzz FuzzUnigramEncode` explores beyond the seeds.)
func FuzzUnigramEncode(f *testing.F) {
	tk, err := Load("testdata/unigram/spm/tokenizer.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "caf\xe9 \xff\xfe ok", "\x00\x07[MASK]\t[CLS]", "ﬁ\x00 ™\x1e", " \u3000 e\u0301 "} {
		f.Add(s, "second "+s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		enc, err := tk.Encode(a, b, true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(enc.IDs) != len(enc.TypeIDs) || len(enc.IDs) != len(enc.Offsets) {
			t.Fatalf("lengths %d %d %d", len(enc.IDs), len(enc.TypeIDs), len(enc.Offsets))
		}
		for i, o := range enc.Offsets {
			text := a
			if enc.TypeIDs[i] == 1 {
				text = b
			}
			if o[0] < 0 || o[0] > o[1] || o[1] > len(text) {
				t.Fatalf("token %d offsets %v outside [0, %d]", i, o, len(text))
			}
		}
	})
}

// A SQuAD-sized pair (question and a 110-word context) cut to 64 tokens, with the
// DeBERTa-v3-style tokenizer.
func BenchmarkEncodePair(b *testing.B) {
	tk, err := Load("testdata/unigram/spm/tokenizer.json")
	if err != nil {
		b.Fatal(err)
	}
	q := "To whom did the Virgin Mary allegedly appear in 1858 in Lourdes France?"
	c := strings.Repeat("Architecturally, the school has a Catholic character. Atop the Main Building's gold dome is a golden statue of the Virgin Mary. ", 5)
	for b.Loop() {
		if _, err := tk.Encode(q, c, true, 64); err != nil {
			b.Fatal(err)
		}
	}
}
