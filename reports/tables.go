package reports

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
)

// missing marks an empty cell, as in the paper.
const missing = "–"

// table is a rendered-to-text table, independent of the output format.
type table struct {
	title     string // heading
	note      string // one line saying how to read it
	header    []string
	rows      [][]string
	text      []int    // columns of names and text, left-aligned; numbers are right-aligned
	footnotes []string // under the table: diverged seeds (†), mixed cells (‡)
}

// Cell markers, explained by a footnote under the table.
const (
	markDiverged = "†"
	markMixed    = "‡"
)

// paperTables are the paper's main tables, one per suite (in task order): methods ×
// tasks, each task's cell as the paper prints it (TaskCell: MNLI m/mm, QQP Acc/F1,
// SQuAD EM/F1, ...), every metric the mean ± std over finished seeds, and, where the
// suite's paper table has one, Avg. Cells with diverged seeds are marked †, cells that
// mix settings (Mix) ‡; footnotes say which.
func paperTables(g *grid) []table {
	var out []table
	for _, suite := range g.suites() {
		out = append(out, g.paperTable(suite))
	}
	return out
}

// paperTable is the first suite's table (there is one per suite).
func paperTable(g *grid) table { return paperTables(g)[0] }

// suites lists the suites of the grid's tasks, in task order.
func (g *grid) suites() []string {
	var out []string
	for _, tk := range g.tasks {
		if !slices.Contains(out, tk.suite) {
			out = append(out, tk.suite)
		}
	}
	return out
}

// suiteTable is one suite's columns: its tasks and the cell each prints.
type suiteTable struct {
	suite string
	tasks []taskKey
	cells []Cell
	avg   bool
}

func (g *grid) suiteTable(suite string) suiteTable {
	st := suiteTable{suite: suite, avg: hasAvg(suite)}
	for _, tk := range g.tasks {
		if tk.suite != suite {
			continue
		}
		reported := map[string]bool{}
		for _, row := range g.rows {
			for _, r := range g.cells[cellKey{tk, row}] {
				for k := range r.Scores {
					reported[k] = true
				}
			}
		}
		st.tasks = append(st.tasks, tk)
		st.cells = append(st.cells, TaskCell(suite, tk.task, g.main[tk], reported))
	}
	return st
}

func (g *grid) paperTable(suite string) table {
	st := g.suiteTable(suite)
	title := "Results"
	if len(g.suites()) > 1 {
		title += ": " + suite
	}
	note := "Mean ± std over seeds (sample std) of each metric the paper's cell prints; percentages × 100 " +
		"(cosines and thresholds as they are); " +
		"# Params: adapter parameters, 3 significant digits (% of the base model, heads excluded); " +
		"best per column in bold; n/a: undefined for every seed; (k/n): the mean of the k of n seeds where it is defined."
	if st.avg {
		// The AdaLoRA/VectorFit GLUE tables' Avg. is one number per task: its main
		// metric (the first of a pair: MNLI matched accuracy, QQP/MRPC accuracy, STS-B
		// Pearson, CoLA Matthews), averaged over the tasks.
		note += " Avg.: the mean over tasks of each task's main score (" + g.mainScores(st) + "), for rows with every task."
	}
	t := table{title: title, note: note, header: []string{"Method", "# Params"}, text: []int{0, 1}}
	for i, tk := range st.tasks {
		t.header = append(t.header, g.plainTaskLabel(tk)+" "+st.cells[i].Header)
	}
	if st.avg {
		t.header = append(t.header, "Avg.")
	}
	rows, cells := g.paperCells(st)
	for i, row := range rows {
		line := []string{rowLabel(row), paramsText(preferFinished(g.rowRecords(st, row)))}
		for _, c := range cells[i] {
			line = append(line, c.text())
		}
		t.rows = append(t.rows, line)
	}
	t.footnotes = append(g.divergedNotes(suite), g.mixedNotes(suite)...)
	return t
}

// paperCells are the suite table's rows (methods with a record in some task) and their
// cells, the best per column marked; markdown and LaTeX render the same cells.
func (g *grid) paperCells(st suiteTable) ([]rowKey, [][]paperCell) {
	var rows []rowKey
	for _, row := range g.rows {
		for _, tk := range st.tasks {
			if len(g.cells[cellKey{tk, row}]) > 0 {
				rows = append(rows, row)
				break
			}
		}
	}
	cells := make([][]paperCell, len(rows))
	for i, row := range rows {
		cells[i] = g.paperRow(st, row)
	}
	markBest(cells)
	return rows, cells
}

func (g *grid) rowRecords(st suiteTable, row rowKey) []Record {
	var all []Record
	for _, tk := range st.tasks {
		all = append(all, g.cells[cellKey{tk, row}]...)
	}
	return all
}

// mainScores names each task's main score: "CoLA Mcc, MNLI Acc, ...".
func (g *grid) mainScores(st suiteTable) string {
	parts := make([]string, len(st.tasks))
	for i, tk := range st.tasks {
		name := missing // every seed diverged unevaluated
		if m := g.main[tk]; m != "" {
			name = LookupMetric(tk.suite, m).Name
		}
		parts[i] = g.plainTaskLabel(tk) + " " + name
	}
	return strings.Join(parts, ", ")
}

// paperCell is one table cell: its metrics' statistics (one part per metric, "/"
// between them), the bold marks, and the cell's markers († ‡) or a whole-cell text
// ("diverged", "–").
type paperCell struct {
	metrics []Metric
	stats   []stat
	best    []bool
	whole   string // instead of the parts
	marks   string
	avg     bool // the Avg. column: a mean, no spread
}

func (c paperCell) text() string {
	if c.whole != "" {
		return c.whole + c.marks
	}
	parts := make([]string, len(c.stats))
	for i, s := range c.stats {
		if c.avg {
			parts[i] = s.meanText(c.metrics[i], c.best[i])
		} else {
			parts[i] = s.text(c.metrics[i], c.best[i])
		}
	}
	return strings.Join(parts, "/") + c.marks
}

// paperRow is a row's cells: one per task, then Avg. when the suite has it.
func (g *grid) paperRow(st suiteTable, row rowKey) []paperCell {
	var out []paperCell
	var mains []float64
	complete := true // every task has a defined main score
	undefined := false
	for i, tk := range st.tasks {
		c := cellKey{tk, row}
		rs := g.cells[c]
		pc := paperCell{marks: g.markers(c)}
		switch fin := finished(rs); {
		case len(rs) == 0:
			pc.whole, complete = missing, false
		case len(fin) == 0:
			pc.whole, complete = "diverged", false // every seed did
		default:
			for _, k := range st.cells[i].Keys {
				pc.metrics = append(pc.metrics, LookupMetric(tk.suite, k))
				pc.stats = append(pc.stats, statOf(fin, k))
			}
			pc.best = make([]bool, len(pc.stats))
			m := statOf(fin, g.main[tk])
			switch {
			case m.n > 0:
				mains = append(mains, m.mean)
			case m.of > 0:
				undefined, complete = true, false
			default:
				complete = false
			}
		}
		out = append(out, pc)
	}
	if !st.avg {
		return out
	}
	// An average over a subset of the tasks would not compare with the other rows'.
	avg := paperCell{whole: missing}
	switch {
	case complete && len(mains) > 0:
		metric := LookupMetric(st.suite, g.main[st.tasks[0]])
		avg = paperCell{metrics: []Metric{metric}, stats: []stat{{mean: mean(mains), n: 1, of: 1}}, best: []bool{false}, avg: true}
	case undefined:
		avg.whole = notApplicable
	}
	return append(out, avg)
}

// notApplicable is an undefined value: every seed's score is undefined (NaN/null).
const notApplicable = "n/a"

// stat is one metric over a cell's finished seeds: the mean and sample std of the n
// seeds where it is defined, of the `of` seeds that report it.
type stat struct {
	mean, std float64
	n, of     int
}

// statOf skips undefined (NaN) values: the mean is over the seeds that have one.
func statOf(rs []Record, key string) stat {
	var xs []float64
	var of int
	for _, r := range rs {
		v, ok := r.Scores[key]
		if !ok {
			continue
		}
		of++
		if !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	s := stat{n: len(xs), of: of}
	if len(xs) > 0 {
		s.mean, s.std = meanStd(xs)
	}
	return s
}

// text is "89.90 ± 0.12", "89.90" for one seed, "n/a" when no seed's value is defined,
// "–" when none reports it, with "(k/n)" when only k of n are defined; bold marks the
// mean as the column's best.
func (s stat) text(m Metric, bold bool) string {
	switch {
	case s.of == 0:
		return missing
	case s.n == 0:
		return notApplicable
	}
	out := s.meanText(m, bold)
	if s.n > 1 {
		out += " ± " + formatValue(m, s.std)
	}
	if s.n < s.of {
		out += fmt.Sprintf(" (%d/%d)", s.n, s.of)
	}
	return out
}

// meanOnly is text without the spread, for the detail table's means.
func (s stat) meanOnly(m Metric) string {
	switch {
	case s.of == 0:
		return missing
	case s.n == 0:
		return notApplicable
	}
	out := formatValue(m, s.mean)
	if s.n < s.of {
		out += fmt.Sprintf(" (%d/%d)", s.n, s.of)
	}
	return out
}

func (s stat) meanText(m Metric, bold bool) string {
	v := formatValue(m, s.mean)
	if bold {
		return "**" + v + "**"
	}
	return v
}

// formatValue shows a raw value as the registry says: percentages ×100 with 2
// decimals, counts as integers, thresholds and cosines with 3 decimals.
func formatValue(m Metric, v float64) string {
	if math.IsNaN(v) {
		return notApplicable
	}
	switch m.Scale {
	case Count:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case Raw:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64)
}

// markBest bolds, per column and metric, the best mean (highest for a higher-is-better
// metric) as shown, so that values equal at the table's precision are all bold. A
// column with fewer than two defined values has nothing to compare, and marks none.
func markBest(rows [][]paperCell) {
	if len(rows) == 0 {
		return
	}
	for col := range rows[0] {
		for part := 0; ; part++ {
			var best string
			var bestVal float64
			var values int
			var metric Metric
			for _, row := range rows {
				c := row[col]
				if part >= len(c.stats) || c.stats[part].n == 0 {
					continue
				}
				metric = c.metrics[part]
				values++
				if v := c.stats[part].mean; best == "" || v > bestVal {
					best, bestVal = formatValue(metric, v), v
				}
			}
			if values == 0 {
				if !anyPart(rows, col, part) {
					break
				}
				continue
			}
			if values < 2 || !metric.HigherIsBetter {
				continue
			}
			for _, row := range rows {
				c := row[col]
				if part < len(c.stats) && c.stats[part].n > 0 && formatValue(c.metrics[part], c.stats[part].mean) == best {
					c.best[part] = true
				}
			}
		}
	}
}

// anyPart says whether some row's cell in col has a part'th metric.
func anyPart(rows [][]paperCell, col, part int) bool {
	for _, row := range rows {
		if part < len(row[col].stats) {
			return true
		}
	}
	return false
}

// markers is " †", " ‡", " †‡" or nothing.
func (g *grid) markers(c cellKey) string {
	var m string
	if rs := g.cells[c]; len(finished(rs)) < len(rs) {
		m += markDiverged
	}
	if _, ok := g.mixed[c]; ok {
		m += markMixed
	}
	if m == "" {
		return ""
	}
	return " " + m
}

// preferFinished is the finished records, or all when none finished: a diverged run's
// parameter counts are still the method's.
func preferFinished(rs []Record) []Record {
	if fin := finished(rs); len(fin) > 0 {
		return fin
	}
	return rs
}

func (g *grid) cellLabel(c cellKey) string { return g.taskLabel(c.taskKey) + " · " + rowLabel(c.row) }

// cellsInOrder lists the non-empty cells of a suite ("": all) row by row, as the paper
// table reads.
func (g *grid) cellsInOrder(suite string) []cellKey {
	var out []cellKey
	for _, row := range g.rows {
		for _, tk := range g.tasks {
			if c := (cellKey{tk, row}); len(g.cells[c]) > 0 && (suite == "" || tk.suite == suite) {
				out = append(out, c)
			}
		}
	}
	return out
}

// divergedNotes says, per cell with diverged seeds, which seeds stopped where and why,
// and the best score each reached before (its record keeps it; the mean does not).
func (g *grid) divergedNotes(suite string) []string {
	var out []string
	for _, c := range g.cellsInOrder(suite) {
		rs := g.cells[c]
		var which []string
		for _, r := range rs {
			if r.Diverged() {
				which = append(which, divergenceText(r))
			}
		}
		k, n := len(which), len(rs)
		switch {
		case k == 0:
			continue
		case k == n:
			out = append(out, fmt.Sprintf("%s %s: %d of %d seeds diverged, so the cell has no mean: %s.",
				markDiverged, g.cellLabel(c), k, n, strings.Join(which, "; ")))
		default:
			out = append(out, fmt.Sprintf("%s %s: %d of %d seeds diverged and %s left out of the mean: %s.",
				markDiverged, g.cellLabel(c), k, n, plural(k, "is", "are"), strings.Join(which, "; ")))
		}
	}
	return out
}

// divergenceText is "seed 3 at step 120 (loss is NaN), best 55.00 before it".
func divergenceText(r Record) string {
	s := fmt.Sprintf("seed %d at step %d", r.Seed, r.Divergence.Step)
	if r.Divergence.Reason != "" {
		s += " (" + r.Divergence.Reason + ")"
	}
	if v, ok := r.Scores[r.MainScore]; ok {
		s += ", best " + formatValue(LookupMetric(r.Suite, r.MainScore), v) + " before it"
	}
	return s
}

// mixedNotes says what each mixed cell averages (Mix).
func (g *grid) mixedNotes(suite string) []string {
	var out []string
	for _, c := range g.cellsInOrder(suite) {
		if what, ok := g.mixed[c]; ok {
			out = append(out, fmt.Sprintf("%s %s averages seeds that differ in %s.", markMixed, g.cellLabel(c), what))
		}
	}
	return out
}

func meanStdText(xs []float64) string {
	switch len(xs) {
	case 0:
		return missing
	case 1:
		return fmt.Sprintf("%.2f", xs[0])
	}
	m, s := meanStd(xs)
	return fmt.Sprintf("%.2f ± %.2f", m, s)
}

// paramsText is "0.14M (0.13%)"; a range if the records disagree (e.g. a task-dependent
// adapter), rather than an average that no run had.
func paramsText(rs []Record) string {
	if len(rs) == 0 {
		return missing
	}
	n := rangeOf(rs, func(c methods.Counts) float64 { return float64(c.Adapter) })
	p := rangeOf(rs, func(c methods.Counts) float64 { return c.AdapterPercent })
	return fmt.Sprintf("%s (%s)", spanText(n, humanCount), spanText(p, percentText))
}

func rangeOf(rs []Record, f func(methods.Counts) float64) [2]float64 {
	lo, hi := f(rs[0].Params), f(rs[0].Params)
	for _, r := range rs[1:] {
		lo, hi = min(lo, f(r.Params)), max(hi, f(r.Params))
	}
	return [2]float64{lo, hi}
}

func spanText(span [2]float64, format func(float64) string) string {
	lo, hi := format(span[0]), format(span[1])
	if lo == hi {
		return lo
	}
	return lo + "–" + hi
}

// humanCount writes a parameter count with 3 significant digits, in the paper's units:
// millions from 0.1M up, as the AdaLoRA/VectorFit # Params column prints them (0.138M,
// 0.320M, 1.33M, 14.2M, 184M); thousands below (2.30K, 14.3K), where 0.01M would hide
// the differences between small adapters; plain digits under 1000; billions from 1B.
// Three digits tell apart methods that differ by 1% or more.
func humanCount(f float64) string {
	if f >= 1e3 {
		// Round to 3 significant digits before choosing the unit: 99,999 is 0.100M.
		p := math.Pow(10, math.Floor(math.Log10(f))-2)
		f = math.Round(f/p) * p
	}
	switch {
	case f < 1e3:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f < 1e5:
		return sig3(f/1e3) + "K"
	case f < 1e9:
		return sig3(f/1e6) + "M"
	}
	return sig3(f/1e9) + "B"
}

// sig3 writes x (0.1 ≤ x < 1000) with 3 significant digits, trailing zeros kept.
func sig3(x float64) string {
	decimals := 2 - int(math.Floor(math.Log10(x)))
	decimals = max(decimals, 0)
	// Rounding may carry into the next power of ten (0.9996 → "1.000"): recount.
	if r := strconv.FormatFloat(x, 'f', decimals, 64); decimals > 0 && math.Floor(math.Log10(mustParse(r))) > math.Floor(math.Log10(x)) {
		return strconv.FormatFloat(x, 'f', decimals-1, 64)
	}
	return strconv.FormatFloat(x, 'f', decimals, 64)
}

func mustParse(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func percentText(p float64) string {
	if p > 0 && p < 0.01 {
		return fmt.Sprintf("%.4f%%", p) // keep tiny adapters from reading as 0.00%
	}
	return fmt.Sprintf("%.2f%%", p)
}

// detailTable has one row per (task, method): every score, parameters, times, memory and
// the update rank per layer type, averaged over finished seeds; Seeds counts the diverged
// ones apart ("3 + 1 diverged"), which count nowhere else.
func detailTable(g *grid) table {
	t := table{
		title: "Details",
		note: "Per task and method, means over the seeds where a score is defined; percentages × 100, counts and " +
			"thresholds as they are; " + detailScope(g.detailAll) + "; times in seconds except the step; " +
			"peak RSS is the largest over seeds; ΔW rank: mean rank per layer type (fraction of full rank).",
		header: detailHeader,
		text:   []int{0, 1, 3, 12, 13},
	}
	for _, tk := range g.tasks {
		for _, row := range g.rows {
			if rs := g.cells[cellKey{tk, row}]; len(rs) > 0 {
				method := rowLabel(row)
				if _, ok := g.mixed[cellKey{tk, row}]; ok {
					method += " " + markMixed
				}
				t.rows = append(t.rows, detailRow(g.taskLabel(tk), method, rs, g.detailKeys(tk)))
			}
		}
	}
	t.footnotes = g.mixedNotes("")
	return t
}

func detailScope(all bool) string {
	if all {
		return "every score (-detail all)"
	}
	return "the paper cell's scores (every score: -detail all, -format csv or json)"
}

// detailKeys are the scores the detail table shows for a task: the paper cell's
// metrics, or every score with -detail all (nil).
func (g *grid) detailKeys(tk taskKey) []string {
	if g.detailAll {
		return nil
	}
	st := g.suiteTable(tk.suite)
	return st.cells[slices.Index(st.tasks, tk)].Keys
}

var detailHeader = []string{"Task", "Method", "Seeds", "Scores", "Adapter", "Head", "% base",
	"Setup (s)", "Train (s)", "Step (ms)", "Eval (s)", "Peak RSS (MiB)", "ΔW rank", "Effective rank"}

func detailRow(task, method string, all []Record, keys []string) []string {
	rs := finished(all)
	seeds := strconv.Itoa(len(rs))
	if d := len(all) - len(rs); d > 0 {
		seeds += fmt.Sprintf(" + %d diverged", d)
	}
	if len(rs) == 0 {
		row := []string{task, method, seeds}
		for len(row) < len(detailHeader) {
			row = append(row, missing)
		}
		return row
	}
	timing := func(f func(Timing) float64, scale float64) string {
		return fmt.Sprintf("%.1f", scale*mean(collect(rs, func(r Record) (float64, bool) { return f(r.Timing), true })))
	}
	return []string{
		task, method, seeds, scoresText(rs, keys),
		spanText(rangeOf(rs, func(c methods.Counts) float64 { return float64(c.Adapter) }), humanCount),
		spanText(rangeOf(rs, func(c methods.Counts) float64 { return float64(c.Head) }), humanCount),
		spanText(rangeOf(rs, func(c methods.Counts) float64 { return c.AdapterPercent }), percentText),
		timing(func(t Timing) float64 { return t.SetupSeconds }, 1),
		timing(func(t Timing) float64 { return t.TrainSeconds }, 1),
		timing(func(t Timing) float64 { return t.StepSeconds }, 1000),
		timing(func(t Timing) float64 { return t.EvalSeconds }, 1),
		peakText(rs),
		rankText(rs, func(s methods.RankSummary) string {
			return fmt.Sprintf("%s (%.2f)", trimFloat(s.Mean), s.FractionOfFull)
		}),
		rankText(rs, func(s methods.RankSummary) string { return fmt.Sprintf("%.0f", s.MeanEffectiveRank) }),
	}
}

// scoresText lists the scores keys (nil: every score, the main one first) as their
// mean over the seeds where they are defined, scaled as the registry says.
func scoresText(rs []Record, keys []string) string {
	if keys == nil {
		all := map[string]bool{}
		for _, r := range rs {
			for k := range r.Scores {
				all[k] = true
			}
		}
		main := rs[0].MainScore
		delete(all, main)
		keys = append([]string{main}, sortedKeys(all)...)
	}
	var parts []string
	for _, k := range keys {
		m := LookupMetric(rs[0].Suite, k)
		parts = append(parts, m.Name+" "+statOf(rs, k).meanOnly(m))
	}
	return strings.Join(parts, " · ")
}

// peakText is the largest peak over seeds: the memory a run of this cell needs.
func peakText(rs []Record) string {
	var peak int64
	for _, r := range rs {
		peak = max(peak, r.PeakRSSBytes)
	}
	if peak == 0 {
		return missing // not measured on this platform
	}
	return fmt.Sprintf("%.0f", float64(peak)/(1<<20))
}

// rankText averages each layer type's summary over seeds and formats it per type; when
// every type reads the same (full fine-tuning: all full rank) it says so once.
func rankText(rs []Record, format func(methods.RankSummary) string) string {
	var parts, values []string
	for _, t := range layerTypes(rs) {
		v := format(meanSummary(rs, t))
		parts = append(parts, string(t)+" "+v)
		values = append(values, v)
	}
	switch {
	case len(parts) == 0:
		return missing
	case len(parts) > 1 && len(slices.Compact(slices.Clone(values))) == 1:
		return "all " + values[0]
	}
	return strings.Join(parts, " · ")
}

// meanSummary averages type t's summaries over the seeds that have it.
func meanSummary(rs []Record, t models.LayerType) methods.RankSummary {
	var out methods.RankSummary
	var n float64
	for _, r := range rs {
		for _, s := range r.Ranks {
			if s.Type == t {
				out.Mean += s.Mean
				out.FractionOfFull += s.FractionOfFull
				out.MeanEffectiveRank += s.MeanEffectiveRank
				n++
			}
		}
	}
	out.Type = t
	out.Mean /= n
	out.FractionOfFull /= n
	out.MeanEffectiveRank /= n
	return out
}

// trimFloat writes a mean rank with one decimal, dropping ".0" for the common whole rank.
func trimFloat(f float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0")
}
