package squad

// Answer normalisation exactly as the official SQuAD evaluation scripts do it in
// Python 3:
//
//	def normalize_answer(s):
//	    return white_space_fix(remove_articles(remove_punc(lower(s))))
//
// Each step is written against Python's definition, not Go's nearest equivalent,
// because they differ on non-ASCII text:
//   - str.lower() maps İ (U+0130) to two code points "i̇" and lowers Σ to final ς
//     before a non-letter; Go's unicode.ToLower does neither.
//   - remove_punc drops ASCII string.punctuation only.
//   - the regex \b(a|an|the)\b uses Python's Unicode \w (str.isalnum() or "_"),
//     so "a" after "é" is not a word; Go's regexp \b is ASCII-only.
//   - str.split() also splits on U+001C..U+001F, which unicode.IsSpace does not
//     count as space.
// testdata/unicode.json, written by Python, checks every code point.

import (
	"strings"
	"unicode"
)

// punctuation is Python's string.punctuation.
const punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// NormalizeAnswer is the official scripts' normalize_answer: lower case, remove
// punctuation, remove the articles a/an/the, collapse whitespace.
func NormalizeAnswer(s string) string {
	return strings.Join(pySplit(removeArticles(removePunc(pyLower(s)))), " ")
}

// answerTokens is get_tokens of the v2.0 script (and the token list of v1.1's f1).
func answerTokens(s string) []string { return pySplit(NormalizeAnswer(s)) }

func removePunc(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x80 && strings.ContainsRune(punctuation, r) {
			return -1
		}
		return r
	}, s)
}

// removeArticles replaces every "a", "an" or "the" that is a whole run of word
// characters by one space: what re.sub(r"\b(a|an|the)\b", " ", s) does, since \b
// on both sides of a match made of word characters means the match is the whole run.
func removeArticles(s string) string {
	var b strings.Builder
	runes := []rune(s)
	for i := 0; i < len(runes); {
		if !isPyWord(runes[i]) {
			b.WriteRune(runes[i])
			i++
			continue
		}
		j := i
		for j < len(runes) && isPyWord(runes[j]) {
			j++
		}
		switch w := string(runes[i:j]); w {
		case "a", "an", "the":
			b.WriteByte(' ')
		default:
			b.WriteString(w)
		}
		i = j
	}
	return b.String()
}

// isPyWord is Python re's Unicode \w: str.isalnum() or underscore. isalnum is
// isalpha (categories L*) or isdecimal/isdigit/isnumeric (categories N*).
func isPyWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r)
}

// pySplit is str.split() with no argument: fields separated by runs of Python
// whitespace (str.isspace).
func pySplit(s string) []string { return strings.FieldsFunc(s, isPySpace) }

// isPySpace is str.isspace: White_Space, plus the information separators
// U+001C..U+001F that Python counts as space (their bidi class is B or S).
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyLower is Python's str.lower(): the full lowercase mapping, which differs from
// the simple one (unicode.ToLower) for İ only, and the Final_Sigma rule for Σ.
func pyLower(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	runes := []rune(s)
	var b strings.Builder
	for i, r := range runes {
		switch r {
		case 0x130: // LATIN CAPITAL LETTER I WITH DOT ABOVE: SpecialCasing maps it to i + U+0307
			b.WriteString("i\u0307")
		case 0x3a3: // GREEK CAPITAL LETTER SIGMA
			if finalSigma(runes, i) {
				b.WriteRune(0x3c2)
			} else {
				b.WriteRune(0x3c3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is CPython's handle_capital_sigma: Σ at i becomes final ς when a cased
// letter precedes it and none follows, case-ignorable characters skipped both ways.
func finalSigma(runes []rune, i int) bool {
	j := i - 1
	for j >= 0 && isCaseIgnorable(runes[j]) {
		j--
	}
	if j < 0 || !isCased(runes[j]) {
		return false
	}
	j = i + 1
	for j < len(runes) && isCaseIgnorable(runes[j]) {
		j++
	}
	return j == len(runes) || !isCased(runes[j])
}

// isCased is the Unicode Cased property: Lu, Ll, Lt, Other_Lowercase, Other_Uppercase.
func isCased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// isCaseIgnorable is the Unicode Case_Ignorable property: Mn, Me, Cf, Lm, Sk, and the
// Word_Break classes MidLetter, MidNumLet and Single_Quote (listed: Go has no
// Word_Break table).
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
