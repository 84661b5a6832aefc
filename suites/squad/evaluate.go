package squad

// Scoring as the official evaluation scripts do it, line for line where the
// numbers depend on it (the order of float sums, the best-threshold walk), so that
// a predictions file gets the very numbers evaluate-v1.1.py / evaluate-v2.0.py print.

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DefaultNAThreshold is evaluate-v2.0.py's --na-prob-thresh default: a question
// whose no-answer probability exceeds it is scored as answered "no answer".
const DefaultNAThreshold = 1.0

// Evaluate scores predictions (question id → answer text, "" for no answer) with
// the official script of ds.Version. Scores are percentages, counts are counts:
//
//	v1.1: exact_match, f1
//	v2.0: exact, f1, total, HasAns_exact, HasAns_f1, HasAns_total, NoAns_exact,
//	      NoAns_f1, NoAns_total, and, when naProbs is given, best_exact,
//	      best_exact_thresh, best_f1, best_f1_thresh
//
// (HasAns_* only if the data has answerable questions, NoAns_* only if it has
// unanswerable ones, as the script does.) naProbs maps question ids to no-answer
// probabilities or any no-answer score (the null odds run_qa writes); nil means no
// na_prob file. naThreshold is the script's --na-prob-thresh. v1.1 ignores both.
//
// The v2.0 best-threshold search walks the questions by increasing probability
// and breaks ties in the na_prob file's key order; Evaluate takes them in sorted
// id order, the order WriteNAProbs writes. For a file in another order use
// EvaluateInOrder with the order ReadNAProbs returns.
//
// Where the official script stops with an error, so does Evaluate: v2.0 needs a
// prediction for every question and, with naProbs, a probability for every one.
// v1.1 scores an unanswered question 0, as its script does.
func Evaluate(ds Dataset, preds map[string]string, naProbs map[string]float64, naThreshold float64) (map[string]float64, error) {
	var order []string
	if naProbs != nil {
		order = make([]string, 0, len(naProbs))
		for id := range naProbs {
			order = append(order, id)
		}
		slices.Sort(order)
	}
	return EvaluateInOrder(ds, preds, naProbs, order, naThreshold)
}

// EvaluateInOrder is Evaluate with the na_prob file's key order given (naOrder
// lists the keys of naProbs, each once).
func EvaluateInOrder(ds Dataset, preds map[string]string, naProbs map[string]float64, naOrder []string, naThreshold float64) (map[string]float64, error) {
	if len(ds.Examples) == 0 {
		return nil, errors.New("squad: no questions to score")
	}
	switch ds.Version {
	case V1:
		return evaluateV1(ds, preds), nil
	case V2:
		return evaluateV2(ds, preds, naProbs, naOrder, naThreshold)
	}
	return nil, fmt.Errorf("squad: dataset version %q, want %s or %s", ds.Version, V1, V2)
}

// Missing lists the questions of ds without a prediction.
func Missing(ds Dataset, preds map[string]string) []string {
	var out []string
	for _, ex := range ds.Examples {
		if _, ok := preds[ex.ID]; !ok {
			out = append(out, ex.ID)
		}
	}
	return out
}

// --- v1.1 ---------------------------------------------------------------------------

// evaluateV1 is evaluate-v1.1.py's evaluate(): maxima over the gold answers, summed
// in file order, unanswered questions counting 0 in the total.
func evaluateV1(ds Dataset, preds map[string]string) map[string]float64 {
	var exact, f1 float64
	for _, ex := range ds.Examples {
		pred, ok := preds[ex.ID]
		if !ok {
			continue
		}
		var bestExact, bestF1 float64
		for i, a := range ex.Answers {
			e, f := 0.0, f1V1(pred, a.Text)
			if NormalizeAnswer(pred) == NormalizeAnswer(a.Text) {
				e = 1
			}
			if i == 0 || e > bestExact {
				bestExact = e
			}
			if i == 0 || f > bestF1 {
				bestF1 = f
			}
		}
		exact += bestExact
		f1 += bestF1
	}
	total := float64(len(ds.Examples))
	return map[string]float64{"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total}
}

// f1V1 is evaluate-v1.1.py's f1_score: no special case for empty answers, so an
// empty prediction scores 0.
func f1V1(prediction, truth string) float64 {
	p, g := pySplit(NormalizeAnswer(prediction)), pySplit(NormalizeAnswer(truth))
	same := common(p, g)
	if same == 0 {
		return 0
	}
	return tokenF1(same, len(p), len(g))
}

// common is sum((Counter(a) & Counter(b)).values()): tokens shared, with multiplicity.
func common(a, b []string) int {
	count := map[string]int{}
	for _, t := range a {
		count[t]++
	}
	n := 0
	for _, t := range b {
		if count[t] > 0 {
			count[t]--
			n++
		}
	}
	return n
}

// tokenF1 is the scripts' harmonic mean, operation for operation.
func tokenF1(same, nPred, nGold int) float64 {
	precision := 1.0 * float64(same) / float64(nPred)
	recall := 1.0 * float64(same) / float64(nGold)
	return (2 * precision * recall) / (precision + recall)
}

// --- v2.0 ---------------------------------------------------------------------------

// ComputeExact is evaluate-v2.0.py's compute_exact.
func ComputeExact(gold, pred string) float64 {
	if NormalizeAnswer(gold) == NormalizeAnswer(pred) {
		return 1
	}
	return 0
}

// ComputeF1 is evaluate-v2.0.py's compute_f1: when either side has no tokens (a
// no-answer), 1 if both have none, else 0.
func ComputeF1(gold, pred string) float64 {
	g, p := answerTokens(gold), answerTokens(pred)
	if len(g) == 0 || len(p) == 0 {
		if len(g) == len(p) {
			return 1
		}
		return 0
	}
	same := common(g, p)
	if same == 0 {
		return 0
	}
	return tokenF1(same, len(p), len(g))
}

// v2Gold is get_raw_scores' gold list: the answers that normalise to something,
// or [""] when none does (an unanswerable question).
func v2Gold(ex Example) []string {
	var gold []string
	for _, a := range ex.Answers {
		if NormalizeAnswer(a.Text) != "" {
			gold = append(gold, a.Text)
		}
	}
	if len(gold) == 0 {
		gold = []string{""}
	}
	return gold
}

// v2Raw holds get_raw_scores' per-question maxima, in dataset order.
type v2Raw struct {
	hasAns       []bool // make_qid_to_has_ans: bool(qa['answers'])
	exact, f1    []float64
	numNoAns     int
	has, no, all []int // question indices: answerable, unanswerable, all
}

func rawScores(ds Dataset, preds map[string]string) v2Raw {
	n := len(ds.Examples)
	r := v2Raw{hasAns: make([]bool, n), exact: make([]float64, n), f1: make([]float64, n), all: make([]int, n)}
	for i, ex := range ds.Examples {
		r.all[i] = i
		r.hasAns[i] = len(ex.Answers) > 0
		if r.hasAns[i] {
			r.has = append(r.has, i)
		} else {
			r.no = append(r.no, i)
		}
		pred := preds[ex.ID]
		for j, g := range v2Gold(ex) {
			e, f := ComputeExact(g, pred), ComputeF1(g, pred)
			if j == 0 || e > r.exact[i] {
				r.exact[i] = e
			}
			if j == 0 || f > r.f1[i] {
				r.f1[i] = f
			}
		}
	}
	r.numNoAns = len(r.no)
	return r
}

func evaluateV2(ds Dataset, preds map[string]string, naProbs map[string]float64, naOrder []string, thresh float64) (map[string]float64, error) {
	if miss := Missing(ds, preds); len(miss) > 0 {
		return nil, fmt.Errorf("squad: no prediction for %d of %d questions (first %q); the official v2.0 script needs one for every question", len(miss), len(ds.Examples), miss[0])
	}
	r := rawScores(ds, preds)
	na := make([]float64, len(ds.Examples)) // without an na_prob file the script uses 0.0
	if naProbs != nil {
		for i, ex := range ds.Examples {
			p, ok := naProbs[ex.ID]
			if !ok {
				return nil, fmt.Errorf("squad: no no-answer probability for question %q; the official v2.0 script needs one for every predicted question", ex.ID)
			}
			na[i] = p
		}
	}
	// apply_no_ans_threshold: above the threshold, the question counts as answered
	// "no answer", right exactly when it has none.
	exact, f1 := slices.Clone(r.exact), slices.Clone(r.f1)
	for i := range na {
		if na[i] > thresh {
			v := 0.0
			if !r.hasAns[i] {
				v = 1
			}
			exact[i], f1[i] = v, v
		}
	}
	out := map[string]float64{}
	mergeEval(out, "", exact, f1, r.all)
	if len(r.has) > 0 {
		mergeEval(out, "HasAns_", exact, f1, r.has)
	}
	if len(r.no) > 0 {
		mergeEval(out, "NoAns_", exact, f1, r.no)
	}
	if naProbs != nil {
		index := make(map[string]int, len(ds.Examples))
		for i, ex := range ds.Examples {
			index[ex.ID] = i
		}
		walk, err := thresholdWalk(naProbs, naOrder, index)
		if err != nil {
			return nil, err
		}
		out["best_exact"], out["best_exact_thresh"] = bestThreshold(ds, preds, r.exact, r.hasAns, na, walk, r.numNoAns)
		out["best_f1"], out["best_f1_thresh"] = bestThreshold(ds, preds, r.f1, r.hasAns, na, walk, r.numNoAns)
	}
	return out, nil
}

// mergeEval is make_eval_dict + merge_eval: percentages summed in qid order.
func mergeEval(out map[string]float64, prefix string, exact, f1 []float64, ids []int) {
	var e, f float64
	for _, i := range ids {
		e += exact[i]
		f += f1[i]
	}
	total := float64(len(ids))
	out[prefix+"exact"] = 100.0 * e / total
	out[prefix+"f1"] = 100.0 * f / total
	out[prefix+"total"] = total
}

// thresholdWalk is find_best_thresh's qid_list = sorted(na_probs, key=na_probs.get)
// (a stable sort, so ties stay in file order), keeping the dataset's questions.
func thresholdWalk(naProbs map[string]float64, naOrder []string, index map[string]int) ([]int, error) {
	if len(naOrder) != len(naProbs) {
		return nil, fmt.Errorf("squad: the no-answer order lists %d ids, the probabilities have %d", len(naOrder), len(naProbs))
	}
	ids := slices.Clone(naOrder)
	for _, id := range ids {
		if _, ok := naProbs[id]; !ok {
			return nil, fmt.Errorf("squad: the no-answer order lists %q, which has no probability", id)
		}
	}
	sort.SliceStable(ids, func(a, b int) bool { return naProbs[ids[a]] < naProbs[ids[b]] })
	var walk []int
	for _, id := range ids {
		if i, ok := index[id]; ok {
			walk = append(walk, i)
		}
	}
	return walk, nil
}

// bestThreshold is find_best_thresh: start from predicting "no answer" everywhere
// (the no-answer questions right), then lower the threshold past one question at a
// time, in increasing probability, taking its prediction instead; keep the best
// running score and the probability where it was reached.
func bestThreshold(ds Dataset, preds map[string]string, raw []float64, hasAns []bool, na []float64, walk []int, numNoAns int) (best, thresh float64) {
	cur := float64(numNoAns)
	best, thresh = cur, 0.0
	for _, i := range walk {
		var diff float64
		switch {
		case hasAns[i]:
			diff = raw[i]
		case preds[ds.Examples[i].ID] != "":
			diff = -1
		}
		cur += diff
		if cur > best {
			best, thresh = cur, na[i]
		}
	}
	return 100.0 * best / float64(len(raw)), thresh
}

// --- printing -----------------------------------------------------------------------

// officialKeys are the scripts' output keys in print order.
var officialKeys = map[string][]string{
	V1: {"exact_match", "f1"},
	V2: {"exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1", "NoAns_total",
		"best_exact", "best_exact_thresh", "best_f1", "best_f1_thresh"},
}

// OfficialKeys lists the keys of scores in the order the official script prints them.
func OfficialKeys(scores map[string]float64, version string) []string {
	var out []string
	for _, k := range officialKeys[version] {
		if _, ok := scores[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// PrintOfficial prints scores as the official script does: v1.1 prints
// json.dumps({"exact_match": ..., "f1": ...}), v2.0 json.dumps(out_eval, indent=2),
// floats in Python's repr and the *_total counts as integers.
func PrintOfficial(w io.Writer, scores map[string]float64, version string) error {
	keys := OfficialKeys(scores, version)
	if len(keys) == 0 {
		return fmt.Errorf("squad: no SQuAD %s scores to print in %v", version, scores)
	}
	var b strings.Builder
	items := make([]string, len(keys))
	for i, k := range keys {
		v := pyFloat(scores[k])
		if strings.HasSuffix(k, "total") {
			v = strconv.FormatFloat(scores[k], 'f', 0, 64)
		}
		items[i] = strconv.Quote(k) + ": " + v
	}
	if version == V1 {
		b.WriteString("{" + strings.Join(items, ", ") + "}\n")
	} else {
		b.WriteString("{\n  " + strings.Join(items, ",\n  ") + "\n}\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// pyFloat is Python's repr(float) as json.dumps writes it: the shortest digits that
// round-trip, fixed notation with at least one decimal for exponents -4..15,
// scientific (1e-05, 1.5e+16) otherwise.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expStr, _ := strings.Cut(sci, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp >= -4 && exp < 16 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	sign := "+"
	if exp < 0 {
		sign, exp = "-", -exp
	}
	return fmt.Sprintf("%se%s%02d", mant, sign, exp)
}
