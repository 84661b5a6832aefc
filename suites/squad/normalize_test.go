package squad

import (
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"unicode/utf8"
)

type unicodeTables struct {
	Version      string            `json:"unidata_version"`
	Assigned     [][2]rune         `json:"assigned"`
	Lower        map[string]string `json:"lower"`
	Alnum        [][2]rune         `json:"alnum"`
	Space        []rune            `json:"space"`
	SigmaAfterA  [][2]rune         `json:"sigma_after_A"`
	SigmaAfter1  [][2]rune         `json:"sigma_after_1"`
	SigmaBefore  [][2]rune         `json:"sigma_before"`
	Punctuation  string            `json:"punctuation"`
	lowerByPoint map[rune]string
}

func loadUnicode(t *testing.T) *unicodeTables {
	t.Helper()
	raw, err := os.ReadFile("testdata/unicode.json")
	if err != nil {
		t.Fatal(err)
	}
	var u unicodeTables
	if err := json.Unmarshal(raw, &u); err != nil {
		t.Fatal(err)
	}
	u.lowerByPoint = map[rune]string{}
	for k, v := range u.Lower {
		cp, err := strconv.Atoi(k)
		if err != nil {
			t.Fatal(err)
		}
		u.lowerByPoint[rune(cp)] = v
	}
	return &u
}

func inRanges(rs [][2]rune, r rune) bool {
	lo, hi := 0, len(rs)
	for lo < hi {
		m := (lo + hi) / 2
		switch {
		case r < rs[m][0]:
			hi = m
		case r > rs[m][1]:
			lo = m + 1
		default:
			return true
		}
	}
	return false
}

// Every character property normalize_answer depends on, checked against Python
// (3.11, Unicode 14) for every code point Python knows: str.lower(), the \w of re
// (str.isalnum), str.isspace, and the Final_Sigma context of str.lower(). Go's
// tables are Unicode 15; code points Python leaves unassigned are not compared.
func TestUnicodePropertiesMatchPython(t *testing.T) {
	u := loadUnicode(t)
	if u.Punctuation != punctuation {
		t.Errorf("string.punctuation = %q, ours %q", u.Punctuation, punctuation)
	}
	space := map[rune]bool{}
	for _, r := range u.Space {
		space[r] = true
	}
	bad := 0
	report := func(format string, args ...any) {
		bad++
		if bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	checked := 0
	for _, rg := range u.Assigned {
		for r := rg[0]; r <= rg[1]; r++ {
			if !utf8.ValidRune(r) {
				continue
			}
			checked++
			c := string(r)
			want, ok := u.lowerByPoint[r]
			if !ok {
				want = c
			}
			if got := pyLower(c); got != want {
				report("lower(U+%04X) = %q, Python %q", r, got, want)
			}
			if got, want := isPyWord(r) && r != '_', inRanges(u.Alnum, r); got != want {
				report("isalnum(U+%04X) = %v, Python %v", r, got, want)
			}
			if got := isPySpace(r); got != space[r] {
				report("isspace(U+%04X) = %v, Python %v", r, got, space[r])
			}
			last := func(s string) rune { rs := []rune(pyLower(s)); return rs[len(rs)-1] }
			if got, want := last("A"+c+"Σ") == 'ς', inRanges(u.SigmaAfterA, r); got != want {
				report("lower(\"A\\u%04XΣ\") ends in ς: %v, Python %v", r, got, want)
			}
			if got, want := last("1"+c+"Σ") == 'ς', inRanges(u.SigmaAfter1, r); got != want {
				report("lower(\"1\\u%04XΣ\") ends in ς: %v, Python %v", r, got, want)
			}
			if got, want := []rune(pyLower("AΣ" + c))[1] == 'ς', inRanges(u.SigmaBefore, r); got != want {
				report("lower(\"AΣ\\u%04X\")[1] is ς: %v, Python %v", r, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d mismatches over %d code points (Python Unicode %s)", bad, checked, u.Version)
	}
	if checked < 250000 {
		t.Errorf("only %d code points checked", checked)
	}
}

type normalizeFixture struct {
	Normalize []struct {
		S    string `json:"s"`
		Norm string `json:"norm"`
	} `json:"normalize"`
	Pairs []struct {
		Gold    string  `json:"gold"`
		Pred    string  `json:"pred"`
		ExactV2 float64 `json:"exact_v2"`
		F1V2    float64 `json:"f1_v2"`
		ExactV1 float64 `json:"exact_v1"`
		F1V1    float64 `json:"f1_v1"`
	} `json:"pairs"`
}

// normalize_answer, compute_exact and compute_f1 on hand-picked strings, against
// transformers' squad_metrics (the v2.0 script's code) and the v1.1 formulas.
func TestNormalizeMatchesPython(t *testing.T) {
	raw, err := os.ReadFile("testdata/normalize.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx normalizeFixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	for _, c := range fx.Normalize {
		if got := NormalizeAnswer(c.S); got != c.Norm {
			t.Errorf("NormalizeAnswer(%q) = %q, Python %q", c.S, got, c.Norm)
		}
	}
	for _, c := range fx.Pairs {
		if got := ComputeExact(c.Gold, c.Pred); got != c.ExactV2 {
			t.Errorf("compute_exact(%q, %q) = %v, Python %v", c.Gold, c.Pred, got, c.ExactV2)
		}
		if got := ComputeF1(c.Gold, c.Pred); got != c.F1V2 {
			t.Errorf("compute_f1(%q, %q) = %v, Python %v", c.Gold, c.Pred, got, c.F1V2)
		}
		if got := f1V1(c.Pred, c.Gold); got != c.F1V1 {
			t.Errorf("v1.1 f1_score(%q, %q) = %v, Python %v", c.Pred, c.Gold, got, c.F1V1)
		}
	}
	if len(fx.Normalize) < 50 || len(fx.Pairs) < 20 {
		t.Fatalf("fixture too small: %d strings, %d pairs", len(fx.Normalize), len(fx.Pairs))
	}
}

// Worked by hand from the definition, independent of any fixture.
func TestNormalizeWorked(t *testing.T) {
	for in, want := range map[string]string{
		"The  Denver Broncos!":  "denver broncos",
		"an apple, a day.":      "apple day",
		"Theatre":               "theatre",
		"U.S.A.":                "usa",
		"  ":                    "",
		"the":                   "",
		"a-the":                 "athe", // punctuation goes first, then "athe" is one word
		"Straße İ":              "straße i\u0307",
		"ΟΔΟΣ":                  "οδο\u03c2", // final sigma
		"éa":                    "éa",        // "a" after a letter is no article, é included
		"x\u001cy":              "x y",       // Python splits on the information separators
		"naïve\u00a0café":       "naïve café",
		"“The” answer":          "“ ” answer", // curly quotes are not ASCII punctuation, but not word characters either
		"1,000 the 2nd an 3 an": "1000 2nd 3",
	} {
		if got := NormalizeAnswer(in); got != want {
			t.Errorf("NormalizeAnswer(%q) = %q, want %q", in, got, want)
		}
	}
}
