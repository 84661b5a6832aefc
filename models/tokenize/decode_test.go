package tokenize

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vectorfit/harness/internal/realmodel"
)

// decodeFixture is testdata/decode/cases.json.gz (scripts/fixtures/gen_tokenize_decode.py):
// tokenizers 0.19.1's Tokenizer.decode and decoders' decode outputs.
type decodeFixture struct {
	Cases map[string][]struct {
		Src      string  `json:"src"`
		IDs      []int64 `json:"ids"`
		Text     string  `json:"text"`
		TextSkip string  `json:"text_skip"`
	} `json:"cases"`
	Decoders []struct {
		Decoder json.RawMessage `json:"decoder"`
		Tokens  []string        `json:"tokens"`
		Text    string          `json:"text"`
	} `json:"decoders"`
}

func loadDecodeFixture(t *testing.T) decodeFixture {
	t.Helper()
	var fx decodeFixture
	if err := json.NewDecoder(openGzip(t, "testdata/decode/cases.json.gz")).Decode(&fx); err != nil {
		t.Fatalf("testdata/decode/cases.json.gz: %v", err)
	}
	return fx
}

func mustLoad(t *testing.T, path string) *Tokenizer {
	t.Helper()
	tk, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestDecodeMatchesHuggingFace(t *testing.T) {
	fx := loadDecodeFixture(t)
	tokenizers := []struct {
		name string
		load func(t *testing.T) *Tokenizer
		min  int // cases the fixture must hold, so that an emptied fixture fails
	}{
		{"builtin", func(*testing.T) *Tokenizer { return Builtin() }, 100},
		{"minilm", func(t *testing.T) *Tokenizer {
			return mustLoad(t, filepath.Join(realmodel.MiniLM(t), "tokenizer.json"))
		}, 100},
		{"bytelevel", func(t *testing.T) *Tokenizer { return mustLoad(t, "testdata/decode/bytelevel.json") }, 300},
		{"unigram", func(t *testing.T) *Tokenizer { return mustLoad(t, "testdata/unigram/tokenizer.json") }, 100},
		{"unigram_bytes", func(t *testing.T) *Tokenizer { return mustLoad(t, "testdata/unigram/bytes.json") }, 300},
		{"lower_punct", func(t *testing.T) *Tokenizer { return mustLoad(t, "testdata/unigram/lower_punct.json") }, 100},
	}
	for _, tc := range tokenizers {
		t.Run(tc.name, func(t *testing.T) {
			cases := fx.Cases[tc.name]
			if len(cases) < tc.min {
				t.Fatalf("fixture has %d cases for %s, want at least %d", len(cases), tc.name, tc.min)
			}
			tk := tc.load(t)
			bad := 0
			for _, c := range cases {
				for _, skip := range []bool{false, true} {
					want := c.Text
					if skip {
						want = c.TextSkip
					}
					got, err := tk.Decode(c.IDs, skip)
					if err != nil || got != want {
						if bad++; bad <= 5 {
							t.Errorf("%s skip=%v ids %v:\n got %q (err %v)\nwant %q", c.Src, skip, c.IDs, got, err, want)
						}
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d decodings differ", bad, 2*len(cases))
			}
		})
	}
}

// TestDecodersMatchHuggingFace covers decoder settings no fixture tokenizer uses.
func TestDecodersMatchHuggingFace(t *testing.T) {
	fx := loadDecodeFixture(t)
	if len(fx.Decoders) < 100 {
		t.Fatalf("fixture has %d decoder cases, want at least 100", len(fx.Decoders))
	}
	for i, c := range fx.Decoders {
		chain, err := parseDecoder(c.Decoder, "decoder")
		if err != nil || chain == nil {
			t.Errorf("case %d %s: %v", i, c.Decoder, err)
			continue
		}
		if got := strings.Join(chain(c.Tokens), ""); got != c.Text {
			t.Errorf("case %d %s on %q:\n got %q\nwant %q", i, c.Decoder, c.Tokens, got, c.Text)
		}
	}
}

// withDecoder is the built-in tokenizer with another "decoder" (raw JSON) for Decode.
// (It is set after loading: sugarme/tokenizer, which Load runs, refuses some decoders
// that Decode reads, and reads some it does not.)
func withDecoder(t *testing.T, decoder string) *Tokenizer {
	t.Helper()
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(builtinJSON, &obj); err != nil {
		t.Fatal(err)
	}
	obj["decoder"] = json.RawMessage(decoder)
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	tk := Builtin()
	tk.Source = "edited.json"
	tk.dec = newDecoding(raw)
	return tk
}

func TestDecodeErrors(t *testing.T) {
	tk := Builtin() // 3000 tokens
	ok := []int64{2, 100, 3}
	for _, tc := range []struct {
		name string
		tk   *Tokenizer
		ids  []int64
		want string
	}{
		{"id past the vocabulary", tk, []int64{2, 3000, 3}, "builtin: decode: id 3000 (position 1) is not in the 3000-token vocabulary (ids 0 to 2999)"},
		{"negative id", tk, []int64{-1}, "builtin: decode: id -1 (position 0) is not in the 3000-token vocabulary (ids 0 to 2999)"},
		{"unsupported decoder", withDecoder(t, `{"type": "CTC", "pad_token": "<pad>"}`), ok,
			`edited.json: decode: decoder: decoder type "CTC" is not supported (WordPiece, ByteLevel, Metaspace, Replace, Strip, Fuse, ByteFallback, BPEDecoder, Sequence are)`},
		{"regex Replace in a Sequence", withDecoder(t, `{"type": "Sequence", "decoders": [{"type": "Fuse"}, {"type": "Replace", "pattern": {"Regex": " +"}, "content": " "}]}`), ok,
			`edited.json: decode: decoder.decoders[1]: Replace decoders with a Regex pattern are not supported (only {"String": ...})`},
		{"Metaspace replacement of two characters", withDecoder(t, `{"type": "Metaspace", "replacement": "__", "prepend_scheme": "always"}`), ok,
			`edited.json: decode: decoder.replacement: want one character, got "__"`},
		{"unknown prepend_scheme", withDecoder(t, `{"type": "Metaspace", "replacement": "_", "prepend_scheme": "sometimes"}`), ok,
			`edited.json: decode: decoder.prepend_scheme: want always, first or never, got "sometimes"`},
		{"Strip with negative stop", withDecoder(t, `{"type": "Strip", "content": " ", "start": 0, "stop": -1}`), ok,
			`edited.json: decode: decoder: Strip start 0 and stop -1 must not be negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.tk.Decode(tc.ids, false)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %q, %v\nwant error %s", got, err, tc.want)
			}
		})
	}
}

// TestDecodeWithoutDecoder: tokenizers joins the tokens with spaces when the file has no
// decoder.
func TestDecodeWithoutDecoder(t *testing.T) {
	tk := withDecoder(t, `null`)
	ids := []int64{2}
	for _, w := range []string{"the", "##s"} {
		id, ok := tk.TokenID(w)
		if !ok {
			t.Fatalf("builtin vocabulary lacks %q", w)
		}
		ids = append(ids, id)
	}
	got, err := tk.Decode(append(ids, 3), false)
	if want := "[CLS] the ##s [SEP]"; err != nil || got != want {
		t.Fatalf("got %q, %v; want %q", got, err, want)
	}
}

func TestDecodeBadVocabulary(t *testing.T) {
	// Load would refuse such a file; newDecoding on its own must still not panic.
	d := newDecoding([]byte(`{"model": {"vocab": [["a", 0.0], ["b"]]}}`))
	if d.err == nil || d.err.Error() != `model.vocab[1]: want [piece, score], got ["b"]` {
		t.Fatalf("got %v", d.err)
	}
	if _, err := os.Stat("testdata/decode/bytelevel.json"); err != nil {
		t.Fatal(err)
	}
}
