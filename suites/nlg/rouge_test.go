package nlg

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// rougeFixture is testdata/rouge.json, written by scripts/fixtures/gen_rouge.py
// with rouge-score 0.1.2 and nltk 3.10.4.
type rougeFixture struct {
	Types  []string `json:"types"`
	Fields []string `json:"fields"`
	Pairs  []struct {
		ID         string    `json:"id"`
		Prediction string    `json:"prediction"`
		Reference  string    `json:"reference"`
		Scores     []float64 `json:"scores"`
	} `json:"pairs"`
	Mean          map[string]float64 `json:"mean_fmeasure"`
	LowerToASCII  map[string]string  `json:"lower_to_ascii"`
	UnicodeTokens []struct {
		Text   string   `json:"text"`
		Tokens []string `json:"tokens"`
	} `json:"unicode_tokens"`
}

func readTestJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func loadRougeFixture(t *testing.T) *rougeFixture {
	t.Helper()
	var f rougeFixture
	readTestJSON(t, "testdata/rouge.json", &f)
	if !reflect.DeepEqual(f.Types, RougeTypes) || len(f.Fields) != 12 || len(f.Pairs) < 200 {
		t.Fatalf("testdata/rouge.json: types %v, %d fields, %d pairs; expected %v, 12, >= 200",
			f.Types, len(f.Fields), len(f.Pairs), RougeTypes)
	}
	return &f
}

// Every precision, recall and F-measure of every pair equals rouge-score's. The
// counts are integers, so the values should be bit-identical; 1e-12 is the
// contract, and the test also reports how many are exact.
func TestRougeMatchesRougeScore(t *testing.T) {
	f := loadRougeFixture(t)
	exact, total := 0, 0
	for i, p := range f.Pairs {
		got := Rouge(p.Prediction, p.Reference)
		for k, typ := range RougeTypes {
			s := got[typ]
			for j, v := range []float64{s.Precision, s.Recall, s.F} {
				want := p.Scores[3*k+j]
				total++
				if v == want {
					exact++
				} else if math.Abs(v-want) > 1e-12 {
					t.Errorf("pair %d (%s) %s = %.17g, rouge-score %.17g\npred %q\nref  %q",
						i, p.ID, f.Fields[3*k+j], v, want, p.Prediction, p.Reference)
				}
			}
		}
	}
	t.Logf("%d of %d values bit-identical to rouge-score", exact, total)
}

func TestCorpusRougeIsMeanF(t *testing.T) {
	f := loadRougeFixture(t)
	var preds, refs []string
	for _, p := range f.Pairs {
		preds = append(preds, p.Prediction)
		refs = append(refs, p.Reference)
	}
	got, err := CorpusRouge(preds, refs)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range RougeTypes {
		if d := math.Abs(got[typ] - f.Mean[typ]); d > 1e-12 {
			t.Errorf("%s: mean F %.17g, numpy %.17g (diff %.3g)", typ, got[typ], f.Mean[typ], d)
		}
	}
}

func TestCorpusRougeGuards(t *testing.T) {
	_, err := CorpusRouge([]string{"a", "b"}, []string{"a"})
	want := "nlg: CorpusRouge: 2 predictions for 1 references (expected one prediction per reference)"
	if err == nil || err.Error() != want {
		t.Errorf("mismatched lengths: err %v, want %q", err, want)
	}
	got, err := CorpusRouge(nil, nil)
	if err != nil || len(got) != 4 || got["rouge1"] != 0 || got["rougeLsum"] != 0 {
		t.Errorf("no pairs: %v, %v; want four zeros", got, err)
	}
}

// Hand-computed values, independent of the fixture.
func TestRougeHandComputed(t *testing.T) {
	third := func(p, r float64) RougeScore { return RougeScore{p, r, fmeasure(p, r)} }
	cases := []struct {
		name, pred, ref string
		want            map[string]RougeScore
	}{
		{
			// unigrams: the x2, cat, on, mat = 5 of 6; bigrams: "the cat", "on the",
			// "the mat" = 3 of 5; LCS "the cat on the mat" = 5.
			"one word changed", "The cat sat on the mat.", "the cat was on the mat",
			map[string]RougeScore{
				"rouge1": third(5.0/6, 5.0/6), "rouge2": third(3.0/5, 3.0/5),
				"rougeL": third(5.0/6, 5.0/6), "rougeLsum": third(5.0/6, 5.0/6),
			},
		},
		{
			// The ROUGE paper's summary-level example (§3.2): reference
			// w1 w2 w3 w4 w5, candidates "w1 w2 w6 w7 w8" and "w1 w3 w8 w9 w5";
			// union LCS w1 w2 w3 w5 = 4 hits, over 10 candidate and 5 reference
			// tokens. Unigrams: w1 w2 w3 w5 (w1 clipped to 1). Bigrams: w1 w2 of
			// 9 and 4. rougeL over the joined candidate: LCS w1 w2 w3 w5 = 4.
			"union LCS", "w1 w2 w6 w7 w8\nw1 w3 w8 w9 w5", "w1 w2 w3 w4 w5",
			map[string]RougeScore{
				"rouge1": third(4.0/10, 4.0/5), "rouge2": third(1.0/9, 1.0/4),
				"rougeL": third(4.0/10, 4.0/5), "rougeLsum": third(4.0/10, 4.0/5),
			},
		},
		{
			// Sentences swapped: one LCS over the joined text finds 2 of 4 tokens,
			// the union over sentences finds all 4. Bigrams: a1 a2, b1 b2 of 3.
			"swapped sentences", "b1 b2\na1 a2", "a1 a2 b1 b2",
			map[string]RougeScore{
				"rouge1": third(1, 1), "rouge2": third(2.0/3, 2.0/3),
				"rougeL": third(0.5, 0.5), "rougeLsum": third(1, 1),
			},
		},
		{
			// Stemming: "running" -> "run", "cats" -> "cat"; "runs" -> "run".
			"stemmed", "cats running", "cat runs",
			map[string]RougeScore{
				"rouge1": third(1, 1), "rouge2": third(1, 1),
				"rougeL": third(1, 1), "rougeLsum": third(1, 1),
			},
		},
		{"empty prediction", "", "a summary", map[string]RougeScore{
			"rouge1": {}, "rouge2": {}, "rougeL": {}, "rougeLsum": {}}},
		{"punctuation only", "?!.,", "?!.,", map[string]RougeScore{
			"rouge1": {}, "rouge2": {}, "rougeL": {}, "rougeLsum": {}}},
	}
	for _, c := range cases {
		got := Rouge(c.pred, c.ref)
		for _, typ := range RougeTypes {
			if g, w := got[typ], c.want[typ]; math.Abs(g.Precision-w.Precision) > 1e-15 ||
				math.Abs(g.Recall-w.Recall) > 1e-15 || math.Abs(g.F-w.F) > 1e-15 {
				t.Errorf("%s: %s = %+v, want %+v", c.name, typ, g, w)
			}
		}
	}
}

// Python lower-cases before keeping [a-z0-9]; the fixture lists every non-ASCII
// code point whose lower case holds such a character. Our tokenizer must give
// those the same tokens, and give no token for every other non-ASCII code point.
func TestTokenizeUnicodeMatchesPython(t *testing.T) {
	f := loadRougeFixture(t)
	alnum := regexp.MustCompile(`[a-z0-9]+`)
	special := map[rune]bool{}
	for k, low := range f.LowerToASCII {
		cp, err := strconv.Atoi(k)
		if err != nil {
			t.Fatal(err)
		}
		special[rune(cp)] = true
		want := alnum.FindAllString(low, -1)
		if got := rougeTokenize(string(rune(cp))); !reflect.DeepEqual(got, want) {
			t.Errorf("U+%04X: tokens %q, Python %q", cp, got, want)
		}
	}
	if len(special) == 0 {
		t.Fatal("testdata/rouge.json: lower_to_ascii is empty")
	}
	bad := 0
	for r := rune(0x80); r <= utf8.MaxRune; r++ {
		if special[r] || !utf8.ValidRune(r) {
			continue
		}
		if got := rougeTokenize("x" + string(r) + "y"); len(got) != 2 {
			if bad++; bad <= 10 {
				t.Errorf("U+%04X inside a word: tokens %q, want [x y]", r, got)
			}
		}
	}
	for _, u := range f.UnicodeTokens {
		got := rougeTokenize(u.Text)
		if len(got) == 0 && len(u.Tokens) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, u.Tokens) {
			t.Errorf("rougeTokenize(%q) = %q, rouge-score %q", u.Text, got, u.Tokens)
		}
	}
}

func TestTokenizeInvalidUTF8(t *testing.T) {
	got := rougeTokenize("abc\xffdef\xc3")
	if want := []string{"abc", "def"}; !reflect.DeepEqual(got, want) {
		t.Errorf("tokens %q, want %q", got, want)
	}
	_ = Rouge("\xff\xfe\n\x00", "a\xffb") // must not panic
}

func checkStems(t *testing.T, path string) {
	var stems map[string]string
	readTestJSON(t, path, &stems)
	if len(stems) < 1000 {
		t.Fatalf("%s: only %d words", path, len(stems))
	}
	bad := 0
	for w, want := range stems {
		if got := porterStem(w); got != want {
			if bad++; bad <= 20 {
				t.Errorf("stem(%q) = %q, nltk %q", w, got, want)
			}
		}
	}
	t.Logf("%s: %d words, %d differ from nltk", path, len(stems), bad)
}

// porterStem equals nltk's PorterStemmer (NLTK_EXTENSIONS) on every token of the
// fixture pairs, hand-picked words for each rule, and a sample of XSum's words.
// NLG_PORTER_ALL=FILE also checks a file from `gen_rouge.py --all-words FILE`.
func TestPorterMatchesNLTK(t *testing.T) {
	checkStems(t, "testdata/porter.json")
	if path := os.Getenv("NLG_PORTER_ALL"); path != "" {
		checkStems(t, path)
	}
}

func TestPorterHandPicked(t *testing.T) {
	// Martin Porter's published examples where NLTK_EXTENSIONS agrees, and the
	// extensions' own cases.
	for w, want := range map[string]string{
		"caresses": "caress", "ponies": "poni", "ties": "tie", "cats": "cat",
		"agreed": "agre", "plastered": "plaster", "motoring": "motor", "hopping": "hop",
		"falling": "fall", "filing": "file", "happy": "happi", "enjoy": "enjoy",
		"relational": "relat", "skies": "sky", "dying": "die", "generously": "gener",
		"yyyy": "yyyi", "controll": "control",
	} {
		if got := porterStem(w); got != want {
			t.Errorf("stem(%q) = %q, want %q", w, got, want)
		}
	}
	long := strings.Repeat("y", 100000)
	if got := porterStem(long); len(got) != len(long) {
		t.Errorf("a run of y's: stem has length %d", len(got))
	}
}
