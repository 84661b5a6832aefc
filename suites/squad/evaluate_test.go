package squad

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedSQuAD is the real SQuAD data beside the repository (/work/shared/data/squad
// for a checkout at /work/main). See shared/data/README.md.
const sharedSQuAD = "../../../shared/data/squad"

func mustLoad(t *testing.T, path, version string) Dataset {
	t.Helper()
	ds, err := Load(path, version)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func checkScores(t *testing.T, name string, got map[string]float64, want map[string]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: keys %v, want %v", name, keysOf(got), keysOf(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: no %q", name, k)
			continue
		}
		if !near(g, w, tol) {
			t.Errorf("%s: %s = %.17g, want %.17g", name, k, g, w)
		}
	}
}

func keysOf(m map[string]float64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// handV2 is a five-question v2.0 set whose scores are worked out by hand below.
func handV2() (Dataset, map[string]string) {
	ds := Dataset{Version: V2, Examples: []Example{
		{ID: "q1", Context: "the Denver Broncos won", Answers: []Answer{{"Denver Broncos", 4}, {"the Denver Broncos", 0}}},
		{ID: "q2", Context: "Santa Clara, California", Answers: []Answer{{"Santa Clara, California", 0}}},
		{ID: "q3", Context: "nothing", IsImpossible: true},
		{ID: "q4", Context: "nothing", IsImpossible: true},
		{ID: "q5", Context: "un café", Answers: []Answer{{"café", 3}}},
	}}
	preds := map[string]string{
		"q1": "Broncos",      // EM 0; F1: p = 1/1, r = 1/2 → 2/3 (best gold: either)
		"q2": "santa clara!", // EM 0; F1: p = 2/2, r = 2/3 → 0.8
		"q3": "",             // no answer, right: 1, 1
		"q4": "the",          // normalises to "": also scored as no answer (1, 1)
		"q5": "CAFÉ.",        // lower-cased, punctuation dropped: 1, 1
	}
	return ds, preds
}

// Scores worked by hand on handV2.
func TestEvaluateV2Worked(t *testing.T) {
	ds, preds := handV2()
	na := map[string]float64{"q1": 0.9, "q2": 0.2, "q3": 0.8, "q4": 0.1, "q5": 0.3}
	got, err := Evaluate(ds, preds, na, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	f1Sum := 2.0/3 + 0.8 + 1 + 1 + 1
	want := map[string]float64{
		"exact": 100 * 3.0 / 5, "f1": 100 * f1Sum / 5, "total": 5,
		"HasAns_exact": 100 * 1.0 / 3, "HasAns_f1": 100 * (2.0/3 + 0.8 + 1) / 3, "HasAns_total": 3,
		"NoAns_exact": 100, "NoAns_f1": 100, "NoAns_total": 2,
		// Walk by increasing probability from "no answer everywhere" (2 right):
		// exact: q4 "the" is a non-empty prediction −1 → 1, q2 +0 → 1, q5 +1 → 2,
		// q3 +0 → 2, q1 +0 → 2: never above 2, so 2/5 at the initial threshold 0.
		"best_exact": 40, "best_exact_thresh": 0,
		// f1: q4 −1 → 1, q2 +0.8 → 1.8, q5 +1 → 2.8 (new best at 0.3), q3 +0,
		// q1 +2/3 → 3.4667 (new best at 0.9).
		"best_f1": 100 * (2 - 1 + 0.8 + 1 + 2.0/3) / 5, "best_f1_thresh": 0.9,
	}
	checkScores(t, "hand v2.0", got, want, 1e-12)

	// A threshold of 0.5 scores q1 (0.9, answerable) as a wrong no-answer and q3
	// (0.8, unanswerable) as a right one.
	got, err = Evaluate(ds, preds, na, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if w := 100 * (0.8 + 1 + 1 + 1) / 5; !near(got["f1"], w, 1e-12) || !near(got["exact"], 60, 1e-12) {
		t.Errorf("threshold 0.5: exact %v f1 %v, want 60 and %v", got["exact"], got["f1"], w)
	}

	// Without na_prob the script reports no best-threshold keys.
	got, err = Evaluate(ds, preds, nil, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["best_f1"]; ok || len(got) != 9 {
		t.Errorf("without na_prob: keys %v, want the 9 without best_*", keysOf(got))
	}
}

// The v1.1 script: no special case for empty strings, unanswered questions score 0
// but count in the total.
func TestEvaluateV1Worked(t *testing.T) {
	ds := Dataset{Version: V1, Examples: []Example{
		{ID: "a", Answers: []Answer{{"Denver Broncos", 0}, {"Broncos", 7}}},
		{ID: "b", Answers: []Answer{{"the Normans", 0}}},
		{ID: "c", Answers: []Answer{{"1,000 people", 0}}},
		{ID: "d", Answers: []Answer{{"x", 0}}},
		{ID: "e", Answers: []Answer{{"the", 0}}},
	}}
	preds := map[string]string{
		"a": "Broncos",     // matches the second gold: 1, 1
		"b": "Normans",     // article dropped: 1, 1
		"c": "1000 people", // punctuation inside a number dropped: 1, 1
		// "d" unanswered: 0, 0
		"e": "", // both normalise to "": EM 1, but F1 0 (no shared token)
	}
	got, err := Evaluate(ds, preds, nil, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, "hand v1.1", got, map[string]float64{"exact_match": 80, "f1": 60}, 1e-12)

	// The same empty prediction under v2.0 scores F1 1: the two scripts differ.
	ds.Version = V2
	ds.Examples = ds.Examples[4:]
	got, err = Evaluate(ds, map[string]string{"e": ""}, nil, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	if got["f1"] != 100 || got["exact"] != 100 {
		t.Errorf("v2.0 on a gold that normalises to nothing: %v, want exact and f1 100", got)
	}
}

func TestEvaluateV2Errors(t *testing.T) {
	ds, preds := handV2()
	delete(preds, "q3")
	if _, err := Evaluate(ds, preds, nil, 1); err == nil || !strings.Contains(err.Error(), `"q3"`) {
		t.Errorf("missing prediction: err %v, want one naming q3", err)
	}
	_, preds = handV2()
	if _, err := Evaluate(ds, preds, map[string]float64{"q1": 0.5}, 1); err == nil || !strings.Contains(err.Error(), `"q2"`) {
		t.Errorf("missing na_prob: err %v, want one naming q2", err)
	}
}

type scoreFixture struct {
	V1                  map[string]float64 `json:"v1.1"`
	V1Printed           string             `json:"v1.1_printed"`
	V2FileOrder         map[string]float64 `json:"v2.0_na_file_order"`
	V2FileOrderPrinted  string             `json:"v2.0_na_file_order_printed"`
	V2Thresh05          map[string]float64 `json:"v2.0_na_thresh_0.5"`
	V2SortedOrder       map[string]float64 `json:"v2.0_na_sorted_order"`
	V2NoNAFile          map[string]float64 `json:"v2.0_no_na_file"`
	V2NoNAFilePrinted   string             `json:"v2.0_no_na_file_printed"`
	V2OnV1WithEmptyFill map[string]float64 `json:"v2.0_on_v1.1_full"`
}

// The reference: scores computed by transformers' copy of the official v2.0 script
// and by the v1.1 formulas, on predictions for every question of the shared dev
// subsets (scripts/fixtures/gen_squad_metrics.py). Tolerance 1e-9 as asked; the
// sums run in the scripts' order, so the numbers agree to the last bit.
func TestEvaluateMatchesOfficialOnSharedDev(t *testing.T) {
	raw, err := os.ReadFile("testdata/scores.json")
	if err != nil {
		t.Fatal(err)
	}
	var want scoreFixture
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	const tol = 1e-9

	d1 := mustLoad(t, filepath.Join(sharedSQuAD, "dev-v1.1.subset.json"), "")
	p1, err := ReadPredictions("testdata/preds-v1.1.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(Missing(d1, p1)) == 0 {
		t.Fatal("the v1.1 predictions should leave some questions unanswered")
	}
	got, err := Evaluate(d1, p1, nil, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, "v1.1", got, want.V1, tol)
	exactBits(t, "v1.1", got, want.V1)
	var buf bytes.Buffer
	if err := PrintOfficial(&buf, got, V1); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want.V1Printed {
		t.Errorf("v1.1 printed\n%s\nwant\n%s", buf.String(), want.V1Printed)
	}

	// The v2.0 logic on v1.1 data (every question answerable).
	full := map[string]string{}
	for _, id := range d1.IDs() {
		full[id] = ""
	}
	for k, v := range p1 {
		full[k] = v
	}
	d1v2 := d1
	d1v2.Version = V2
	got, err = Evaluate(d1v2, full, nil, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, "v2.0 logic on v1.1 data", got, want.V2OnV1WithEmptyFill, tol)

	d2 := mustLoad(t, filepath.Join(sharedSQuAD, "dev-v2.0.subset.json"), "")
	p2, err := ReadPredictions("testdata/preds-v2.0.json")
	if err != nil {
		t.Fatal(err)
	}
	na, order, err := ReadNAProbs("testdata/na-prob-v2.0.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err = EvaluateInOrder(d2, p2, na, order, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, "v2.0 na_prob in file order", got, want.V2FileOrder, tol)
	exactBits(t, "v2.0 na_prob in file order", got, want.V2FileOrder)
	buf.Reset()
	if err := PrintOfficial(&buf, got, V2); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want.V2FileOrderPrinted {
		t.Errorf("v2.0 printed\n%s\nwant\n%s", buf.String(), want.V2FileOrderPrinted)
	}

	got, err = EvaluateInOrder(d2, p2, na, order, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, "v2.0 threshold 0.5", got, want.V2Thresh05, tol)

	// Evaluate breaks ties in sorted id order; the file's ties make that differ.
	got, err = Evaluate(d2, p2, na, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, "v2.0 na_prob in sorted order", got, want.V2SortedOrder, tol)
	if want.V2SortedOrder["best_exact"] == want.V2FileOrder["best_exact"] {
		t.Error("fixture: the tie order should change best_exact")
	}

	got, err = Evaluate(d2, p2, nil, DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, "v2.0 without na_prob", got, want.V2NoNAFile, tol)
	buf.Reset()
	if err := PrintOfficial(&buf, got, V2); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want.V2NoNAFilePrinted {
		t.Errorf("v2.0 printed without na_prob\n%s\nwant\n%s", buf.String(), want.V2NoNAFilePrinted)
	}
}

// exactBits reports (as a test failure) any score that is within tolerance but not
// bit-identical: the sums are meant to run in the scripts' order.
func exactBits(t *testing.T, name string, got, want map[string]float64) {
	t.Helper()
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s = %.17g is not bit-identical to Python's %.17g", name, k, got[k], w)
		}
	}
}

// Writing predictions and probabilities and reading them back, and what
// WriteNAProbs's sorted order means for the official script.
func TestPredictionFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	preds := map[string]string{"b": "Ünïcödé <&>", "a": "", "c": "x\ny"}
	probs := map[string]float64{"b": 0.5, "a": -3.25e-7, "c": 12}
	pp, np := filepath.Join(dir, "predictions.json"), filepath.Join(dir, "na_prob.json")
	if err := WritePredictions(pp, preds); err != nil {
		t.Fatal(err)
	}
	if err := WriteNAProbs(np, probs); err != nil {
		t.Fatal(err)
	}
	gotP, err := ReadPredictions(pp)
	if err != nil {
		t.Fatal(err)
	}
	gotN, order, err := ReadNAProbs(np)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range preds {
		if gotP[k] != v {
			t.Errorf("prediction %q = %q, want %q", k, gotP[k], v)
		}
	}
	for k, v := range probs {
		if gotN[k] != v {
			t.Errorf("na_prob %q = %v, want %v", k, gotN[k], v)
		}
	}
	if strings.Join(order, ",") != "a,b,c" {
		t.Errorf("na_prob order %v, want sorted ids", order)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

func TestReadPredictionsErrors(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct{ body, want string }{
		"number":    {`{"q1": "x", "q2": 3}`, `key "q2": want an answer string, got a number`},
		"null":      {`{"q1": null}`, `key "q1": want an answer string, got null`},
		"array":     {`["q1"]`, "want a JSON object"},
		"duplicate": {`{"q1": "a", "q1": "b"}`, `key "q1" appears twice`},
		"trailing":  {`{"q1": "a"} {}`, "data after the JSON object"},
	} {
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, []byte(c.body), 0o644)
		if _, err := ReadPredictions(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", name, err, c.want)
		}
	}
	p := filepath.Join(dir, "na.json")
	os.WriteFile(p, []byte(`{"q1": 0.5, "q2": "high"}`), 0o644)
	if _, _, err := ReadNAProbs(p); err == nil || !strings.Contains(err.Error(), `key "q2": want a number, got a string`) {
		t.Errorf("na_prob with a string: err %v", err)
	}
}

// Python's float repr, as json.dumps prints scores.
func TestPyFloat(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{100, "100.0"}, {0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {51.990349819059105, "51.990349819059105"},
		{66.66666666666667, "66.66666666666667"}, {1e16, "1e+16"}, {1e15, "1000000000000000.0"},
		{0.0001, "0.0001"}, {0.00001, "1e-05"}, {1.5e-7, "1.5e-07"}, {-2.5e20, "-2.5e+20"}, {0.1, "0.1"},
		{math.NaN(), "NaN"}, {math.Inf(1), "Infinity"},
	} {
		if got := pyFloat(c.f); got != c.want {
			t.Errorf("pyFloat(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

// The runner's path: files in, the official script's stdout out.
func TestScoreFiles(t *testing.T) {
	raw, err := os.ReadFile("testdata/scores.json")
	if err != nil {
		t.Fatal(err)
	}
	var want scoreFixture
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	scores, ds, _, err := ScoreFiles(filepath.Join(sharedSQuAD, "dev-v2.0.subset.json"), "2.0", "testdata/preds-v2.0.json", "testdata/na-prob-v2.0.json", DefaultNAThreshold)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := PrintOfficial(&buf, scores, ds.Version); err != nil {
		t.Fatal(err)
	}
	if buf.String() != want.V2FileOrderPrinted {
		t.Errorf("printed\n%s\nwant\n%s", buf.String(), want.V2FileOrderPrinted)
	}
	_, _, _, err = ScoreFiles(filepath.Join(sharedSQuAD, "dev-v1.1.subset.json"), "", "testdata/preds-v1.1.json", "testdata/na-prob-v2.0.json", DefaultNAThreshold)
	if err == nil || !strings.Contains(err.Error(), "v1.1 evaluation takes no na_prob file") {
		t.Errorf("v1.1 with na_prob: err %v", err)
	}
	_, _, _, err = ScoreFiles(filepath.Join(sharedSQuAD, "dev-v2.0.subset.json"), "", "testdata/preds-v1.1.json", "", DefaultNAThreshold)
	if err == nil || !strings.Contains(err.Error(), "no prediction for 803 of 1658 questions") {
		t.Errorf("v2.0 data with v1.1 predictions: err %v", err)
	}
}
