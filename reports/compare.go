package reports

// Compare is the nightly regression check (`runner compare`): it matches each group of
// baseline records with the same group in a new folder and says, score by score, whether
// the new numbers moved beyond tolerance.
//
// A group is a (suite, task, method) and its settings: the records that a table would
// average into one cell, but matched across the two folders without the code version
// (a nightly's code is newer than its baseline's by design) and without the settings
// hash's presence. Everything else that sets the numbers — model name and file hashes,
// hyperparameters, method settings, data files — must be equal for two groups to
// match: a nightly plan that changed a learning rate shows the old group as missing and
// the new one as new, labelled with what differs ("lr=0.001" / "lr=0.03").

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Tolerance says when a score moved. With two or more finished baseline seeds (and a
// spread above zero) a score moves when |new − baseline| > StdMultiple × the baseline's
// sample std over seeds; otherwise when it moves by more than Points (score × 100, the
// tables' unit). A zero spread falls back to Points because it says nothing about the
// noise: seeds that happened to tie on a small dev set would make any change a failure.
type Tolerance struct {
	StdMultiple float64 `json:"std_multiple"` // K: in baseline seed standard deviations
	Points      float64 `json:"points"`       // P: in points (1 point = 0.01 of a fraction score)
}

// DefaultTolerance is K = 3 (a real change, not a seed's luck, with two to five seeds)
// and P = 1 point (one run per cell: GLUE dev scores of one seed move by well under a
// point between machines at equal settings).
var DefaultTolerance = Tolerance{StdMultiple: 3, Points: 1}

// Cell statuses: a group present on both sides is ok or failed; one only in the baseline
// is missing (a failure), one only in the new folder is new (listed, not a failure).
const (
	CompareOK      = "ok"
	CompareFailed  = "failed"
	CompareMissing = "missing"
	CompareNew     = "new"
)

// Comparison is the whole check: one CellComparison per group, in table order.
type Comparison struct {
	Tolerance Tolerance        `json:"tolerance"`
	OK        bool             `json:"ok"` // nothing moved, changed or went missing
	Summary   CompareSummary   `json:"summary"`
	Cells     []CellComparison `json:"cells"`
}

// CompareSummary counts the groups and what went wrong; a group can count in several.
type CompareSummary struct {
	Baseline      int `json:"baseline_groups"`
	Failing       int `json:"failing_groups"`   // failed or missing
	Moved         int `json:"moved_scores"`     // scores beyond tolerance
	Undefined     int `json:"undefined_scores"` // defined on one side only (absent, or every seed diverged)
	ParamsChanged int `json:"params_changed"`   // groups whose trainable-parameter counts differ
	MissingSeeds  int `json:"missing_seeds"`    // baseline seeds absent from a group present in the new folder
	Diverged      int `json:"diverged_seeds"`   // new seeds that diverged where the baseline's finished
	Missing       int `json:"missing_groups"`   // baseline groups absent from the new folder
	New           int `json:"new_groups"`       // groups only in the new folder (not a failure)
}

// CellComparison is one group on both sides.
type CellComparison struct {
	Suite    string `json:"suite"`
	Task     string `json:"task"`
	Method   string `json:"method"`
	Settings string `json:"settings,omitempty"` // what sets the group apart from the method's others; "" when it has none
	Status   string `json:"status"`
	// Seeds of each side, diverged ones included.
	BaselineSeeds []int64 `json:"baseline_seeds"`
	NewSeeds      []int64 `json:"new_seeds"`
	// MissingSeeds are baseline seeds the new folder lacks (a failure); DivergedSeeds
	// new seeds that diverged where the baseline's finished (a failure).
	MissingSeeds  []int64           `json:"missing_seeds,omitempty"`
	DivergedSeeds []int64           `json:"diverged_seeds,omitempty"`
	Params        ParamsComparison  `json:"params"`
	Scores        []ScoreComparison `json:"scores"`             // the main score first, then the others by name
	Problems      []string          `json:"problems,omitempty"` // why the group failed, one line each
	Notes         []string          `json:"notes,omitempty"`    // what is worth knowing but no failure
}

// ParamsComparison is the trainable-parameter count (adapter + head) of each side; a
// count that differs between the two sides for one seed is a failure.
type ParamsComparison struct {
	Baseline *int64 `json:"baseline"` // nil when the side has no records
	New      *int64 `json:"new"`
	Changed  bool   `json:"changed"`
}

// ScoreComparison is one score: means over finished seeds as fractions (JSON null where
// undefined: no finished seed has the score).
type ScoreComparison struct {
	Name        string   `json:"name"`
	Main        bool     `json:"main"`
	Baseline    *float64 `json:"baseline"`
	BaselineStd *float64 `json:"baseline_std"` // sample std over ≥ 2 seeds, else null
	BaselineN   int      `json:"baseline_seeds"`
	New         *float64 `json:"new"`
	NewN        int      `json:"new_seeds"`
	Delta       *float64 `json:"delta"`     // New − Baseline
	Tolerance   *float64 `json:"tolerance"` // |Delta| beyond it moved
	Rule        string   `json:"rule"`      // "3 std" or "1 point"; "" where nothing was compared
	Moved       bool     `json:"moved"`
	Verdict     string   `json:"verdict"` // ok, moved, undefined, new score, not compared
}

// side is one group's records in one folder.
type side struct{ records []Record }

// compareKey is equal for two records of a (suite, task, method) exactly when they
// belong to the same group: their facets without the code version and the hash's presence.
func compareKey(r Record) string {
	var b strings.Builder
	for _, f := range comparedFacets(r) {
		fmt.Fprintf(&b, "%d\x00%s\x00%s\x00", f.kind, f.name, f.value)
	}
	return b.String()
}

func comparedFacets(r Record) []facet {
	return slices.DeleteFunc(facets(r), func(f facet) bool { return f.kind == kindCode || f.kind == kindHash })
}

// Compare checks the records of a new folder against a baseline's.
func Compare(baseline, current []Record, tol Tolerance) (Comparison, error) {
	if err := tol.check(); err != nil {
		return Comparison{}, err
	}
	type groupID struct {
		taskKey
		method, key string
	}
	type pair struct {
		id        groupID
		base, cur []Record
		facets    map[string]facet
	}
	var order []groupID
	pairs := map[groupID]*pair{}
	add := func(rs []Record, isBase bool) {
		for _, r := range rs {
			g := groupID{taskKey{r.Suite, r.Task}, r.Method, compareKey(r)}
			p, ok := pairs[g]
			if !ok {
				fs := map[string]facet{}
				for _, f := range comparedFacets(r) {
					fs[f.name] = f
				}
				p = &pair{id: g, facets: fs}
				pairs[g] = p
				order = append(order, g)
			}
			if isBase {
				p.base = append(p.base, r)
			} else {
				p.cur = append(p.cur, r)
			}
		}
	}
	base, cur := slices.Clone(baseline), slices.Clone(current)
	sortRecords(base)
	sortRecords(cur)
	add(base, true)
	add(cur, false)

	// Label the groups of a (suite, task, method) by what sets them apart.
	labels := map[groupID]string{}
	byMethod := map[groupID][]groupID{}
	for _, g := range order {
		m := groupID{g.taskKey, g.method, ""}
		byMethod[m] = append(byMethod[m], g)
	}
	for _, gs := range byMethod {
		if len(gs) < 2 {
			continue
		}
		groups := make([]group, len(gs))
		for i, g := range gs {
			groups[i] = group{facets: pairs[g].facets}
		}
		diff := differing(groups)
		for i, g := range gs {
			labels[g] = groups[i].label(diff)
		}
	}

	slices.SortStableFunc(order, func(a, b groupID) int {
		return cmp.Or(compareTasks(a.taskKey, b.taskKey), compareMethods(a.method, b.method), cmp.Compare(labels[a], labels[b]))
	})
	c := Comparison{Tolerance: tol}
	for _, g := range order {
		p := pairs[g]
		cell := compareCell(p.base, p.cur, tol)
		cell.Suite, cell.Task, cell.Method, cell.Settings = g.suite, g.task, g.method, labels[g]
		c.Cells = append(c.Cells, cell)
		c.Summary.count(cell)
	}
	c.OK = c.Summary.Failing == 0
	return c, nil
}

func (t Tolerance) check() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"std multiple", t.StdMultiple}, {"points", t.Points}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("reports: compare tolerance %s is %v, want a finite number ≥ 0", f.name, f.v)
		}
	}
	return nil
}

func (s *CompareSummary) count(c CellComparison) {
	if c.Status != CompareNew {
		s.Baseline++
	}
	switch c.Status {
	case CompareFailed, CompareMissing:
		s.Failing++
	}
	switch c.Status {
	case CompareMissing:
		s.Missing++
	case CompareNew:
		s.New++
	}
	if c.Params.Changed {
		s.ParamsChanged++
	}
	s.MissingSeeds += len(c.MissingSeeds)
	s.Diverged += len(c.DivergedSeeds)
	for _, sc := range c.Scores {
		switch {
		case sc.Moved:
			s.Moved++
		case sc.Verdict == "undefined":
			s.Undefined++
		}
	}
}

// compareCell compares one group's baseline records with its new ones (either may be
// empty: a missing or a new group).
func compareCell(base, cur []Record, tol Tolerance) CellComparison {
	c := CellComparison{BaselineSeeds: seedsOf(base), NewSeeds: seedsOf(cur)}
	switch {
	case len(cur) == 0:
		c.Status = CompareMissing
		c.Problems = append(c.Problems, "missing: no run of this group in the new folder")
	case len(base) == 0:
		c.Status = CompareNew
		c.Notes = append(c.Notes, "new: not in the baseline (not a failure)")
	}
	c.Params = compareParams(base, cur)
	if c.Params.Changed {
		c.Problems = append(c.Problems, "trainable parameters changed: "+paramsChange(base, cur))
	}
	if len(base) > 0 && len(cur) > 0 {
		c.MissingSeeds, c.DivergedSeeds = seedsMissingFrom(base, cur), divergedSeeds(base, cur)
		c.Problems = append(c.Problems, seedProblems(c.MissingSeeds, c.DivergedSeeds, cur)...)
		if extra := seedsMissingFrom(cur, base); len(extra) > 0 {
			c.Notes = append(c.Notes, "seeds not in the baseline: "+int64List(extra))
		}
	}
	for _, k := range scoreNames(append(slices.Clone(base), cur...)) {
		sc := compareScore(k, base, cur, tol, c.Status)
		switch {
		case sc.Moved:
			c.Problems = append(c.Problems, fmt.Sprintf("%s moved: %s → %s (Δ %s, tolerance %s)", k,
				baselineText(sc), pointText(sc.New, false), pointText(sc.Delta, true), toleranceText(sc)))
		case sc.Verdict == "undefined":
			c.Problems = append(c.Problems, fmt.Sprintf("%s undefined: baseline %s over %d finished %s, new %s over %d",
				k, pointText(sc.Baseline, false), sc.BaselineN, plural(sc.BaselineN, "seed", "seeds"), pointText(sc.New, false), sc.NewN))
		case sc.Verdict == "new score":
			c.Notes = append(c.Notes, k+" is a new score (not in the baseline; not a failure)")
		}
		c.Scores = append(c.Scores, sc)
	}
	if c.Status == "" {
		c.Status = CompareOK
		if len(c.Problems) > 0 {
			c.Status = CompareFailed
		}
	}
	return c
}

// divergedSeeds lists the new seeds that diverged where the baseline's finished.
func divergedSeeds(base, cur []Record) []int64 {
	finishedBase := map[int64]bool{}
	for _, r := range base {
		finishedBase[r.Seed] = !r.Diverged()
	}
	var out []int64
	for _, r := range cur {
		if r.Diverged() && finishedBase[r.Seed] {
			out = append(out, r.Seed)
		}
	}
	return out
}

// seedProblems says which seeds are missing and how each diverged one stopped.
func seedProblems(missingSeeds, diverged []int64, cur []Record) []string {
	var out []string
	if len(missingSeeds) > 0 {
		out = append(out, plural(len(missingSeeds), "seed ", "seeds ")+int64List(missingSeeds)+" missing")
	}
	for _, r := range cur {
		if slices.Contains(diverged, r.Seed) {
			out = append(out, fmt.Sprintf("diverged: %s; it finished in the baseline", divergenceText(r)))
		}
	}
	return out
}

// compareParams compares adapter + head per seed present on both sides; the displayed
// count is the first record's of each side.
func compareParams(base, cur []Record) ParamsComparison {
	var p ParamsComparison
	if len(base) > 0 {
		p.Baseline = &base[0].Params.Total
	}
	if len(cur) > 0 {
		p.New = &cur[0].Params.Total
	}
	byseed := map[int64]Record{}
	for _, r := range base {
		byseed[r.Seed] = r
	}
	for _, r := range cur {
		b, ok := byseed[r.Seed]
		if ok && (b.Params.Adapter != r.Params.Adapter || b.Params.Head != r.Params.Head || b.Params.Total != r.Params.Total) {
			p.Changed = true
		}
	}
	return p
}

func paramsChange(base, cur []Record) string {
	byseed := map[int64]Record{}
	for _, r := range base {
		byseed[r.Seed] = r
	}
	for _, r := range cur {
		if b, ok := byseed[r.Seed]; ok && b.Params != r.Params {
			return fmt.Sprintf("seed %d: adapter %d + head %d = %d → adapter %d + head %d = %d", r.Seed,
				b.Params.Adapter, b.Params.Head, b.Params.Total, r.Params.Adapter, r.Params.Head, r.Params.Total)
		}
	}
	return ""
}

// compareScore compares one score's means over finished seeds. status is the group's
// status so far: a missing or new group compares nothing.
func compareScore(name string, base, cur []Record, tol Tolerance, status string) ScoreComparison {
	sc := ScoreComparison{Name: name, Main: isMain(name, base, cur)}
	get := func(r Record) (float64, bool) { v, ok := r.Scores[name]; return v, ok }
	bv, cv := collect(finished(base), get), collect(finished(cur), get)
	sc.BaselineN, sc.NewN = len(bv), len(cv)
	if len(bv) > 0 {
		m, s := meanStd(bv)
		sc.Baseline = &m
		if len(bv) >= 2 {
			sc.BaselineStd = &s
		}
	}
	if len(cv) > 0 {
		m := mean(cv)
		sc.New = &m
	}
	switch {
	case status == CompareMissing || status == CompareNew:
		sc.Verdict = "not compared"
	case len(bv) == 0 && len(cv) == 0:
		sc.Verdict = "not compared" // undefined on both sides: every seed with it diverged
	case len(bv) == 0 && !anyHas(base, name):
		sc.Verdict = "new score" // the code records a score it did not: not a failure
	case len(bv) == 0 || len(cv) == 0:
		sc.Verdict = "undefined" // absent now, or every seed on one side diverged
	default:
		d := *sc.New - *sc.Baseline
		t, rule := tol.Points/100, num(tol.Points)+" pt"
		if sc.BaselineStd != nil && *sc.BaselineStd > 0 {
			t, rule = tol.StdMultiple**sc.BaselineStd, num(tol.StdMultiple)+" std"
		}
		sc.Delta, sc.Tolerance, sc.Rule = &d, &t, rule
		sc.Moved = math.Abs(d) > t
		sc.Verdict = "ok"
		if sc.Moved {
			sc.Verdict = "moved"
		}
	}
	return sc
}

func isMain(name string, sides ...[]Record) bool {
	for _, rs := range sides {
		for _, r := range rs {
			if r.MainScore != "" {
				return r.MainScore == name
			}
		}
	}
	return false
}

func anyHas(rs []Record, name string) bool {
	return slices.ContainsFunc(rs, func(r Record) bool { _, ok := r.Scores[name]; return ok })
}

// scoreNames is the main score first, then every other score of rs by name.
func scoreNames(rs []Record) []string {
	var main string
	set := map[string]bool{}
	for _, r := range rs {
		if main == "" {
			main = r.MainScore
		}
		for k := range r.Scores {
			set[k] = true
		}
	}
	names := sortedKeys(set)
	if main != "" {
		names = slices.DeleteFunc(names, func(k string) bool { return k == main })
		names = append([]string{main}, names...)
	}
	return names
}

func seedsOf(rs []Record) []int64 {
	out := make([]int64, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Seed)
	}
	slices.Sort(out)
	return out
}

// seedsMissingFrom lists the seeds of a that b lacks.
func seedsMissingFrom(a, b []Record) []int64 {
	have := map[int64]bool{}
	for _, r := range b {
		have[r.Seed] = true
	}
	var out []int64
	for _, r := range a {
		if !have[r.Seed] {
			out = append(out, r.Seed)
		}
	}
	slices.Sort(out)
	return out
}

func int64List(xs []int64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(parts, ", ")
}

// RenderComparison writes c as markdown (a table with one row per score and one for the
// parameter count, failing rows marked ✗, then each failing group's problems and a
// summary line) or as JSON (raw fractions, null where undefined).
func RenderComparison(w io.Writer, c Comparison, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(c)
	case "md", "":
		if err := writeMarkdownTable(w, comparisonTable(c)); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "\n%s\n", c.SummaryLine())
		return err
	}
	return fmt.Errorf("reports: compare format %q, want md or json", format)
}

// markFail marks a failing row in the table's first column.
const markFail = "✗"

func comparisonTable(c Comparison) table {
	t := table{
		title: "Regression check",
		note: fmt.Sprintf("Scores × 100, mean over finished seeds (baseline ± sample std). A score moved when "+
			"|Δ| > %s × the baseline's seed std (≥ 2 seeds, std > 0), else > %s %s; trainable "+
			"parameters (adapter + head) must be equal; every baseline run must be there. %s marks a failing row; "+
			"%s an undefined value (absent, or every seed diverged).",
			num(c.Tolerance.StdMultiple), num(c.Tolerance.Points), pointWord(c.Tolerance.Points), markFail, missing),
		header: []string{"", "Task", "Method", "Settings", "Score", "Seeds new/base", "Baseline", "New", "Δ", "Tolerance", "Verdict"},
		text:   []int{0, 1, 2, 3, 4, 10},
	}
	for _, cell := range c.Cells {
		task, method := cell.Suite+"/"+cell.Task, cell.Method
		// The first row of a group is its runs: parameter count and seeds.
		var verdicts []string
		if cell.Status == CompareMissing || cell.Status == CompareNew {
			verdicts = append(verdicts, cell.Status)
		}
		if cell.Params.Changed {
			verdicts = append(verdicts, "params changed")
		}
		if len(cell.MissingSeeds) > 0 {
			verdicts = append(verdicts, "seeds missing")
		}
		if len(cell.DivergedSeeds) > 0 {
			verdicts = append(verdicts, "diverged")
		}
		if len(verdicts) == 0 {
			verdicts = append(verdicts, "ok")
		}
		runFails := cell.Status == CompareMissing || cell.Params.Changed || len(cell.MissingSeeds) > 0 || len(cell.DivergedSeeds) > 0
		rows := [][]string{{mark(runFails), task, method, cell.Settings, "# params",
			fmt.Sprintf("%d/%d", len(cell.NewSeeds), len(cell.BaselineSeeds)),
			countText(cell.Params.Baseline), countText(cell.Params.New), countDelta(cell.Params), "equal", strings.Join(verdicts, ", ")}}
		for _, sc := range cell.Scores {
			name := sc.Name
			if sc.Main {
				name += " (main)"
			}
			rows = append(rows, []string{mark(sc.Moved || sc.Verdict == "undefined"), task, method, cell.Settings, name,
				fmt.Sprintf("%d/%d", sc.NewN, sc.BaselineN),
				baselineText(sc), pointText(sc.New, false), pointText(sc.Delta, true), toleranceText(sc), sc.Verdict})
		}
		t.rows = append(t.rows, rows...)
		for _, p := range cell.Problems {
			t.footnotes = append(t.footnotes, fmt.Sprintf("%s %s %s%s: %s", markFail, task, method, settingsText(cell.Settings), p))
		}
		for _, n := range cell.Notes {
			t.footnotes = append(t.footnotes, fmt.Sprintf("%s %s%s: %s", task, method, settingsText(cell.Settings), n))
		}
	}
	return t
}

// SummaryLine is the one line a CI log shows: "compare: FAIL: 2 of 6 baseline groups
// failing (1 score moved, 1 missing group); 1 new group (not a failure)".
func (c Comparison) SummaryLine() string {
	s := c.Summary
	var what []string
	for _, x := range []struct {
		n         int
		one, many string
	}{
		{s.Moved, "score moved", "scores moved"},
		{s.Undefined, "score undefined on one side", "scores undefined on one side"},
		{s.ParamsChanged, "parameter count changed", "parameter counts changed"},
		{s.MissingSeeds, "seed missing", "seeds missing"},
		{s.Diverged, "seed diverged", "seeds diverged"},
		{s.Missing, "group missing", "groups missing"},
	} {
		if x.n > 0 {
			what = append(what, fmt.Sprintf("%d %s", x.n, plural(x.n, x.one, x.many)))
		}
	}
	line := fmt.Sprintf("compare: OK: %d baseline %s within tolerance", s.Baseline, plural(s.Baseline, "group", "groups"))
	if !c.OK {
		line = fmt.Sprintf("compare: FAIL: %d of %d baseline %s failing (%s)", s.Failing, s.Baseline,
			plural(s.Baseline, "group", "groups"), strings.Join(what, ", "))
	}
	if s.New > 0 {
		line += fmt.Sprintf("; %d new %s (not a failure)", s.New, plural(s.New, "group", "groups"))
	}
	return line
}

func mark(fail bool) string {
	if fail {
		return markFail
	}
	return ""
}

func settingsText(s string) string {
	if s == "" {
		return ""
	}
	return " [" + s + "]"
}

func countText(n *int64) string {
	if n == nil {
		return missing
	}
	return strconv.FormatInt(*n, 10)
}

func countDelta(p ParamsComparison) string {
	if p.Baseline == nil || p.New == nil {
		return missing
	}
	return fmt.Sprintf("%+d", *p.New-*p.Baseline)
}

// pointText is a fraction as points with two decimals; signed for a delta.
func pointText(v *float64, signed bool) string {
	if v == nil {
		return missing
	}
	if signed {
		return fmt.Sprintf("%+.2f", 100**v)
	}
	return fmt.Sprintf("%.2f", 100**v)
}

func baselineText(sc ScoreComparison) string {
	if sc.Baseline != nil && sc.BaselineStd != nil {
		return fmt.Sprintf("%.2f ± %.2f", 100**sc.Baseline, 100**sc.BaselineStd)
	}
	return pointText(sc.Baseline, false)
}

func toleranceText(sc ScoreComparison) string {
	if sc.Tolerance == nil {
		return missing
	}
	return fmt.Sprintf("±%.2f (%s)", 100**sc.Tolerance, sc.Rule)
}

func pointWord(p float64) string {
	if p == 1 {
		return "point"
	}
	return "points"
}
