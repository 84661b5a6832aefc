package tokenize

import (
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"
)

// bertChars is testdata/bert_chars.json.gz (scripts/fixtures/gen_bert_chars.py): what
// tokenizers 0.19.1's BERT normalizer and pre-tokenizer do to each code point.
type bertChars struct {
	CleanRemoved [][2]rune `json:"clean_removed"`
	CleanSpace   []rune    `json:"clean_space"`
	Chinese      [][2]rune `json:"chinese"`
	StripRemoved [][2]rune `json:"strip_removed"`
	Strip        [][2]any  `json:"strip"`
	Lower        [][2]any  `json:"lower"`
	Reorder      [][2]rune `json:"reorder"`
	Punct        [][2]rune `json:"punct"`
	Space        []rune    `json:"space"`
}

func loadBertChars(t *testing.T) bertChars {
	t.Helper()
	var d bertChars
	if err := json.NewDecoder(openGzip(t, "testdata/bert_chars.json.gz")).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

// openGzip opens a gzip-compressed fixture; it is closed when the test ends.
func openGzip(t *testing.T, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return zr
}

func inRanges(rs [][2]rune) map[rune]bool {
	m := map[rune]bool{}
	for _, r := range rs {
		for c := r[0]; c <= r[1]; c++ {
			m[c] = true
		}
	}
	return m
}

func mapping(pairs [][2]any) map[rune]string {
	m := map[rune]string{}
	for _, p := range pairs {
		m[rune(p[0].(float64))] = p[1].(string)
	}
	return m
}

// Every code point goes through the BERT normalizer's steps and the pre-tokenizer's
// character classes as in tokenizers 0.19.1, whose Unicode tables are older than Go's
// (unicode_tables.go): clean_text (removed, turned into a space, kept), the CJK
// padding, strip_accents (NFD and the removal of non-spacing marks), lowercase, the
// canonical reordering of combining marks, punctuation and whitespace.
func TestBertCharactersMatchHuggingFace(t *testing.T) {
	d := loadBertChars(t)
	cleanRemoved, chinese, stripRemoved := inRanges(d.CleanRemoved), inRanges(d.Chinese), inRanges(d.StripRemoved)
	reorder, punct := inRanges(d.Reorder), inRanges(d.Punct)
	cleanSpace, space := inRanges(pairsOf(d.CleanSpace)), inRanges(pairsOf(d.Space))
	strip, lower := mapping(d.Strip), mapping(d.Lower)
	if len(cleanRemoved) < 137000 || len(stripRemoved) < 1500 || len(strip) < 2000 || len(lower) < 1400 || len(punct) < 700 || len(reorder) < 700 {
		t.Fatalf("fixture too small: %d %d %d %d %d %d", len(cleanRemoved), len(stripRemoved), len(strip), len(lower), len(punct), len(reorder))
	}
	normalize := func(n bertNormalizer, s string) string {
		a, err := n.normalize(newAligned(s, 0))
		if err != nil {
			t.Fatalf("%+q: %v", s, err)
		}
		return a.s
	}
	bad := map[string][]string{}
	check := func(what string, r rune, got, want any) {
		if got != want {
			bad[what] = append(bad[what], fmt.Sprintf("%U got %+q want %+q", r, got, want))
		}
	}
	for r := rune(0); r < 0x110000; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		ch := string(r)
		want := ch
		switch {
		case cleanRemoved[r]:
			want = ""
		case cleanSpace[r]:
			want = " "
		}
		check("clean_text", r, normalize(bertNormalizer{cleanText: true}, ch), want)
		check("chinese", r, isChinese(r), chinese[r])
		if r < 0xAC00 || r > 0xD7A3 { // Hangul syllables: not in the fixture
			want = ch
			if s, ok := strip[r]; ok {
				want = s
			} else if stripRemoved[r] {
				want = ""
			}
			check("strip_accents", r, normalize(bertNormalizer{stripAccents: true}, ch), want)
		}
		want = ch
		if s, ok := lower[r]; ok {
			want = s
		}
		check("lowercase", r, normalize(bertNormalizer{lowercase: true}, ch), want)
		if nfd(newAligned(ch, 0)).s == ch {
			want = "a\u0345" + ch
			if reorder[r] {
				want = "a" + ch + "\u0345"
			}
			check("reorder", r, nfd(newAligned("a\u0345"+ch, 0)).s, want)
		}
		check("punctuation", r, isPunct(r), punct[r])
		check("whitespace", r, isSpace(r), space[r])
	}
	for what, list := range bad {
		t.Errorf("%s: %d code points differ, e.g. %v", what, len(list), list[:min(len(list), 8)])
	}
}

func pairsOf(cps []rune) [][2]rune {
	out := make([][2]rune, len(cps))
	for i, c := range cps {
		out[i] = [2]rune{c, c}
	}
	return out
}
