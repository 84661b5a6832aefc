package glue

// GLUE metrics with the exact definitions of the reference implementations
// the GLUE leaderboard and Hugging Face's evaluate use: scikit-learn for
// accuracy, F1 and Matthews correlation, SciPy for Pearson and Spearman.
// Arguments are (gold, pred) in scikit-learn's (y_true, y_pred) order; all
// of these metrics happen to be symmetric in the two. The functions panic if
// the slices differ in length (a programming error); Compute checks its
// inputs and returns errors instead.

import (
	"fmt"
	"math"
	"sort"
)

func mustSameLen(a, b int) {
	if a != b {
		panic(fmt.Sprintf("glue: metric inputs differ in length: %d gold, %d predicted", a, b))
	}
}

// Accuracy is the fraction of predictions equal to the gold label
// (sklearn.metrics.accuracy_score). NaN for empty input.
func Accuracy(gold, pred []int) float64 {
	mustSameLen(len(gold), len(pred))
	if len(gold) == 0 {
		return math.NaN()
	}
	correct := 0
	for i := range gold {
		if gold[i] == pred[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(gold))
}

// F1 is the F1 score of the positive class 1, as sklearn.metrics.f1_score
// with average="binary": 2·TP / (2·TP + FP + FN). It is 0 when there are no
// true positives, including the case with no positive gold label and no
// positive prediction, where the ratio is 0/0 (scikit-learn's default
// zero_division returns 0 there too).
func F1(gold, pred []int) float64 {
	mustSameLen(len(gold), len(pred))
	var tp, fp, fn int
	for i := range gold {
		switch {
		case gold[i] == 1 && pred[i] == 1:
			tp++
		case gold[i] != 1 && pred[i] == 1:
			fp++
		case gold[i] == 1 && pred[i] != 1:
			fn++
		}
	}
	if tp == 0 {
		return 0
	}
	return 2 * float64(tp) / float64(2*tp+fp+fn)
}

// MCC is the Matthews correlation coefficient, computed as
// sklearn.metrics.matthews_corrcoef does (its multiclass form, which for two
// classes is (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))). With n
// examples, c correct, t_k gold and p_k predicted counts of class k:
//
//	MCC = (c·n − Σ t_k p_k) / sqrt((n² − Σ p_k²)(n² − Σ t_k²))
//
// It is 0 when the denominator is 0, i.e. when all gold labels or all
// predictions are one class (a CoLA model that always says "acceptable"
// scores 0, not NaN). Class ids must be non-negative.
func MCC(gold, pred []int) float64 {
	mustSameLen(len(gold), len(pred))
	n := len(gold)
	if n == 0 {
		return 0
	}
	goldCount := map[int]float64{}
	predCount := map[int]float64{}
	correct := 0.0
	for i := range gold {
		goldCount[gold[i]]++
		predCount[pred[i]]++
		if gold[i] == pred[i] {
			correct++
		}
	}
	var tp, pp, tt float64 // Σ t_k p_k, Σ p_k², Σ t_k²
	for k, t := range goldCount {
		tp += t * predCount[k]
		tt += t * t
	}
	for _, p := range predCount {
		pp += p * p
	}
	// float64 throughout: n⁴ overflows int64 from n ≈ 55k (QQP dev has 40k
	// rows, MNLI train 393k).
	nf := float64(n)
	covGoldPred := correct*nf - tp
	covPredPred := nf*nf - pp
	covGoldGold := nf*nf - tt
	if covPredPred*covGoldGold == 0 {
		return 0
	}
	return covGoldPred / math.Sqrt(covGoldGold*covPredPred)
}

// Pearson is Pearson's correlation coefficient r, as scipy.stats.pearsonr
// computes it: centre both vectors, scale each by its largest absolute
// deviation (against overflow), normalise, take the dot product and clip to
// [−1, 1].
//
// It returns NaN, as SciPy does, when either input is constant (the
// correlation is undefined), and also for fewer than 2 points (where SciPy
// raises). The NaN is passed on, not replaced by 0, so that a collapsed STS-B
// model is visible in the results; note that encoding/json refuses NaN, so a
// caller writing JSON must handle it.
func Pearson(gold, pred []float64) float64 {
	mustSameLen(len(gold), len(pred))
	if len(gold) < 2 {
		return math.NaN()
	}
	x := centreAndScale(gold)
	y := centreAndScale(pred)
	if x == nil || y == nil {
		return math.NaN()
	}
	nx, ny := norm2(x), norm2(y)
	var r float64
	for i := range x {
		r += (x[i] / nx) * (y[i] / ny)
	}
	return math.Max(-1, math.Min(1, r))
}

// centreAndScale returns (v − mean) / max|v − mean|, or nil if v is constant
// (SciPy's test is "all values equal to the first").
func centreAndScale(v []float64) []float64 {
	constant := true
	for _, x := range v[1:] {
		if x != v[0] {
			constant = false
			break
		}
	}
	if constant {
		return nil
	}
	mean := 0.0
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	out := make([]float64, len(v))
	maxAbs := 0.0
	for i, x := range v {
		out[i] = x - mean
		maxAbs = math.Max(maxAbs, math.Abs(out[i]))
	}
	for i := range out {
		out[i] /= maxAbs
	}
	return out
}

func norm2(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

// Spearman is Spearman's rank correlation rho, as scipy.stats.spearmanr
// computes it: the Pearson correlation of the ranks, where tied values all
// get the average of the ranks they span (scipy.stats.rankdata's "average"
// method). NaN when either input is constant or has fewer than 2 points,
// as for Pearson.
func Spearman(gold, pred []float64) float64 {
	mustSameLen(len(gold), len(pred))
	if len(gold) < 2 {
		return math.NaN()
	}
	return Pearson(AverageRanks(gold), AverageRanks(pred))
}

// AverageRanks returns the 1-based ranks of v, ties sharing the mean of the
// ranks they occupy (scipy.stats.rankdata(v, method="average")); e.g.
// [10, 20, 20, 30] → [1, 2.5, 2.5, 4].
func AverageRanks(v []float64) []float64 {
	order := make([]int, len(v))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return v[order[a]] < v[order[b]] })
	ranks := make([]float64, len(v))
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && v[order[end]] == v[order[start]] {
			end++
		}
		// Positions start..end-1 hold equal values: ranks start+1..end,
		// whose mean is (start+1+end)/2.
		r := float64(start+1+end) / 2
		for _, i := range order[start:end] {
			ranks[i] = r
		}
		start = end
	}
	return ranks
}

// Compute scores predictions against gold examples and returns one entry
// per metric of task.Metrics ("accuracy", "f1", "mcc", "pearson",
// "spearman"). preds[i] is the prediction for gold[i]: a class id written as
// a float (0, 1, 2) for classification, the predicted score for STS-B.
//
// Errors: lengths differ, no examples, an unlabelled gold example, a class
// prediction that is not an integer id of the task, or a NaN/Inf STS-B
// prediction. Pearson and Spearman may still be NaN (constant predictions);
// see Pearson.
func Compute(task Task, preds []float64, gold []Example) (map[string]float64, error) {
	if err := checkTask(task); err != nil {
		return nil, err
	}
	if len(preds) != len(gold) {
		return nil, fmt.Errorf("glue: %s: %d predictions for %d examples", task.Name, len(preds), len(gold))
	}
	if len(gold) == 0 {
		return nil, fmt.Errorf("glue: %s: no examples to score", task.Name)
	}
	for i, ex := range gold {
		if !ex.HasLabel {
			return nil, fmt.Errorf("glue: %s: example %d (idx %d) has no gold label (a test split?)", task.Name, i, ex.Idx)
		}
	}
	out := map[string]float64{}
	if task.IsRegression() {
		g := make([]float64, len(gold))
		for i, ex := range gold {
			if math.IsNaN(preds[i]) || math.IsInf(preds[i], 0) {
				return nil, fmt.Errorf("glue: %s: prediction %d (idx %d) is %v", task.Name, i, ex.Idx, preds[i])
			}
			g[i] = ex.Score
		}
		for _, m := range task.Metrics {
			switch m {
			case MetricPearson:
				out[m] = Pearson(g, preds)
			case MetricSpearman:
				out[m] = Spearman(g, preds)
			default:
				return nil, fmt.Errorf("glue: %s: metric %q does not apply to a regression task", task.Name, m)
			}
		}
		return out, nil
	}
	g := make([]int, len(gold))
	p := make([]int, len(gold))
	for i, ex := range gold {
		x := preds[i]
		if x != math.Trunc(x) || x < 0 || x >= float64(task.NumLabels) {
			return nil, fmt.Errorf("glue: %s: prediction %d (idx %d) is %v, want a class id 0..%d", task.Name, i, ex.Idx, x, task.NumLabels-1)
		}
		g[i], p[i] = ex.Label, int(x)
	}
	for _, m := range task.Metrics {
		switch m {
		case MetricAccuracy:
			out[m] = Accuracy(g, p)
		case MetricF1:
			out[m] = F1(g, p)
		case MetricMCC:
			out[m] = MCC(g, p)
		default:
			return nil, fmt.Errorf("glue: %s: metric %q does not apply to a classification task", task.Name, m)
		}
	}
	return out, nil
}
