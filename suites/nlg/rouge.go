// Package nlg is the summarisation suite (XSum, CNN/DailyMail): BART fine-tuned
// with VectorFit, LoRA or full fine-tuning, evaluated by ROUGE on generated
// summaries (SPEC §3–§4).
//
// This file is ROUGE exactly as Google's rouge-score 0.1.2 computes it with
//
//	RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
//
// which is what Hugging Face's evaluate.load("rouge") calls with use_stemmer=True,
// as transformers' examples/pytorch/summarization/run_summarization.py does. Scores are fractions;
// records and tables multiply by 100 as the paper does.
package nlg

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// RougeScore is one ROUGE type's precision, recall and F-measure for one pair,
// rouge-score's Score(precision, recall, fmeasure).
type RougeScore struct{ Precision, Recall, F float64 }

// RougeTypes are the keys of Rouge's and CorpusRouge's maps, in reporting order.
var RougeTypes = []string{"rouge1", "rouge2", "rougeL", "rougeLsum"}

// Rouge scores one prediction against one reference, as
// scorer.score(target=reference, prediction=prediction).
//
// rougeLsum treats every "\n"-separated line as a sentence (rouge-score without
// split_summaries). The Hugging Face summarisation example puts one sentence per
// line before scoring; PostprocessText does that here.
func Rouge(prediction, reference string) map[string]RougeScore {
	pred, ref := rougeTokenize(prediction), rougeTokenize(reference)
	return map[string]RougeScore{
		"rouge1":    ngramScore(ref, pred, 1),
		"rouge2":    ngramScore(ref, pred, 2),
		"rougeL":    lcsScore(ref, pred),
		"rougeLsum": summaryLCSScore(rougeLines(reference), rougeLines(prediction)),
	}
}

// CorpusRouge is the mean, over pairs, of each type's F-measure (fractions), as
// a map with the keys of RougeTypes. preds[i] is scored against refs[i]; the two
// must have the same length (an error otherwise). No pairs: all zeros.
//
// evaluate's rouge (use_aggregator=True, what run_summarization.py reports)
// returns rouge-score's BootstrapAggregator "mid" instead: the median of 1000
// means of resamples drawn with numpy's unseeded global generator, so it
// changes from run to run (by about 1e-3 on 260 XSum pairs, see
// testdata/README.md). Its expectation is the plain mean, which is reproducible,
// and the mean of per-pair F-measures is what the paper's tables report.
func CorpusRouge(preds, refs []string) (map[string]float64, error) {
	if len(preds) != len(refs) {
		return nil, fmt.Errorf("nlg: CorpusRouge: %d predictions for %d references (expected one prediction per reference)", len(preds), len(refs))
	}
	out := map[string]float64{}
	for _, k := range RougeTypes {
		out[k] = 0
	}
	if len(preds) == 0 {
		return out, nil
	}
	for i := range preds {
		for k, s := range Rouge(preds[i], refs[i]) {
			out[k] += s.F
		}
	}
	for k := range out {
		out[k] /= float64(len(preds))
	}
	return out, nil
}

// rougeTokenize is rouge_score.tokenize.tokenize with the Porter stemmer: Python's
// str.lower(), every run of characters outside [a-z0-9] becomes a separator,
// and tokens longer than 3 characters are stemmed.
//
// Python lowers the whole string first, so the only non-ASCII characters that
// can end up inside a token are the two whose full lower-case mapping holds
// ASCII letters (checked against Python for every code point by the fixture):
// U+0130 İ -> "i" + U+0307 (so "i" then a separator) and U+212A Kelvin sign -> "k".
// Bytes that are not valid UTF-8 (Python strings cannot hold them) separate.
func rougeTokenize(text string) []string {
	var tokens []string
	var cur []byte
	flush := func() {
		if len(cur) > 0 {
			tok := string(cur)
			if len(tok) > 3 {
				tok = porterStem(tok)
			}
			tokens = append(tokens, tok)
			cur = cur[:0]
		}
	}
	for i := 0; i < len(text); {
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			cur = append(cur, byte(r))
		case r >= 'A' && r <= 'Z':
			cur = append(cur, byte(r-'A'+'a'))
		case r == '\u212a': // KELVIN SIGN
			cur = append(cur, 'k')
		case r == '\u0130': // LATIN CAPITAL LETTER I WITH DOT ABOVE -> "i" U+0307
			cur = append(cur, 'i')
			flush()
		default:
			flush()
		}
	}
	flush()
	return tokens
}

// rougeLines is rougeLsum's get_sents without split_summaries: text.split("\n"),
// dropping empty strings (a line of only spaces or punctuation stays, with no
// tokens), each line tokenized on its own.
func rougeLines(text string) [][]string {
	var out [][]string
	for _, s := range strings.Split(text, "\n") {
		if s != "" {
			out = append(out, rougeTokenize(s))
		}
	}
	return out
}

// fmeasure is rouge-score's scoring.fmeasure (2PR/(P+R), 0 when P+R is 0).
func fmeasure(p, r float64) float64 {
	if p+r > 0 {
		return 2 * p * r / (p + r)
	}
	return 0
}

// ngramScore is _score_ngrams: clipped n-gram matches over the prediction's
// (precision) and the reference's (recall) n-gram counts, each at least 1.
func ngramScore(ref, pred []string, n int) RougeScore {
	refCounts, refTotal := ngrams(ref, n)
	predCounts, predTotal := ngrams(pred, n)
	hits := 0
	for g, c := range refCounts {
		hits += min(c, predCounts[g])
	}
	p := float64(hits) / float64(max(predTotal, 1))
	r := float64(hits) / float64(max(refTotal, 1))
	return RougeScore{p, r, fmeasure(p, r)}
}

// ngrams counts the n-grams of tokens (joined by a space: tokens never hold one).
func ngrams(tokens []string, n int) (map[string]int, int) {
	counts := map[string]int{}
	total := 0
	for i := 0; i+n <= len(tokens); i++ {
		counts[strings.Join(tokens[i:i+n], " ")]++
		total++
	}
	return counts, total
}

// lcsTable is _lcs_table: t[i][j] is the LCS length of ref[:i] and can[:j].
func lcsTable(ref, can []string) [][]int {
	t := make([][]int, len(ref)+1)
	for i := range t {
		t[i] = make([]int, len(can)+1)
	}
	for i := 1; i <= len(ref); i++ {
		for j := 1; j <= len(can); j++ {
			if ref[i-1] == can[j-1] {
				t[i][j] = t[i-1][j-1] + 1
			} else {
				t[i][j] = max(t[i-1][j], t[i][j-1])
			}
		}
	}
	return t
}

// lcsScore is _score_lcs (rougeL): zero if either side has no tokens.
func lcsScore(ref, pred []string) RougeScore {
	if len(ref) == 0 || len(pred) == 0 {
		return RougeScore{}
	}
	l := lcsTable(ref, pred)[len(ref)][len(pred)]
	p := float64(l) / float64(len(pred))
	r := float64(l) / float64(len(ref))
	return RougeScore{p, r, fmeasure(p, r)}
}

// lcsIndices is lcs_ind: the reference positions of one LCS, read back from the
// table with _backtrack_norec's tie-break (move left only when strictly better),
// which decides which LCS is found and so the union below.
func lcsIndices(ref, can []string) []int {
	t := lcsTable(ref, can)
	var idx []int
	i, j := len(ref), len(can)
	for i > 0 && j > 0 {
		switch {
		case ref[i-1] == can[j-1]:
			idx = append(idx, i-1)
			i--
			j--
		case t[i][j-1] > t[i-1][j]:
			j--
		default:
			i--
		}
	}
	return idx // in decreasing order; only the set matters
}

// summaryLCSScore is _summary_level_lcs (rougeLsum, ROUGE paper §3.2): for each
// reference sentence the union of its LCS with every candidate sentence; a
// token of that union is a hit while neither side's token count is used up (as
// ROUGE-1.5.5 does, to avoid double counting).
func summaryLCSScore(refSents, canSents [][]string) RougeScore {
	if len(refSents) == 0 || len(canSents) == 0 {
		return RougeScore{}
	}
	refCount, canCount := map[string]int{}, map[string]int{}
	m, n := 0, 0
	for _, s := range refSents {
		m += len(s)
		for _, tok := range s {
			refCount[tok]++
		}
	}
	for _, s := range canSents {
		n += len(s)
		for _, tok := range s {
			canCount[tok]++
		}
	}
	if m == 0 || n == 0 {
		return RougeScore{}
	}
	hits := 0
	for _, r := range refSents {
		union := make([]bool, len(r))
		for _, c := range canSents {
			for _, i := range lcsIndices(r, c) {
				union[i] = true
			}
		}
		for i, in := range union { // sorted positions, as _find_union
			if tok := r[i]; in && canCount[tok] > 0 && refCount[tok] > 0 {
				hits++
				canCount[tok]--
				refCount[tok]--
			}
		}
	}
	p := float64(hits) / float64(n)
	r := float64(hits) / float64(m)
	return RougeScore{p, r, fmeasure(p, r)}
}
