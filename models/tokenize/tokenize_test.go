package tokenize

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

type reference struct {
	Text    string   `json:"text"`
	Pair    *string  `json:"pair"`
	MaxLen  int      `json:"max_len"`
	IDs     []int64  `json:"ids"`
	TypeIDs []int64  `json:"type_ids"`
	Offsets [][2]int `json:"offsets"`
}

// The built-in tokenizer, read from its tokenizer.json by sugarme/tokenizer, encodes
// exactly as Hugging Face `tokenizers` does (ids, type ids; offsets where both libraries
// count the same unit), including pairs and longest-first truncation.
func TestBuiltinMatchesHuggingFace(t *testing.T) {
	tk := Builtin()
	for _, r := range loadReferences(t) {
		b := ""
		if r.Pair != nil {
			b = *r.Pair
		}
		got, err := tk.Encode(r.Text, b, r.Pair != nil, r.MaxLen)
		if err != nil {
			t.Errorf("%q: %v", r.Text, err)
			continue
		}
		if !slices.Equal(got.IDs, r.IDs) {
			t.Errorf("%q / %v (max %d): ids\n got  %v\n want %v", r.Text, b, r.MaxLen, got.IDs, r.IDs)
		}
		// tokenizers counts offsets in characters, we in bytes: equal on ASCII text.
		if ascii(r.Text) && ascii(b) && !slices.Equal(got.Offsets, r.Offsets) {
			t.Errorf("%q / %v: offsets\n got  %v\n want %v", r.Text, b, got.Offsets, r.Offsets)
		}
		if !slices.Equal(got.TypeIDs, r.TypeIDs) {
			t.Errorf("%q / %v: type ids %v, want %v", r.Text, b, got.TypeIDs, r.TypeIDs)
		}
	}
	if tk.PadID() != 0 || tk.VocabSize() != 3000 {
		t.Errorf("pad %d vocab %d, want 0 and 3000", tk.PadID(), tk.VocabSize())
	}
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Byte offsets on non-ASCII words, against Hugging Face tokenizers on the same
// tokenizer.json (python: Tokenizer.from_file(...).encode("Norðmaðr café"), char offsets
// converted to UTF-8 bytes). (sugarme's WordPiece counted code points.)
func TestBuiltinByteOffsetsNonASCII(t *testing.T) {
	got, err := Builtin().Encode("Norðmaðr café", "", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []int64{2, 1, 1148, 536, 3}
	wantOffsets := [][2]int{{0, 0}, {0, 10}, {11, 13}, {13, 16}, {0, 0}}
	if !slices.Equal(got.IDs, wantIDs) || !slices.Equal(got.Offsets, wantOffsets) {
		t.Errorf("ids %v offsets %v, want %v %v", got.IDs, got.Offsets, wantIDs, wantOffsets)
	}
}

// loadReferences reads the built-in tokenizer's HF reference encodings
// (scripts/fixtures/gen_builtin_tokenizer.py).
func loadReferences(t *testing.T) []reference {
	t.Helper()
	raw, err := os.ReadFile("testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var refs []reference
	if err := json.Unmarshal(raw, &refs); err != nil {
		t.Fatal(err)
	}
	return refs
}
