package nlg

import "strings"

// The Porter stemmer exactly as NLTK's nltk.stem.porter.PorterStemmer in its
// default NLTK_EXTENSIONS mode, which is what rouge-score 0.1.2 uses with
// use_stemmer=True (checked against nltk 3.10.4).
// NLTK_EXTENSIONS differs from Martin Porter's reference implementation in:
//   - a pool of irregular forms looked up first (sky/skies, dying, lying, tying,
//     news, innings, outings, cannings, howe, proceed, exceed, succeed);
//   - step 1a: a 4-letter word ending "ies" becomes "...ie" (ties -> tie);
//   - step 1b: "ied" becomes "ie" in a 4-letter word, "i" otherwise, before the
//     "eed"/"ed"/"ing" rules;
//   - step 1c: y -> i only after a consonant that is not the first letter;
//   - step 2: "alli" -> "al" then step 2 again; "bli" -> "ble"; extra rules
//     "fulli" -> "ful" and "logi" -> "log" (the latter tests the measure of the
//     word without "ogi");
//   - the *o condition also holds for a two-letter vowel-consonant stem.
// Each step below follows NLTK's rule lists in order: the first rule whose
// suffix matches decides, even when its condition then fails (the word is kept).
//
// Only lower-case ASCII letters and digits reach it from the ROUGE tokenizer;
// porterStem assumes that and does not lower-case.

// irregular is NLTK_EXTENSIONS' pool: word -> stem, returned before any step.
var irregular = map[string]string{
	"sky": "sky", "skies": "sky",
	"dying": "die", "lying": "lie", "tying": "tie",
	"news":    "news",
	"innings": "inning", "inning": "inning",
	"outings": "outing", "outing": "outing",
	"cannings": "canning", "canning": "canning",
	"howe":    "howe",
	"proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
}

// porterStem stems one lower-case word as PorterStemmer().stem(word).
func porterStem(word string) string {
	if s, ok := irregular[word]; ok {
		return s
	}
	if len(word) <= 2 {
		return word
	}
	w := step1a(word)
	w = step1b(w)
	w = step1c(w)
	w = step2(w)
	w = step3(w)
	w = step4(w)
	w = step5a(w)
	return step5b(w)
}

func isVowelLetter(c byte) bool {
	return c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u'
}

// isConsonant: a letter other than a, e, i, o, u, and other than a y preceded by
// a consonant. A y at the start of a word is a consonant.
func isConsonant(w string, i int) bool {
	c := w[i]
	if isVowelLetter(c) {
		return false
	}
	if c != 'y' {
		return true
	}
	// A run of y's alternates consonant, vowel, ... after whatever precedes it.
	j := i
	for j > 0 && w[j-1] == 'y' {
		j--
	}
	first := j == 0 || isVowelLetter(w[j-1]) // the run's first y is a consonant
	return first == ((i-j)%2 == 0)
}

// consonants classifies every letter in one pass (isConsonant on each index
// would be quadratic on a run of y's, as NLTK notes in _consonant_flags).
func consonants(w string) []bool {
	flags := make([]bool, len(w))
	for i := range len(w) {
		switch c := w[i]; {
		case isVowelLetter(c):
		case c == 'y':
			flags[i] = i == 0 || !flags[i-1]
		default:
			flags[i] = true
		}
	}
	return flags
}

// measure is m in [C](VC){m}[V]: the number of vowel-to-consonant transitions.
func measure(stem string) int {
	flags := consonants(stem)
	m := 0
	for i := 1; i < len(flags); i++ {
		if !flags[i-1] && flags[i] {
			m++
		}
	}
	return m
}

func containsVowel(stem string) bool {
	for _, c := range consonants(stem) {
		if !c {
			return true
		}
	}
	return false
}

// endsDoubleConsonant is *d.
func endsDoubleConsonant(w string) bool {
	n := len(w)
	return n >= 2 && w[n-1] == w[n-2] && isConsonant(w, n-1)
}

// endsCVC is *o, with NLTK's extension for two-letter stems.
func endsCVC(w string) bool {
	n := len(w)
	if n >= 3 && isConsonant(w, n-3) && !isConsonant(w, n-2) && isConsonant(w, n-1) &&
		w[n-1] != 'w' && w[n-1] != 'x' && w[n-1] != 'y' {
		return true
	}
	return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1)
}

// porterRule replaces suffix by repl when cond(stem) holds (cond nil: always).
type porterRule struct {
	suffix, repl string
	cond         func(stem string) bool
}

// applyRules is NLTK's _apply_rule_list without the "*d" pseudo-suffix (step 1b
// handles that itself): the first matching suffix decides.
func applyRules(w string, rules []porterRule) string {
	for _, r := range rules {
		if strings.HasSuffix(w, r.suffix) {
			stem := w[:len(w)-len(r.suffix)]
			if r.cond == nil || r.cond(stem) {
				return stem + r.repl
			}
			return w
		}
	}
	return w
}

func mPositive(stem string) bool { return measure(stem) > 0 }
func mAboveOne(stem string) bool { return measure(stem) > 1 }

func step1a(w string) string {
	if strings.HasSuffix(w, "ies") && len(w) == 4 {
		return w[:1] + "ie"
	}
	return applyRules(w, []porterRule{{"sses", "ss", nil}, {"ies", "i", nil}, {"ss", "ss", nil}, {"s", "", nil}})
}

func step1b(w string) string {
	if strings.HasSuffix(w, "ied") {
		if len(w) == 4 {
			return w[:1] + "ie"
		}
		return w[:len(w)-3] + "i"
	}
	if strings.HasSuffix(w, "eed") {
		if stem := w[:len(w)-3]; measure(stem) > 0 {
			return stem + "ee"
		}
		return w
	}
	var stem string
	switch {
	case strings.HasSuffix(w, "ed") && containsVowel(w[:len(w)-2]):
		stem = w[:len(w)-2]
	case strings.HasSuffix(w, "ing") && containsVowel(w[:len(w)-3]):
		stem = w[:len(w)-3]
	default:
		return w
	}
	// After removing -ed or -ing: at/bl/iz get their e back, a double consonant
	// other than l, s, z is undoubled, and a short cvc stem gets an e.
	for _, suf := range []string{"at", "bl", "iz"} {
		if strings.HasSuffix(stem, suf) {
			return stem + "e"
		}
	}
	if endsDoubleConsonant(stem) {
		last := stem[len(stem)-1]
		if last != 'l' && last != 's' && last != 'z' {
			return stem[:len(stem)-1]
		}
		return stem
	}
	if measure(stem) == 1 && endsCVC(stem) {
		return stem + "e"
	}
	return stem
}

func step1c(w string) string {
	// (*c and not c) Y -> I: happy -> happi, enjoy and by unchanged.
	if n := len(w); n > 0 && w[n-1] == 'y' {
		stem := w[:n-1]
		if len(stem) > 1 && isConsonant(stem, len(stem)-1) {
			return stem + "i"
		}
	}
	return w
}

var step2Rules = []porterRule{
	{"ational", "ate", mPositive},
	{"tional", "tion", mPositive},
	{"enci", "ence", mPositive},
	{"anci", "ance", mPositive},
	{"izer", "ize", mPositive},
	{"bli", "ble", mPositive},
	{"alli", "al", mPositive},
	{"entli", "ent", mPositive},
	{"eli", "e", mPositive},
	{"ousli", "ous", mPositive},
	{"ization", "ize", mPositive},
	{"ation", "ate", mPositive},
	{"ator", "ate", mPositive},
	{"alism", "al", mPositive},
	{"iveness", "ive", mPositive},
	{"fulness", "ful", mPositive},
	{"ousness", "ous", mPositive},
	{"aliti", "al", mPositive},
	{"iviti", "ive", mPositive},
	{"biliti", "ble", mPositive},
	{"fulli", "ful", mPositive},
	// "logi": NLTK tests the measure of the word minus "ogi", i.e. stem + "l".
	{"logi", "log", func(stem string) bool { return mPositive(stem + "l") }},
}

func step2(w string) string {
	if strings.HasSuffix(w, "alli") && mPositive(w[:len(w)-4]) {
		return step2(w[:len(w)-4] + "al")
	}
	return applyRules(w, step2Rules)
}

var step3Rules = []porterRule{
	{"icate", "ic", mPositive},
	{"ative", "", mPositive},
	{"alize", "al", mPositive},
	{"iciti", "ic", mPositive},
	{"ical", "ic", mPositive},
	{"ful", "", mPositive},
	{"ness", "", mPositive},
}

func step3(w string) string { return applyRules(w, step3Rules) }

var step4Rules = []porterRule{
	{"al", "", mAboveOne},
	{"ance", "", mAboveOne},
	{"ence", "", mAboveOne},
	{"er", "", mAboveOne},
	{"ic", "", mAboveOne},
	{"able", "", mAboveOne},
	{"ible", "", mAboveOne},
	{"ant", "", mAboveOne},
	{"ement", "", mAboveOne},
	{"ment", "", mAboveOne},
	{"ent", "", mAboveOne},
	{"ion", "", func(stem string) bool {
		return mAboveOne(stem) && (stem[len(stem)-1] == 's' || stem[len(stem)-1] == 't')
	}},
	{"ou", "", mAboveOne},
	{"ism", "", mAboveOne},
	{"ate", "", mAboveOne},
	{"iti", "", mAboveOne},
	{"ous", "", mAboveOne},
	{"ive", "", mAboveOne},
	{"ize", "", mAboveOne},
}

func step4(w string) string { return applyRules(w, step4Rules) }

func step5a(w string) string {
	if !strings.HasSuffix(w, "e") {
		return w
	}
	stem := w[:len(w)-1]
	if m := measure(stem); m > 1 || (m == 1 && !endsCVC(stem)) {
		return stem
	}
	return w
}

func step5b(w string) string {
	// (m > 1 and *d and *L): NLTK measures the word minus its last l.
	if strings.HasSuffix(w, "ll") && measure(w[:len(w)-1]) > 1 {
		return w[:len(w)-1]
	}
	return w
}
