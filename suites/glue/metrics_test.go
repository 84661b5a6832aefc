package glue

import (
	"math"
	"slices"
	"strings"
	"testing"
)

const tol = 1e-12

func near(a, b float64) bool { return math.Abs(a-b) <= tol }

func TestAccuracy(t *testing.T) {
	cases := []struct {
		name       string
		gold, pred []int
		want       float64
	}{
		// 2 of 4 agree (positions 0 and 2): 2/4.
		{"half", []int{1, 0, 1, 1}, []int{1, 1, 1, 0}, 0.5},
		{"all correct", []int{0, 1, 2}, []int{0, 1, 2}, 1},
		{"none correct", []int{0, 1}, []int{1, 0}, 0},
	}
	for _, c := range cases {
		if got := Accuracy(c.gold, c.pred); !near(got, c.want) {
			t.Errorf("%s: Accuracy = %v, want %v", c.name, got, c.want)
		}
	}
	if !math.IsNaN(Accuracy(nil, nil)) {
		t.Error("Accuracy of nothing should be NaN")
	}
}

func TestF1(t *testing.T) {
	cases := []struct {
		name       string
		gold, pred []int
		want       float64
	}{
		// TP = 2 (positions 0, 3), FP = 1 (1), FN = 1 (2):
		// 2·2 / (2·2 + 1 + 1) = 4/6.
		{"hand worked", []int{1, 0, 1, 1, 0}, []int{1, 1, 0, 1, 0}, 4.0 / 6},
		{"perfect", []int{1, 0, 1}, []int{1, 0, 1}, 1},
		// No true positive: 0 whatever the rest.
		{"no true positive", []int{1, 1, 0}, []int{0, 0, 1}, 0},
		// No positive gold and no positive prediction: 0/0, defined as 0 as
		// in scikit-learn (zero_division default), although accuracy is 1.
		{"no positives at all", []int{0, 0, 0}, []int{0, 0, 0}, 0},
		// Never predicting the positive class: recall 0, F1 0.
		{"never predicts positive", []int{1, 0, 1}, []int{0, 0, 0}, 0},
	}
	for _, c := range cases {
		if got := F1(c.gold, c.pred); !near(got, c.want) {
			t.Errorf("%s: F1 = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestMCC(t *testing.T) {
	cases := []struct {
		name       string
		gold, pred []int
		want       float64
	}{
		// TP = 2, FN = 1, TN = 2, FP = 1:
		// (TP·TN − FP·FN) / sqrt((TP+FP)(TP+FN)(TN+FP)(TN+FN))
		// = (4 − 1) / sqrt(3·3·3·3) = 3/9.
		{"hand worked", []int{1, 1, 1, 0, 0, 0}, []int{1, 1, 0, 0, 0, 1}, 1.0 / 3},
		{"all correct", []int{1, 0, 1, 0, 0}, []int{1, 0, 1, 0, 0}, 1},
		{"perfectly wrong binary", []int{1, 0, 1, 0, 0}, []int{0, 1, 0, 1, 1}, -1},
		// One class never predicted: Σp_k² = n², the denominator is 0, and
		// scikit-learn returns 0 (a constant CoLA model scores 0).
		{"one class never predicted", []int{1, 0, 1, 0}, []int{1, 1, 1, 1}, 0},
		// Gold is one class: same, 0.
		{"constant gold", []int{1, 1, 1}, []int{1, 0, 1}, 0},
		{"empty", nil, nil, 0},
		// Three classes, n = 6, c = 4 correct; gold counts (2, 2, 2),
		// predicted (3, 2, 1): Σ t_k p_k = 6 + 4 + 2 = 12, Σ p_k² = 14,
		// Σ t_k² = 12: (4·6 − 12) / sqrt((36 − 14) · (36 − 12))
		// = 12 / sqrt(22·24).
		{"three classes", []int{0, 0, 1, 1, 2, 2}, []int{0, 0, 0, 1, 2, 1}, 12 / math.Sqrt(22*24)},
	}
	for _, c := range cases {
		if got := MCC(c.gold, c.pred); !near(got, c.want) {
			t.Errorf("%s: MCC = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestPearson(t *testing.T) {
	// x = (1, 2, 3), y = (2, 4, 7): means 2 and 13/3, deviations
	// (−1, 0, 1) and (−7/3, −1/3, 8/3); Σ dx·dy = 7/3 + 8/3 = 5,
	// Σ dx² = 2, Σ dy² = (49 + 1 + 64)/9 = 114/9;
	// r = 5 / sqrt(2 · 114/9) = 15 / sqrt(228).
	if got, want := Pearson([]float64{1, 2, 3}, []float64{2, 4, 7}), 15/math.Sqrt(228); !near(got, want) {
		t.Errorf("Pearson = %v, want %v", got, want)
	}
	if got := Pearson([]float64{1, 2, 3}, []float64{-2, -4, -6}); !near(got, -1) {
		t.Errorf("perfect negative: %v", got)
	}
	// Undefined cases are NaN, as in SciPy, not 0.
	for _, c := range [][2][]float64{
		{{1, 2, 3}, {2, 2, 2}}, // constant prediction
		{{4, 4}, {1, 2}},       // constant gold
		{{1}, {2}},             // one point
		{nil, nil},
	} {
		if got := Pearson(c[0], c[1]); !math.IsNaN(got) {
			t.Errorf("Pearson(%v, %v) = %v, want NaN", c[0], c[1], got)
		}
	}
	// Large offsets: centring must happen before squaring.
	if got := Pearson([]float64{1e9 + 1, 1e9 + 2, 1e9 + 3}, []float64{2, 4, 7}); math.Abs(got-15/math.Sqrt(228)) > 1e-9 {
		t.Errorf("offset data: %v", got)
	}
}

func TestAverageRanks(t *testing.T) {
	cases := []struct{ in, want []float64 }{
		{[]float64{10, 20, 20, 30}, []float64{1, 2.5, 2.5, 4}},
		// 1 → 1, 2 → 2, the three 3s share ranks 3, 4, 5 → 4.
		{[]float64{3, 1, 3, 3, 2}, []float64{4, 1, 4, 4, 2}},
		{[]float64{7, 7}, []float64{1.5, 1.5}},
		{nil, []float64{}},
	}
	for _, c := range cases {
		if got := AverageRanks(c.in); !slices.Equal(got, c.want) {
			t.Errorf("AverageRanks(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestSpearman(t *testing.T) {
	// x = (1, 2, 2, 3) ranks (1, 2.5, 2.5, 4); y = (1, 3, 2, 4) ranks
	// (1, 3, 2, 4). Both have mean 2.5; deviations (−1.5, 0, 0, 1.5) and
	// (−1.5, 0.5, −0.5, 1.5): Σ = 2.25 + 2.25 = 4.5, Σdx² = 4.5, Σdy² = 5;
	// rho = 4.5 / sqrt(4.5 · 5) = sqrt(0.9).
	if got, want := Spearman([]float64{1, 2, 2, 3}, []float64{1, 3, 2, 4}), math.Sqrt(0.9); !near(got, want) {
		t.Errorf("Spearman with ties = %v, want %v", got, want)
	}
	// Monotone but not linear: rho 1, Pearson below 1.
	x, y := []float64{1, 2, 3, 4}, []float64{1, 10, 100, 1000}
	if got := Spearman(x, y); !near(got, 1) {
		t.Errorf("monotone: %v", got)
	}
	if !math.IsNaN(Spearman([]float64{1, 2, 3}, []float64{5, 5, 5})) {
		t.Error("constant input should give NaN")
	}
}

// TestAgainstReferenceImplementations compares with numbers computed once
// with scikit-learn 1.9.1 and SciPy 1.17.1 (numpy 1.26.4):
//
//	python3 -c "from sklearn.metrics import accuracy_score as a, f1_score as f, matthews_corrcoef as m; g=[1,0,1,1,0,1,0,0,1,1,0,1]; p=[1,0,0,1,1,1,0,1,1,0,0,1]; print(repr(a(g,p)), repr(f(g,p)), repr(m(g,p)))"
//	→ 0.6666666666666666 0.7142857142857143 0.3142857142857143
//	python3 -c "from sklearn.metrics import matthews_corrcoef as m; print(repr(m([0,1,2,0,1,2,0,1,2,2],[0,2,2,0,1,1,0,0,2,2])))"
//	→ 0.5539117094069973
//	python3 -c "from scipy.stats import pearsonr, spearmanr; x=[5.0,3.8,3.8,2.6,4.25,4.25,0.5,1.6,2.2,0.0]; y=[4.6,3.1,3.9,2.9,4.0,3.7,1.2,1.2,2.5,0.4]; print(repr(pearsonr(x,y).statistic), repr(spearmanr(x,y).statistic))"
//	→ 0.9720409532157758 0.9663653750041353
func TestAgainstReferenceImplementations(t *testing.T) {
	g := []int{1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1}
	p := []int{1, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1}
	g3 := []int{0, 1, 2, 0, 1, 2, 0, 1, 2, 2}
	p3 := []int{0, 2, 2, 0, 1, 1, 0, 0, 2, 2}
	x := []float64{5.0, 3.8, 3.8, 2.6, 4.25, 4.25, 0.5, 1.6, 2.2, 0.0}
	y := []float64{4.6, 3.1, 3.9, 2.9, 4.0, 3.7, 1.2, 1.2, 2.5, 0.4}
	cases := []struct {
		name      string
		got, want float64
	}{
		{"accuracy_score", Accuracy(g, p), 0.6666666666666666},
		{"f1_score", F1(g, p), 0.7142857142857143},
		{"matthews_corrcoef", MCC(g, p), 0.3142857142857143},
		{"matthews_corrcoef 3 classes", MCC(g3, p3), 0.5539117094069973},
		{"pearsonr", Pearson(x, y), 0.9720409532157758},
		{"spearmanr (ties in both)", Spearman(x, y), 0.9663653750041353},
	}
	for _, c := range cases {
		if !near(c.got, c.want) {
			t.Errorf("%s: %.17g, reference %.17g", c.name, c.got, c.want)
		}
	}
}

func examples(labels ...int) []Example {
	out := make([]Example, len(labels))
	for i, l := range labels {
		out[i] = Example{Idx: i, Label: l, HasLabel: true}
	}
	return out
}

func TestCompute(t *testing.T) {
	stsbGold := []Example{{Idx: 0, Score: 1, HasLabel: true}, {Idx: 1, Score: 2, HasLabel: true}, {Idx: 2, Score: 2, HasLabel: true}, {Idx: 3, Score: 3, HasLabel: true}}
	cases := []struct {
		task  string
		preds []float64
		gold  []Example
		want  map[string]float64
	}{
		// Same vectors as TestMCC's hand-worked case.
		{"cola", []float64{1, 1, 0, 0, 0, 1}, examples(1, 1, 1, 0, 0, 0), map[string]float64{"mcc": 1.0 / 3}},
		{"sst2", []float64{1, 1, 1, 0}, examples(1, 0, 1, 1), map[string]float64{"accuracy": 0.5}},
		// Same as TestF1's hand-worked case; accuracy 3/5.
		{"mrpc", []float64{1, 1, 0, 1, 0}, examples(1, 0, 1, 1, 0), map[string]float64{"accuracy": 0.6, "f1": 4.0 / 6}},
		{"qqp", []float64{0, 0}, examples(0, 0), map[string]float64{"accuracy": 1, "f1": 0}},
		{"mnli", []float64{0, 1, 2, 2}, examples(0, 1, 2, 0), map[string]float64{"accuracy": 0.75}},
		{"qnli", []float64{1}, examples(1), map[string]float64{"accuracy": 1}},
		{"rte", []float64{0, 0}, examples(1, 0), map[string]float64{"accuracy": 0.5}},
		// As TestSpearman's tie case: Spearman sqrt(0.9); Pearson of
		// (1, 2, 2, 3) and (1, 3, 2, 4) is 4.5 / sqrt(2 · 5) by the same
		// arithmetic on the raw values (deviations (−1, 0, 0, 1) and
		// (−1.5, 0.5, −0.5, 1.5): Σ = 3, Σdx² = 2, Σdy² = 5 → 3/sqrt(10)).
		{"stsb", []float64{1, 3, 2, 4}, stsbGold, map[string]float64{"pearson": 3 / math.Sqrt(10), "spearman": math.Sqrt(0.9)}},
	}
	for _, c := range cases {
		t.Run(c.task, func(t *testing.T) {
			task := mustTask(t, c.task)
			got, err := Compute(task, c.preds, c.gold)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Errorf("keys %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if g, ok := got[k]; !ok || !near(g, v) {
					t.Errorf("%s = %v, want %v", k, g, v)
				}
			}
		})
	}
}

func TestComputeErrors(t *testing.T) {
	unlabelled := examples(0, 1)
	unlabelled[1].HasLabel = false
	cases := []struct {
		name, task string
		preds      []float64
		gold       []Example
		msg        string
	}{
		{"length mismatch", "rte", []float64{0}, examples(0, 1), "1 predictions for 2 examples"},
		{"empty", "rte", nil, nil, "no examples"},
		{"class id out of range", "rte", []float64{0, 2}, examples(0, 1), "prediction 1 (idx 1) is 2, want a class id 0..1"},
		{"fractional class", "mnli", []float64{0.5}, examples(0), "is 0.5"},
		{"negative class", "cola", []float64{-1}, examples(0), "is -1"},
		{"unlabelled gold", "rte", []float64{0, 1}, unlabelled, "idx 1) has no gold label"},
		{"NaN score", "stsb", []float64{math.NaN()}, []Example{{Score: 1, HasLabel: true}}, "is NaN"},
	}
	for _, c := range cases {
		_, err := Compute(mustTask(t, c.task), c.preds, c.gold)
		if err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.msg)
		}
	}
	// Constant STS-B predictions are not an error: Pearson is NaN and the
	// caller sees it.
	got, err := Compute(mustTask(t, "stsb"), []float64{2, 2}, []Example{{Score: 1, HasLabel: true}, {Score: 3, HasLabel: true}})
	if err != nil || !math.IsNaN(got["pearson"]) || !math.IsNaN(got["spearman"]) {
		t.Errorf("constant predictions: %v, %v", got, err)
	}
}
