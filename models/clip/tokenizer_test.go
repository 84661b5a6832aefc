package clip

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type tokenizerRow struct {
	Text      string  `json:"text"`
	IDs       []int64 `json:"ids"`
	SDIDs     []int64 `json:"sd_ids"`
	SDMaskLen int     `json:"sd_mask_len"`
}

// The ids of transformers' CLIPTokenizer (4.44.2, slow, without ftfy) on the DreamBooth
// prompts, 300 XSum sentences and edge cases (accents, CJK, Greek final sigma, control
// characters, special tokens in the text, a text past 77 tokens), plain and as Stable
// Diffusion calls it (max_length 77, truncation, padding with <|endoftext|>).
func TestTokenizerMatchesTransformers(t *testing.T) {
	tok, err := LoadTokenizer(filepath.Join("testdata", "tokenizer"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "tokenizer_io.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []tokenizerRow
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 350 {
		t.Fatalf("%d rows, want the fixture's 377", len(rows))
	}
	if tok.Pad != tok.EOS || tok.MaxLength != 77 {
		t.Errorf("pad %d eos %d max length %d: SD v1.4 pads with <|endoftext|> to 77", tok.Pad, tok.EOS, tok.MaxLength)
	}
	bad, truncated := 0, 0
	for _, r := range rows {
		ids := tok.Encode(r.Text)
		sd, mask := tok.EncodePadded(r.Text)
		wantMask := make([]int64, 77)
		for i := range r.SDMaskLen {
			wantMask[i] = 1
		}
		if !slices.Equal(ids, r.IDs) || !slices.Equal(sd, r.SDIDs) || !slices.Equal(mask, wantMask) {
			bad++
			if bad <= 5 {
				t.Errorf("%q:\n got %v\nwant %v\n sd %v\nwant %v (mask %d)", r.Text, ids, r.IDs, sd, r.SDIDs, r.SDMaskLen)
			}
		}
		if len(r.IDs) > 77 {
			truncated++
		}
	}
	if truncated == 0 {
		t.Error("no text is longer than 77 tokens: truncation is untested")
	}
	t.Logf("%d texts, %d differ, %d truncated", len(rows), bad, truncated)
}

// Hand-checked pieces of the clean-up transformers does without ftfy.
func TestBasicClean(t *testing.T) {
	cases := []struct{ in, want string }{
		{"  A Photo\tof\nSKS  Dog ", "a photo of sks dog"},
		{"東京", "東 京"},
		{"ΟΔΟΣ ΣΑΣ", "οδος σας"},
		{"İ", "i\u0307"},
		{"nul\x00x\ufffdy\u200bz", "nulxyz"},
		{"e\u0301", "é"},
	}
	for _, c := range cases {
		if got := basicClean(c.in); got != c.want {
			t.Errorf("basicClean(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTokenizerErrors(t *testing.T) {
	src := filepath.Join("testdata", "tokenizer")
	copyDir := func(t *testing.T, edit func(dir string)) string {
		dir := t.TempDir()
		for _, f := range []string{"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		edit(dir)
		return dir
	}
	write := func(dir, f, s string) {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name, want string
		edit       func(dir string)
	}{
		{"bad merge line", "merges.txt: line 3: \"a b c\", want two symbols", func(d string) {
			b, _ := os.ReadFile(filepath.Join(d, "merges.txt"))
			lines := strings.SplitN(string(b), "\n", 3)
			write(d, "merges.txt", lines[0]+"\n"+lines[1]+"\na b c\n"+lines[2])
		}},
		{"no header", "merges.txt: line 1: want the \"#version: 0.2\" header", func(d string) { write(d, "merges.txt", "a b\n") }},
		{"pad not in vocab", "pad_token \"!!\" is not in the vocabulary", func(d string) {
			write(d, "special_tokens_map.json", `{"pad_token": "!!"}`)
		}},
		{"vocab not an object", "vocab.json: want a JSON object of token → id", func(d string) { write(d, "vocab.json", "[1]") }},
		{"max length", "model_max_length 1e+30, want 2 to", func(d string) {
			write(d, "tokenizer_config.json", `{"model_max_length": 1e30}`)
		}},
		{"bad token object", "tokenizer_config.json: bos_token {\"x\":1}: want a string or an object with \"content\"", func(d string) {
			write(d, "tokenizer_config.json", `{"bos_token": {"x":1}}`)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadTokenizer(copyDir(t, c.edit))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// The character tokenizer splits words into their characters, the last marked "</w>",
// between <|startoftext|> and <|endoftext|>, padded with <|endoftext|>.
func TestCharTokenizer(t *testing.T) {
	tok := CharTokenizer(12)
	if got := tok.Tokenize("A big ring"); !slices.Equal(got, []string{"a</w>", "b", "i", "g</w>", "r", "i", "n", "g</w>"}) {
		t.Errorf("tokens %q", got)
	}
	ids, mask := tok.EncodePadded("a big ring")
	// 'a' is byte 97, the 66th printable character (from '!' = 0), so "a</w>" is 256 + 64.
	want := []int64{512, 256 + 'a' - '!', 'b' - '!', 'i' - '!', 256 + 'g' - '!', 'r' - '!', 'i' - '!', 'n' - '!', 256 + 'g' - '!', 513, 513, 513}
	if !slices.Equal(ids, want) || !slices.Equal(mask, []int64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0}) {
		t.Errorf("ids %v mask %v, want %v", ids, mask, want)
	}
	if tok.VocabSize() != 514 || tok.EOS != 513 {
		t.Errorf("vocab %d, EOS %d", tok.VocabSize(), tok.EOS)
	}
}
