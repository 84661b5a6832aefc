package nlg

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentence splitting for ROUGE-Lsum.
//
// run_summarization.py's postprocess_text strips each text and joins
// nltk.sent_tokenize(text) with "\n" before scoring, so rougeLsum sees one
// sentence per line. nltk.sent_tokenize is the Punkt model trained on English
// (the nltk_data "punkt"/"punkt_tab" files), which is not a Python package and
// cannot be installed here; SplitSentences is a small documented rule instead:
//
//  1. every "\n" ends a sentence (Punkt keeps a newline inside a sentence, but
//     rougeLsum then splits on it anyway, so the effect is the same);
//  2. inside a line, a sentence ends after a run of '.', '!' or '?' (plus any
//     closing quotes or brackets right after it) that is followed by white
//     space and then a character that is not a lower-case letter;
//  3. except after a '.' that ends a single letter ("J. Smith"), a dotted
//     acronym ("U.S."), or one of the abbreviations in abbreviations
//     ("Mr. Smith", "Dr. No").
//
// Punkt also learns abbreviations and collocations from its training corpus and
// uses orthographic evidence (how often the next word is capitalised mid
// sentence) that this rule does not have; the two can differ on, e.g., an
// unlisted abbreviation before a capitalised word ("Gen. Motors" splits here)
// or a sentence ending in an initial. Only rougeLsum depends on the split.

// abbreviations are lower-cased words that do not end a sentence when followed
// by '.' (titles, months, common Latin and company abbreviations).
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "st": true,
	"sr": true, "jr": true, "gen": true, "gov": true, "sen": true, "rep": true,
	"rev": true, "capt": true, "col": true, "lt": true, "sgt": true, "cpl": true,
	"vs": true, "etc": true, "inc": true, "ltd": true, "co": true, "corp": true,
	"no": true, "nos": true, "vol": true, "fig": true, "approx": true,
	"jan": true, "feb": true, "mar": true, "apr": true, "jun": true, "jul": true,
	"aug": true, "sep": true, "sept": true, "oct": true, "nov": true, "dec": true,
}

// PostprocessText is run_summarization.py's postprocess_text for one text with
// SplitSentences in place of nltk.sent_tokenize: strip, then one sentence per
// line. Apply it to predictions and references before Rouge / CorpusRouge.
func PostprocessText(text string) string {
	return strings.Join(SplitSentences(text), "\n")
}

// SplitSentences splits text into sentences by the rule above; each sentence is
// trimmed of surrounding white space and empty ones are dropped.
func SplitSentences(text string) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		start := 0
		for _, cut := range sentenceEnds(line) {
			add(line[start:cut])
			start = cut
		}
		add(line[start:])
	}
	return out
}

// sentenceEnds lists the byte offsets in line just after each sentence end.
func sentenceEnds(line string) []int {
	var cuts []int
	for i := 0; i < len(line); {
		r, size := utf8.DecodeRuneInString(line[i:])
		if r != '.' && r != '!' && r != '?' {
			i += size
			continue
		}
		end := i
		for end < len(line) && strings.ContainsRune(".!?", rune(line[end])) {
			end++
		}
		for end < len(line) {
			c, n := utf8.DecodeRuneInString(line[end:])
			if !strings.ContainsRune("\"')]}’”»", c) {
				break
			}
			end += n
		}
		next := end
		for next < len(line) {
			c, n := utf8.DecodeRuneInString(line[next:])
			if !unicode.IsSpace(c) {
				break
			}
			next += n
		}
		if next > end && next < len(line) && !startsLower(line[next:]) &&
			!(line[i:i+1] == "." && end == i+1 && isAbbreviation(line[:i])) {
			cuts = append(cuts, end)
		}
		i = end
	}
	return cuts
}

func startsLower(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsLower(r)
}

// isAbbreviation reports whether the word just before a single '.' is an
// initial, a dotted acronym or a listed abbreviation.
func isAbbreviation(before string) bool {
	j := len(before)
	for j > 0 {
		r, n := utf8.DecodeLastRuneInString(before[:j])
		if !unicode.IsLetter(r) && r != '.' {
			break
		}
		j -= n
	}
	word := before[j:]
	if word == "" {
		return false
	}
	if strings.Contains(word, ".") || utf8.RuneCountInString(word) == 1 {
		return true
	}
	return abbreviations[strings.ToLower(word)]
}
