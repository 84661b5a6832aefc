package reports

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Published numbers beside ours. A paper table (reports/paper/*.json) holds only numbers
// we can cite: each entry names the paper's table, row and column it comes from. The
// report lists, per task of our records, each of the task's paper-cell metrics for every
// method that we ran or the paper reports: our mean ± std, the paper's value with its
// # Params (a method the paper reports at several budgets gets a line per budget), and
// ours − paper. A number one side lacks is "–".

//go:embed paper/*.json
var paperFS embed.FS

// DefaultPaperTable is the table `runner report -paper` uses without -paper-table.
const DefaultPaperTable = "adalora_glue.json"

// PaperTable is a paper's published numbers.
type PaperTable struct {
	Paper   string       `json:"paper"`   // the citation
	Setting string       `json:"setting"` // model, data, seeds
	Notes   []string     `json:"notes"`
	Entries []PaperEntry `json:"entries"`
}

// PaperEntry is one published number.
type PaperEntry struct {
	Suite  string  `json:"suite"`
	Task   string  `json:"task"`
	Method string  `json:"method"` // our method key: "lora"
	Params string  `json:"params"` // the paper's # Params cell: "1.33M"
	Metric string  `json:"metric"` // our score key, or pearson_spearman_mean
	Value  float64 `json:"value"`  // as the paper prints it (percentages × 100)
	Source string  `json:"source"` // table, row and column
}

// ReadPaperTable reads a paper table: a file path, or the name of one built in
// (reports/paper/NAME).
func ReadPaperTable(name string) (PaperTable, error) {
	data, err := os.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) && !strings.ContainsRune(name, os.PathSeparator) {
		data, err = paperFS.ReadFile("paper/" + name)
	}
	if err != nil {
		return PaperTable{}, fmt.Errorf("reports: paper table %s: %w", name, err)
	}
	return ParsePaperTable(name, data)
}

// ParsePaperTable checks every entry: a value needs its place and its source.
func ParsePaperTable(name string, data []byte) (PaperTable, error) {
	var t PaperTable
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, fmt.Errorf("reports: paper table %s: %w", name, err)
	}
	if len(t.Entries) == 0 {
		return t, fmt.Errorf("reports: paper table %s has no entries", name)
	}
	seen := map[string]int{}
	for i, e := range t.Entries {
		missingField := ""
		switch {
		case e.Suite == "":
			missingField = "suite"
		case e.Task == "":
			missingField = "task"
		case e.Method == "":
			missingField = "method"
		case e.Metric == "":
			missingField = "metric"
		case e.Source == "":
			missingField = "source"
		}
		if missingField != "" {
			return t, fmt.Errorf("reports: paper table %s: entry %d has no %q (every number needs suite, task, method, metric and its source)", name, i, missingField)
		}
		if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
			return t, fmt.Errorf("reports: paper table %s: entry %d (%s) has value %v", name, i, e.Source, e.Value)
		}
		k := strings.Join([]string{e.Suite, normTask(e.Task), e.Method, e.Params, e.Metric}, "|")
		if j, dup := seen[k]; dup {
			return t, fmt.Errorf("reports: paper table %s: entries %d and %d are both %s %s %s (%s) %s", name, j, i, e.Suite, e.Task, e.Method, e.Params, e.Metric)
		}
		seen[k] = i
	}
	return t, nil
}

// derived are metrics a paper prints that our records hold in parts: the AdaLoRA GLUE
// table's STS-B "Corr" is the average of Pearson and Spearman correlation.
var derived = map[string][]string{"pearson_spearman_mean": {"pearson", "spearman"}}

// RenderPaper writes the comparison as markdown, one table per suite of our records.
func RenderPaper(w io.Writer, records []Record, pt PaperTable, grouping Grouping) error {
	if len(records) == 0 {
		return errors.New("reports: no records to render")
	}
	g, err := newGrid(records, grouping)
	if err != nil {
		return err
	}
	for i, suite := range g.suites() {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := writeMarkdownTable(w, g.paperComparison(suite, pt)); err != nil {
			return err
		}
	}
	return nil
}

func (g *grid) paperComparison(suite string, pt PaperTable) table {
	title := "Ours vs published"
	if len(g.suites()) > 1 {
		title += ": " + suite
	}
	var models []string
	for _, r := range g.records() {
		if r.Suite == suite && !slices.Contains(models, orUnknown(r.Model.Name)) {
			models = append(models, orUnknown(r.Model.Name))
		}
	}
	note := "Published: " + pt.Paper + "; " + pt.Setting + ". Ours: " + strings.Join(models, ", ") +
		", mean ± std over finished seeds (× 100 as the paper prints). " +
		"Δ = ours − published, in points. –: no such number on that side."
	for _, n := range pt.Notes {
		note += " " + n
	}
	t := table{title: title, note: note,
		header: []string{"Task", "Metric", "Method", "# Params (ours)", "Ours", "# Params (paper)", "Published", "Δ", "Source"},
		text:   []int{0, 1, 2, 3, 5, 8}}
	st := g.suiteTable(suite)
	for i, tk := range st.tasks {
		keys := st.cells[i].Keys
		for _, pk := range paperMetrics(pt, suite, tk.task) {
			if !containsString(keys, pk) {
				keys = append(keys, pk)
			}
		}
		for _, key := range keys {
			for _, m := range g.comparisonMethods(pt, tk) {
				t.rows = append(t.rows, g.comparisonRows(pt, tk, key, m)...)
			}
		}
	}
	return t
}

// paperMetrics are the metrics the paper reports for a task, in its order.
func paperMetrics(pt PaperTable, suite, task string) []string {
	var out []string
	for _, e := range pt.Entries {
		if e.Suite == suite && normTask(e.Task) == normTask(task) && !containsString(out, e.Metric) {
			out = append(out, e.Metric)
		}
	}
	return out
}

func containsString(xs []string, s string) bool { return slices.Contains(xs, s) }

// comparisonMethods are our rows of the task's methods, then the paper's other methods,
// in the tables' method order.
func (g *grid) comparisonMethods(pt PaperTable, tk taskKey) []string {
	var ms []string
	for _, row := range g.rows {
		if len(g.cells[cellKey{tk, row}]) > 0 && !containsString(ms, row.method) {
			ms = append(ms, row.method)
		}
	}
	for _, e := range pt.Entries {
		if e.Suite == tk.suite && normTask(e.Task) == normTask(tk.task) && !containsString(ms, e.Method) {
			ms = append(ms, e.Method)
		}
	}
	slices.SortStableFunc(ms, compareMethods)
	return ms
}

// comparisonRows are one method's lines for a metric: one per published budget, or one
// with "–" when the paper has none.
func (g *grid) comparisonRows(pt PaperTable, tk taskKey, key, method string) [][]string {
	var ours []Record
	for _, row := range g.rows {
		if row.method == method && row.variant == "" {
			ours = finished(g.cells[cellKey{tk, row}])
		}
	}
	metric := LookupMetric(tk.suite, key)
	name := metric.Name
	if parts, ok := derived[key]; ok {
		name = "mean(" + strings.Join(parts, ", ") + ")"
	}
	oursStat := statOf(derivedRecords(ours, key), key)
	oursText, oursParams := missing, missing
	if len(ours) > 0 {
		oursText = oursStat.text(metric, false)
		oursParams = spanText(rangeOf(ours, adapterCount), humanCount)
	}
	var out [][]string
	for _, e := range pt.Entries {
		if e.Suite != tk.suite || normTask(e.Task) != normTask(tk.task) || e.Method != method || e.Metric != key {
			continue
		}
		delta := missing
		if oursStat.n > 0 {
			delta = signed(scaled(metric, oursStat.mean) - e.Value)
		}
		out = append(out, []string{g.plainTaskLabel(tk), name, methodLabel(method), oursParams, oursText,
			orMissing(e.Params), strconv.FormatFloat(e.Value, 'f', 2, 64), delta, e.Source})
	}
	if len(out) == 0 && len(ours) > 0 {
		out = append(out, []string{g.plainTaskLabel(tk), name, methodLabel(method), oursParams, oursText,
			missing, missing, missing, missing})
	}
	return out
}

// derivedRecords gives each record the derived score key (the mean of its parts) when
// it has every part.
func derivedRecords(rs []Record, key string) []Record {
	parts, ok := derived[key]
	if !ok {
		return rs
	}
	out := make([]Record, len(rs))
	for i, r := range rs {
		sum, all := 0.0, true
		for _, p := range parts {
			v, has := r.Scores[p]
			all = all && has
			sum += v
		}
		if all {
			scores := maps.Clone(r.Scores)
			scores[key] = sum / float64(len(parts))
			r.Scores = scores
		}
		out[i] = r
	}
	return out
}

// scaled is a value in the unit the tables print: ×100 for percentages.
func scaled(m Metric, v float64) float64 {
	if m.Scale == Percent {
		return 100 * v
	}
	return v
}

func signed(d float64) string {
	s := strconv.FormatFloat(d, 'f', 2, 64)
	if d >= 0 {
		s = "+" + s
	}
	return s
}

func orMissing(s string) string {
	if s == "" {
		return missing
	}
	return s
}
