package squad

import (
	"path/filepath"
	"testing"

	"github.com/vectorfit/harness/models/tokenize"
)

// Two hand-made windows over "Paris is the capital of France":
//
//	A: [CLS] q [SEP] Paris is the [SEP]
//	B: [CLS] q [SEP] the capital of France [SEP]
func twoWindows() ([]Example, []Feature) {
	ex := []Example{{ID: "x", Context: "Paris is the capital of France", Answers: []Answer{{"France", 24}}}}
	none := [2]int{-1, -1}
	a := Feature{Example: 0, ExampleID: "x", CLS: 0, Offsets: [][2]int{none, none, none, {0, 5}, {6, 8}, {9, 12}, none}}
	b := Feature{Example: 0, ExampleID: "x", CLS: 0, Offsets: [][2]int{none, none, none, {9, 12}, {13, 20}, {21, 23}, {24, 30}, none}}
	return ex, []Feature{a, b}
}

func TestPostprocessTwoWindowsWorked(t *testing.T) {
	ex, fs := twoWindows()
	// Window A: "Paris" scores 5 + 4 = 9 (the best in A); null 1 + 1 = 2.
	// Window B: the question token (9) and the last [SEP] (8) have the highest
	// logits but are not context; "capital of France" scores 3.5 + 6 = 9.5, the best
	// overall; "France" 2 + 6 = 8; null 0.5 + 0.5 = 1. B's rows carry two padding
	// positions with huge logits, which must be ignored.
	start := [][]float32{
		{1, 0, 0, 5, 0.5, 2, -1},
		{0.5, 9, 0, 1, 3.5, 0, 2, -1, 100, 100},
	}
	end := [][]float32{
		{1, 0, 0, 4, 1, 0.5, -1},
		{0.5, 0, 0, 0, 2, 0, 6, 8, 100, 100},
	}
	cases := []struct {
		name          string
		nBest, maxLen int
		v2            bool
		want          string
		wantOdds      float64
	}{
		{"best span crosses into the second window", 20, 30, false, "capital of France", 0},
		// capital..France is 3 tokens: over the limit; Paris (9) beats France (8).
		{"max answer length 2", 20, 2, false, "Paris", 0},
		// n-best 1: A's top start and end are both "Paris"; B's are the question
		// token and [SEP], so B offers nothing.
		{"n-best 1", 1, 30, false, "Paris", 0},
		// v2.0: null = min(2, 1) = 1 (window B); 1 − 3.5 − 6 = −8.5 < 0: answer.
		{"v2.0 answer", 20, 30, true, "capital of France", -8.5},
	}
	for _, c := range cases {
		preds, na, err := Postprocess(ex, fs, start, end, c.nBest, c.maxLen, c.v2)
		if err != nil {
			t.Fatal(err)
		}
		if preds["x"] != c.want {
			t.Errorf("%s: prediction %q, want %q", c.name, preds["x"], c.want)
		}
		if c.v2 && na["x"] != c.wantOdds {
			t.Errorf("%s: null odds %v, want %v", c.name, na["x"], c.wantOdds)
		}
		if !c.v2 && na != nil {
			t.Errorf("%s: v1.1 returned no-answer scores %v", c.name, na)
		}
	}

	// v2.0, [CLS] high in both windows: nulls 20 (A) and 12 (B). The minimum, 12,
	// counts: 12 − 3.5 − 6 = 2.5 > 0, so the prediction is "".
	start[0][0], end[0][0], start[1][0], end[1][0] = 10, 10, 6, 6
	preds, na, err := Postprocess(ex, fs, start, end, 20, 30, true)
	if err != nil {
		t.Fatal(err)
	}
	if preds["x"] != "" || na["x"] != 2.5 {
		t.Errorf("null wins: prediction %q odds %v, want \"\" and 2.5", preds["x"], na["x"])
	}
}

// Equal scores keep the earlier window (Python's stable sort): "Paris" in A and
// "capital of France" in B both score 9.
func TestPostprocessTiesKeepEarlierWindow(t *testing.T) {
	ex, fs := twoWindows()
	start := [][]float32{{0, 0, 0, 5, 0, 0, 0}, {0, 0, 0, 0, 3, 0, 0, 0}}
	end := [][]float32{{0, 0, 0, 4, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 6, 0}}
	preds, _, err := Postprocess(ex, fs, start, end, 20, 30, false)
	if err != nil {
		t.Fatal(err)
	}
	if preds["x"] != "Paris" {
		t.Errorf("tie: %q, want the earlier window's \"Paris\"", preds["x"])
	}
}

// run_qa's fallback: no valid span at all gives "empty" (v1.1), and for v2.0 the
// null answer against that fake span's zero logits.
func TestPostprocessNoSpan(t *testing.T) {
	ex, fs := twoWindows()
	fs = fs[:1]
	// n-best 1 and the top logits on [SEP] / question tokens: no candidate.
	start := [][]float32{{0, 3, 0, 1, 1, 1, 0}}
	end := [][]float32{{0, 0, 0, 1, 1, 1, 3}}
	preds, _, err := Postprocess(ex, fs, start, end, 1, 30, false)
	if err != nil {
		t.Fatal(err)
	}
	if preds["x"] != "empty" {
		t.Errorf("v1.1 without candidates: %q, want \"empty\"", preds["x"])
	}
	preds, na, err := Postprocess(ex, fs, start, end, 1, 30, true)
	if err != nil {
		t.Fatal(err)
	}
	// null = 0 + 0; fake span logits 0 and 0: odds 0, not above the threshold.
	if preds["x"] != "empty" || na["x"] != 0 {
		t.Errorf("v2.0 without candidates: %q odds %v, want \"empty\" and 0", preds["x"], na["x"])
	}
}

func TestPostprocessErrors(t *testing.T) {
	ex, fs := twoWindows()
	start := [][]float32{{0, 0, 0, 0, 0, 0, 0}}
	if _, _, err := Postprocess(ex, fs, start, start, 20, 30, false); err == nil {
		t.Error("one logit row for two features: no error")
	}
	short := [][]float32{{0, 0}, {0, 0}}
	if _, _, err := Postprocess(ex, fs, short, short, 20, 30, false); err == nil {
		t.Error("rows shorter than the features: no error")
	}
	fs[1].ExampleID = "y"
	rows := [][]float32{make([]float32, 7), make([]float32, 8)}
	if _, _, err := Postprocess(ex, fs, rows, rows, 20, 30, false); err == nil {
		t.Error("a feature of another question: no error")
	}
}

// Features and post-processing together: logits that point at each window's
// targets must give back the gold answers (an oracle), on the real v2.0 dev
// subset with its unanswerable questions and non-ASCII contexts. Token
// boundaries can make a span longer than the gold text, so 100 is not guaranteed
// in general (the v1.1 subset gives 98.97 exact, 99.13 F1); on this subset every
// answer comes back.
func TestOracleLogitsRecoverAnswers(t *testing.T) {
	ds := mustLoad(t, filepath.Join(sharedSQuAD, "dev-v2.0.subset.json"), "")
	fs, err := BuildFeatures(ds.Examples, tokenize.Builtin(), DefaultMaxLen, DefaultDocStride, DefaultMaxQueryLen)
	if err != nil {
		t.Fatal(err)
	}
	start, end := make([][]float32, len(fs)), make([][]float32, len(fs))
	for i, f := range fs {
		start[i], end[i] = make([]float32, len(f.InputIDs)), make([]float32, len(f.InputIDs))
		start[i][f.StartPos] += 10
		end[i][f.EndPos] += 10
	}
	preds, na, err := Postprocess(ds.Examples, fs, start, end, DefaultNBest, DefaultMaxAnswerLen, true)
	if err != nil {
		t.Fatal(err)
	}
	scores, err := Evaluate(ds, preds, na, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("oracle on %d questions, %d windows: %v", len(ds.Examples), len(fs), scores)
	if scores["NoAns_exact"] != 100 || scores["HasAns_exact"] < 99.5 || scores["HasAns_f1"] < 99.5 {
		t.Errorf("oracle logits: %v, want NoAns_exact 100, HasAns_exact and HasAns_f1 >= 99.5", scores)
	}
}
