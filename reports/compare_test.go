package reports

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// seeds makes one record per value, seeds 1, 2, ..., of a glue task.
func seeds(task, method string, values ...float64) []Record {
	var out []Record
	for i, v := range values {
		out = append(out, rec(task, method, int64(i+1), "accuracy", v))
	}
	return out
}

func cellOf(t *testing.T, c Comparison, task, method, settings string) CellComparison {
	t.Helper()
	for _, cell := range c.Cells {
		if cell.Task == task && cell.Method == method && cell.Settings == settings {
			return cell
		}
	}
	t.Fatalf("no cell %s %s [%s] in %+v", task, method, settings, c.Cells)
	return CellComparison{}
}

func near(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil || math.Abs(*got-want) > 1e-12 {
		t.Errorf("%s = %v, want %v", what, deref(got), want)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// Each rule on its own cell, with the numbers worked out by hand: baseline seeds 0.80,
// 0.82, 0.84 have mean 0.82 and sample std 0.02, so K = 3 allows ±0.06.
func TestCompareRules(t *testing.T) {
	var base, cur []Record
	// std rule, moved: new mean 0.75, Δ = −0.07 beyond ±0.06.
	base = append(base, seeds("sst2", "vectorfit", 0.80, 0.82, 0.84)...)
	cur = append(cur, seeds("sst2", "vectorfit", 0.74, 0.75, 0.76)...)
	// std rule, within: Δ = −0.03 is 3 points (beyond P = 1) but inside 3 std.
	base = append(base, seeds("sst2", "lora", 0.80, 0.82, 0.84)...)
	cur = append(cur, seeds("sst2", "lora", 0.78, 0.79, 0.80)...)
	// points rule (one seed), moved: Δ = −1.5 points.
	base = append(base, seeds("rte", "vectorfit", 0.70)...)
	cur = append(cur, seeds("rte", "vectorfit", 0.685)...)
	// points rule, within: Δ = +0.5 points.
	base = append(base, seeds("rte", "lora", 0.70)...)
	cur = append(cur, seeds("rte", "lora", 0.705)...)
	// Two tied seeds (std 0) fall back to points: Δ = +0.5 points is within.
	base = append(base, seeds("mrpc", "lora", 0.50, 0.50)...)
	cur = append(cur, seeds("mrpc", "lora", 0.505, 0.505)...)

	c, err := Compare(base, cur, DefaultTolerance)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		task, method string
		delta, tol   float64
		rule         string
		moved        bool
	}{
		{"sst2", "vectorfit", -0.07, 0.06, "3 std", true},
		{"sst2", "lora", -0.03, 0.06, "3 std", false},
		{"rte", "vectorfit", -0.015, 0.01, "1 pt", true},
		{"rte", "lora", 0.005, 0.01, "1 pt", false},
		{"mrpc", "lora", 0.005, 0.01, "1 pt", false},
	}
	for _, tc := range cases {
		cell := cellOf(t, c, tc.task, tc.method, "")
		sc := cell.Scores[0]
		if sc.Name != "accuracy" || !sc.Main {
			t.Fatalf("%s %s: first score %+v, want the main one", tc.task, tc.method, sc)
		}
		near(t, tc.task+" "+tc.method+" delta", sc.Delta, tc.delta)
		near(t, tc.task+" "+tc.method+" tolerance", sc.Tolerance, tc.tol)
		if sc.Rule != tc.rule || sc.Moved != tc.moved {
			t.Errorf("%s %s: rule %q moved %v, want %q %v", tc.task, tc.method, sc.Rule, sc.Moved, tc.rule, tc.moved)
		}
		wantStatus := CompareOK
		if tc.moved {
			wantStatus = CompareFailed
		}
		if cell.Status != wantStatus {
			t.Errorf("%s %s: status %q, want %q (problems %v)", tc.task, tc.method, cell.Status, wantStatus, cell.Problems)
		}
	}
	near(t, "sst2 vectorfit baseline", cellOf(t, c, "sst2", "vectorfit", "").Scores[0].Baseline, 0.82)
	near(t, "sst2 vectorfit baseline std", cellOf(t, c, "sst2", "vectorfit", "").Scores[0].BaselineStd, 0.02)
	if c.OK || c.Summary.Moved != 2 || c.Summary.Failing != 2 || c.Summary.Baseline != 5 {
		t.Errorf("summary %+v ok %v, want 2 moved, 2 of 5 failing", c.Summary, c.OK)
	}
	if got, want := c.SummaryLine(), "compare: FAIL: 2 of 5 baseline groups failing (2 scores moved)"; got != want {
		t.Errorf("summary line %q, want %q", got, want)
	}

	// K and P are the caller's: with K = 4 (±0.08) and P = 2 both moves are within.
	c, err = Compare(base, cur, Tolerance{StdMultiple: 4, Points: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !c.OK {
		t.Errorf("K=4, P=2: %s", c.SummaryLine())
	}
}

// Equal folders pass, even when the code version differs (a nightly's always does).
func TestCompareUnchanged(t *testing.T) {
	base := append(seeds("sst2", "vectorfit", 0.80, 0.82), seeds("rte", "vectorfit", 0.7)...)
	cur := make([]Record, len(base))
	for i, r := range base {
		r.Code.Version = "newer"
		r.SettingsHash = "abc" // hash presence is not compared either
		cur[i] = r
	}
	c, err := Compare(base, cur, DefaultTolerance)
	if err != nil {
		t.Fatal(err)
	}
	if !c.OK || len(c.Cells) != 2 {
		t.Fatalf("ok %v, %d cells: %+v", c.OK, len(c.Cells), c.Cells)
	}
	if got, want := c.SummaryLine(), "compare: OK: 2 baseline groups within tolerance"; got != want {
		t.Errorf("summary line %q, want %q", got, want)
	}
	near(t, "delta", c.Cells[0].Scores[0].Delta, 0)
}

func TestCompareRunsAndParams(t *testing.T) {
	withParams := func(rs []Record, adapter int64) []Record {
		for i := range rs {
			rs[i].Params = counts(adapter, 10, 1000)
		}
		return rs
	}
	var base, cur []Record
	// Parameter count changed, scores equal.
	base = append(base, withParams(seeds("mrpc", "vectorfit", 0.8), 100)...)
	cur = append(cur, withParams(seeds("mrpc", "vectorfit", 0.8), 120)...)
	// A whole group missing, and one seed of another.
	base = append(base, seeds("cola", "vectorfit", 0.5)...)
	base = append(base, seeds("qqp", "vectorfit", 0.9, 0.9)...)
	cur = append(cur, seeds("qqp", "vectorfit", 0.9)...)
	// A new group: listed, no failure.
	cur = append(cur, seeds("qnli", "vectorfit", 0.9)...)
	// Settings changed: the old group is missing and the new one new, each labelled.
	lr := func(rs []Record, v float64) []Record {
		for i := range rs {
			rs[i].Hyperparameters = map[string]any{"lr": v}
		}
		return rs
	}
	base = append(base, lr(seeds("rte", "lora", 0.7), 0.01)...)
	cur = append(cur, lr(seeds("rte", "lora", 0.7), 0.02)...)

	c, err := Compare(base, cur, DefaultTolerance)
	if err != nil {
		t.Fatal(err)
	}
	mrpc := cellOf(t, c, "mrpc", "vectorfit", "")
	if mrpc.Status != CompareFailed || !mrpc.Params.Changed || *mrpc.Params.Baseline != 110 || *mrpc.Params.New != 130 {
		t.Errorf("mrpc: %+v", mrpc)
	}
	if cola := cellOf(t, c, "cola", "vectorfit", ""); cola.Status != CompareMissing || cola.Scores[0].New != nil {
		t.Errorf("cola: %+v", cola)
	}
	if qqp := cellOf(t, c, "qqp", "vectorfit", ""); qqp.Status != CompareFailed || len(qqp.MissingSeeds) != 1 || qqp.MissingSeeds[0] != 2 {
		t.Errorf("qqp: %+v", qqp)
	}
	if qnli := cellOf(t, c, "qnli", "vectorfit", ""); qnli.Status != CompareNew {
		t.Errorf("qnli: %+v", qnli)
	}
	if old := cellOf(t, c, "rte", "lora", "lr=0.01"); old.Status != CompareMissing {
		t.Errorf("rte lr=0.01: %+v", old)
	}
	if nw := cellOf(t, c, "rte", "lora", "lr=0.02"); nw.Status != CompareNew {
		t.Errorf("rte lr=0.02: %+v", nw)
	}
	s := c.Summary
	if s.Baseline != 4 || s.Failing != 4 || s.ParamsChanged != 1 || s.Missing != 2 || s.MissingSeeds != 1 || s.New != 2 {
		t.Errorf("summary %+v", s)
	}
	want := "compare: FAIL: 4 of 4 baseline groups failing (1 parameter count changed, 1 seed missing, 2 groups missing); 2 new groups (not a failure)"
	if got := c.SummaryLine(); got != want {
		t.Errorf("summary line\n%q, want\n%q", got, want)
	}

	// Only new groups: nothing fails.
	c, err = Compare(seeds("rte", "vectorfit", 0.7), append(seeds("rte", "vectorfit", 0.7), seeds("qnli", "lora", 0.9)...), DefaultTolerance)
	if err != nil {
		t.Fatal(err)
	}
	if !c.OK || c.Summary.New != 1 {
		t.Errorf("a new group alone: %s", c.SummaryLine())
	}
}

// Undefined values (a score absent, every seed diverged) are failures when the baseline
// had them, a note when only the new side has one, and null in JSON (NaN cannot be).
func TestCompareUndefined(t *testing.T) {
	diverged := func(r Record) Record {
		r.Status, r.Divergence, r.Scores, r.MainScore = StatusDiverged, &Divergence{Step: 7, Reason: "loss is NaN"}, nil, ""
		return r
	}
	base := []Record{
		rec("stsb", "vectorfit", 1, "pearson", 0.8).with(map[string]float64{"spearmanr": 0.79}),
		rec("rte", "vectorfit", 1, "accuracy", 0.7),
		rec("sst2", "vectorfit", 1, "accuracy", 0.9),
	}
	cur := []Record{
		rec("stsb", "vectorfit", 1, "pearson", 0.8).with(map[string]float64{"kendall": 0.6}), // spearmanr gone, kendall new
		diverged(rec("rte", "vectorfit", 1, "accuracy", 0.7)),                                // every seed diverged
		rec("sst2", "vectorfit", 1, "accuracy", 0.9),
	}
	c, err := Compare(base, cur, DefaultTolerance)
	if err != nil {
		t.Fatal(err)
	}
	stsb := cellOf(t, c, "stsb", "vectorfit", "")
	verdicts := map[string]string{}
	for _, sc := range stsb.Scores {
		verdicts[sc.Name] = sc.Verdict
	}
	if verdicts["pearson"] != "ok" || verdicts["spearmanr"] != "undefined" || verdicts["kendall"] != "new score" || stsb.Scores[0].Name != "pearson" {
		t.Errorf("stsb verdicts %v (order %+v)", verdicts, stsb.Scores)
	}
	rte := cellOf(t, c, "rte", "vectorfit", "")
	if rte.Status != CompareFailed || len(rte.DivergedSeeds) != 1 || rte.Scores[0].Verdict != "undefined" || rte.Scores[0].New != nil {
		t.Errorf("rte: %+v", rte)
	}
	if s := c.Summary; s.Undefined != 2 || s.Diverged != 1 || s.Failing != 2 {
		t.Errorf("summary %+v", s)
	}

	var js bytes.Buffer
	if err := RenderComparison(&js, c, "json"); err != nil {
		t.Fatal(err)
	}
	var back struct {
		OK    bool `json:"ok"`
		Cells []struct {
			Task   string `json:"task"`
			Scores []struct {
				Name string   `json:"name"`
				New  *float64 `json:"new"`
			} `json:"scores"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("%v\n%s", err, js.String())
	}
	if back.OK || !strings.Contains(js.String(), `"new": null`) {
		t.Errorf("json ok %v, want false and a null new value:\n%s", back.OK, js.String())
	}
	for _, cell := range back.Cells {
		if cell.Task == "sst2" && (cell.Scores[0].New == nil || *cell.Scores[0].New != 0.9) {
			t.Errorf("json sst2 new %v, want the raw fraction 0.9", cell.Scores[0].New)
		}
	}

	var md bytes.Buffer
	if err := RenderComparison(&md, c, "md"); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, want := range []string{
		"| ✗ | glue/rte  | vectorfit |          | accuracy (main)",
		"✗ glue/rte vectorfit: diverged: seed 1 at step 7 (loss is NaN); it finished in the baseline",
		"✗ glue/stsb vectorfit: spearmanr undefined: baseline 79.00 over 1 finished seed, new – over 0",
		"glue/stsb vectorfit: kendall is a new score",
		"compare: FAIL: 2 of 3 baseline groups failing (2 scores undefined on one side, 1 seed diverged)",
		"else > 1 point;",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
}

func TestCompareBadTolerance(t *testing.T) {
	for _, tol := range []Tolerance{{-1, 1}, {3, math.NaN()}, {math.Inf(1), 1}} {
		if _, err := Compare(nil, nil, tol); err == nil || !strings.Contains(err.Error(), "want a finite number ≥ 0") {
			t.Errorf("%+v: err %v", tol, err)
		}
	}
	if err := RenderComparison(&bytes.Buffer{}, Comparison{}, "csv"); err == nil || !strings.Contains(err.Error(), `compare format "csv", want md or json`) {
		t.Errorf("csv: %v", err)
	}
}
