package squad

import (
	"fmt"
	"slices"
	"sort"
)

// NullScoreThreshold is run_qa's null_score_diff_threshold default: a v2.0
// question is answered "" when the null score beats the best span's by more.
const NullScoreThreshold = 0.0

// candidate is one answer span (or the null answer) with its score.
type candidate struct {
	from, to             int // characters of the context; 0, 0 for the null answer
	score                float32
	startLogit, endLogit float32
	text                 string
	null                 bool
}

// Postprocess turns start/end logits into answers, as transformers' run_qa
// (utils_qa.postprocess_qa_predictions) does. For each example, over all its
// windows: the nBest highest start and end logits of each window give candidate
// spans, kept when both ends are context tokens, end ≥ start and the span is at
// most maxAnswerLen tokens; a span's score is start + end logit; the nBest best
// spans over all windows are kept and the best one's text is cut from the
// original context by the offsets.
//
// For v2.0 (version2) the null answer competes: its score is start + end logit at
// [CLS], the minimum over the example's windows (every window must agree there is
// no answer). naProb[id] = null score − best span's score (run_qa's null odds),
// and the prediction is "" when that exceeds NullScoreThreshold (0). naProb is nil
// for v1.1.
//
// startLogits[i] and endLogits[i] belong to features[i]; rows may be longer than
// the feature (batch padding): positions past the feature's tokens are ignored
// before the n-best selection (run_qa lets them take n-best slots and then skips
// them, which only matters if padding outscores real tokens). Logits are float32
// and scores are summed in float32, as run_qa does on numpy float32 arrays. Ties
// between equal logits take the later position first (numpy's argsort reversed);
// ties between equal scores keep the earlier window and start (Python's stable sort).
func Postprocess(examples []Example, features []Feature, startLogits, endLogits [][]float32, nBest, maxAnswerLen int, version2 bool) (map[string]string, map[string]float64, error) {
	if len(startLogits) != len(features) || len(endLogits) != len(features) {
		return nil, nil, fmt.Errorf("squad: %d features but %d start and %d end logit rows", len(features), len(startLogits), len(endLogits))
	}
	if nBest <= 0 || maxAnswerLen <= 0 {
		return nil, nil, fmt.Errorf("squad: n-best %d and max answer length %d, want both > 0", nBest, maxAnswerLen)
	}
	byExample := make([][]int, len(examples))
	for i, f := range features {
		if f.Example < 0 || f.Example >= len(examples) || examples[f.Example].ID != f.ExampleID {
			return nil, nil, fmt.Errorf("squad: feature %d belongs to question %q (example %d), which is not in the examples given", i, f.ExampleID, f.Example)
		}
		if len(startLogits[i]) < len(f.Offsets) || len(endLogits[i]) < len(f.Offsets) {
			return nil, nil, fmt.Errorf("squad: feature %d has %d tokens but %d start and %d end logits", i, len(f.Offsets), len(startLogits[i]), len(endLogits[i]))
		}
		byExample[f.Example] = append(byExample[f.Example], i)
	}
	preds := make(map[string]string, len(examples))
	var naProb map[string]float64
	if version2 {
		naProb = make(map[string]float64, len(examples))
	}
	for e, ex := range examples {
		if len(byExample[e]) == 0 {
			return nil, nil, fmt.Errorf("squad: question %q has no features", ex.ID)
		}
		text, odds := answerExample(ex, features, byExample[e], startLogits, endLogits, nBest, maxAnswerLen, version2)
		preds[ex.ID] = text
		if version2 {
			naProb[ex.ID] = odds
		}
	}
	return preds, naProb, nil
}

// answerExample is the body of postprocess_qa_predictions' loop over examples.
func answerExample(ex Example, features []Feature, feats []int, startLogits, endLogits [][]float32, nBest, maxAnswerLen int, version2 bool) (string, float64) {
	var prelim []candidate
	var minNull *candidate
	for _, fi := range feats {
		f := features[fi]
		n := len(f.Offsets)
		start, end := startLogits[fi][:n], endLogits[fi][:n]
		null := start[f.CLS] + end[f.CLS]
		if minNull == nil || minNull.score > null {
			minNull = &candidate{score: null, startLogit: start[f.CLS], endLogit: end[f.CLS], null: true}
		}
		for _, s := range topIndices(start, nBest) {
			for _, e := range topIndices(end, nBest) {
				if f.Offsets[s][0] < 0 || f.Offsets[e][0] < 0 { // not context tokens
					continue
				}
				if e < s || e-s+1 > maxAnswerLen {
					continue
				}
				prelim = append(prelim, candidate{
					from: f.Offsets[s][0], to: f.Offsets[e][1],
					score: start[s] + end[e], startLogit: start[s], endLogit: end[e],
				})
			}
		}
	}
	if version2 {
		prelim = append(prelim, *minNull)
	}
	// sorted(prelim, key=score, reverse=True)[:n_best]: stable, so ties keep order.
	sort.SliceStable(prelim, func(a, b int) bool { return prelim[a].score > prelim[b].score })
	best := prelim[:min(nBest, len(prelim))]
	if version2 && !slices.ContainsFunc(best, func(c candidate) bool { return c.from == 0 && c.to == 0 }) {
		best = append(best, *minNull)
	}
	context := []rune(ex.Context)
	for i := range best {
		best[i].text = string(context[best[i].from:best[i].to])
	}
	// run_qa's fallback when nothing but the null answer survived.
	if len(best) == 0 || (len(best) == 1 && best[0].text == "") {
		best = append([]candidate{{text: "empty"}}, best...)
	}
	if !version2 {
		return best[0].text, 0
	}
	i := 0
	for best[i].text == "" {
		i++
	}
	diff := minNull.score - best[i].startLogit - best[i].endLogit
	if float64(diff) > NullScoreThreshold {
		return "", float64(diff)
	}
	return best[i].text, float64(diff)
}

// topIndices is np.argsort(x)[-1:-n-1:-1]: the n largest positions, largest first,
// equal values in decreasing position.
func topIndices(x []float32, n int) []int {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return x[idx[a]] < x[idx[b]] })
	slices.Reverse(idx)
	return idx[:min(n, len(idx))]
}
