package reports

import (
	"cmp"
	"fmt"
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

// paperTable is the paper's Table 1: methods × tasks, main score ×100 as mean ± std over
// finished seeds, and the average over tasks for rows that have them all. Cells with
// diverged seeds are marked †, cells that mix settings (Mix) ‡; footnotes say which.
func paperTable(g *grid) table {
	t := table{
		title: "Results",
		note: "Main score × 100, mean ± std over seeds (sample std); # Params: adapter parameters " +
			"(% of the base model, heads excluded). Main scores: " + g.mainScores() + ".",
		header: []string{"Method", "# Params"},
		text:   []int{0, 1},
	}
	for _, tk := range g.tasks {
		t.header = append(t.header, g.taskLabel(tk))
	}
	t.header = append(t.header, "Avg.")
	for _, row := range g.rows {
		t.rows = append(t.rows, g.paperRow(row))
	}
	t.footnotes = append(g.divergedNotes(), g.mixedNotes()...)
	return t
}

func (g *grid) mainScores() string {
	parts := make([]string, len(g.tasks))
	for i, tk := range g.tasks {
		parts[i] = g.taskLabel(tk) + " " + cmp.Or(g.main[tk], missing) // every seed diverged unevaluated
	}
	return strings.Join(parts, ", ")
}

func (g *grid) paperRow(row rowKey) []string {
	var all []Record
	var means []float64
	var cells []string
	for _, tk := range g.tasks {
		rs := g.cells[cellKey{tk, row}]
		all = append(all, rs...)
		xs := collect(finished(rs), mainScore)
		text := meanStdText(xs)
		if len(xs) == 0 && len(rs) > 0 {
			text = "diverged" // every seed did
		}
		cells = append(cells, text+g.markers(cellKey{tk, row}))
		if len(xs) > 0 {
			means = append(means, mean(xs))
		}
	}
	avg := missing
	// An average over a subset of the tasks would not compare with the other rows'.
	if len(means) == len(g.tasks) {
		avg = fmt.Sprintf("%.2f", mean(means))
	}
	row0 := append([]string{rowLabel(row), paramsText(preferFinished(all))}, cells...)
	return append(row0, avg)
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

// cellsInOrder lists the non-empty cells row by row, as the paper table reads.
func (g *grid) cellsInOrder() []cellKey {
	var out []cellKey
	for _, row := range g.rows {
		for _, tk := range g.tasks {
			if c := (cellKey{tk, row}); len(g.cells[c]) > 0 {
				out = append(out, c)
			}
		}
	}
	return out
}

// divergedNotes says, per cell with diverged seeds, which seeds stopped where and why,
// and the best score each reached before (its record keeps it; the mean does not).
func (g *grid) divergedNotes() []string {
	var out []string
	for _, c := range g.cellsInOrder() {
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
	if v, ok := mainScore(r); ok {
		s += fmt.Sprintf(", best %.2f before it", v)
	}
	return s
}

// mixedNotes says what each mixed cell averages (Mix).
func (g *grid) mixedNotes() []string {
	var out []string
	for _, c := range g.cellsInOrder() {
		if what, ok := g.mixed[c]; ok {
			out = append(out, fmt.Sprintf("%s %s averages seeds that differ in %s.", markMixed, g.cellLabel(c), what))
		}
	}
	return out
}

// mainScore is a record's main score on the paper's ×100 scale.
func mainScore(r Record) (float64, bool) {
	v, ok := r.Scores[r.MainScore]
	return 100 * v, ok
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

// humanCount writes parameter counts as the paper does (0.14M, 125M), falling back to
// K and plain digits where "0.00M" would hide the number.
func humanCount(f float64) string {
	switch {
	case f < 1e3:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f < 1e4:
		return fmt.Sprintf("%.1fK", f/1e3)
	case f < 1e7:
		return fmt.Sprintf("%.2fM", f/1e6)
	case f < 1e8:
		return fmt.Sprintf("%.1fM", f/1e6)
	case f < 1e9:
		return fmt.Sprintf("%.0fM", f/1e6)
	}
	return fmt.Sprintf("%.2fB", f/1e9)
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
		note: "Per task and method, means over seeds; scores × 100; times in seconds except the step; " +
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
				t.rows = append(t.rows, detailRow(g.taskLabel(tk), method, rs))
			}
		}
	}
	t.footnotes = g.mixedNotes()
	return t
}

var detailHeader = []string{"Task", "Method", "Seeds", "Scores", "Adapter", "Head", "% base",
	"Setup (s)", "Train (s)", "Step (ms)", "Eval (s)", "Peak RSS (MiB)", "ΔW rank", "Effective rank"}

func detailRow(task, method string, all []Record) []string {
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
		task, method, seeds, scoresText(rs),
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

// scoresText lists every score key, main score first, as the mean over the seeds that
// report it.
func scoresText(rs []Record) string {
	keys := map[string]bool{}
	for _, r := range rs {
		for k := range r.Scores {
			keys[k] = true
		}
	}
	main := rs[0].MainScore
	delete(keys, main)
	var parts []string
	for _, k := range append([]string{main}, sortedKeys(keys)...) {
		xs := collect(rs, func(r Record) (float64, bool) { v, ok := r.Scores[k]; return 100 * v, ok })
		parts = append(parts, fmt.Sprintf("%s %.2f", k, mean(xs)))
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
