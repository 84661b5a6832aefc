package reports

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/vectorfit/harness/models"
)

// Formats are the formats Render writes.
var Formats = []string{"md", "latex", "csv", "json"}

// Render is RenderGrouped with Refuse: a table cell never averages records that differ
// in more than their seed.
func Render(w io.Writer, records []Record, format string) error {
	return RenderGrouped(w, records, format, Refuse)
}

// RenderGrouped writes records as format: "md" (the paper table and the detail table,
// for a paper draft), "csv" (one row per record, raw values, for analysis) or "json"
// (the records as an indented array). Records are checked as a set first: each valid,
// none twice, one main score per task. Grouping applies to the tables, which average:
// the records of a (task, method) that differ in model, code version or settings are
// refused, mixed or split as it says. CSV and JSON average nothing; they list every
// record with the fields that tell them apart (status, settings hash, model, code
// version, hyperparameters, method settings).
func RenderGrouped(w io.Writer, records []Record, format string, grouping Grouping) error {
	return RenderWith(w, records, format, Options{Grouping: grouping})
}

// Options are RenderWith's choices besides the format.
type Options struct {
	Grouping Grouping // what the tables do with records that differ in more than their seed
	// DetailAll lists every score in the markdown detail table (SQuAD v2.0 has 13);
	// by default it shows the paper cell's (EM and F1), and CSV and JSON carry all.
	DetailAll bool
}

// RenderWith is RenderGrouped with Options.
func RenderWith(w io.Writer, records []Record, format string, o Options) error {
	grouping := o.Grouping
	if !slices.Contains(Formats, format) {
		return fmt.Errorf("reports: unknown format %q, want one of %s", format, strings.Join(Formats, ", "))
	}
	if len(records) == 0 {
		return errors.New("reports: no records to render")
	}
	if grouping < Refuse || grouping > Split {
		return fmt.Errorf("reports: unknown grouping %d, want Refuse, Mix or Split", grouping)
	}
	if format != "md" && format != "latex" {
		grouping = Split // never refuses; the rows are the records either way
	}
	g, err := newGrid(records, grouping)
	if err != nil {
		return err
	}
	g.detailAll = o.DetailAll
	switch format {
	case "md":
		return renderMarkdown(w, g)
	case "latex":
		return renderLaTeX(w, g)
	case "csv":
		return renderCSV(w, g.records())
	}
	return renderJSON(w, g.records())
}

// records returns the grid's records in ReadDir's order.
func (g *grid) records() []Record {
	var out []Record
	for _, tk := range g.tasks {
		for _, row := range g.rows {
			out = append(out, g.cells[cellKey{tk, row}]...)
		}
	}
	sortRecords(out) // split rows of a method would otherwise interleave its seeds
	return out
}

func renderMarkdown(w io.Writer, g *grid) error {
	for i, t := range append(paperTables(g), detailTable(g)) {
		if i > 0 {
			if _, err := io.WriteString(w, "\n"); err != nil {
				return err
			}
		}
		if err := writeMarkdownTable(w, t); err != nil {
			return err
		}
	}
	return nil
}

// writeMarkdownTable writes "## title", the note, and the table. Header case, wrapping and
// width detection are pinned so that the file is the same on every machine: tablewriter
// upper-cases headers and wraps long cells by default, and sizes ambiguous-width runes
// (±, –, ·, Δ) from the locale, which would shift the padding under a CJK locale
// (WithEastAsian sets that process-wide; narrow is also what a markdown file wants).
func writeMarkdownTable(w io.Writer, t table) error {
	if _, err := fmt.Fprintf(w, "## %s\n\n%s\n\n", t.title, t.note); err != nil {
		return err
	}
	tb := tablewriter.NewTable(w,
		tablewriter.WithRenderer(renderer.NewMarkdown()),
		tablewriter.WithEastAsian(tw.Off),
		tablewriter.WithConfig(tablewriter.Config{
			Header: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoFormat: tw.Off, AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{Global: tw.AlignLeft},
			},
			Row: tw.CellConfig{
				Formatting: tw.CellFormatting{AutoWrap: tw.WrapNone},
				Alignment:  tw.CellAlignment{PerColumn: t.alignments()},
			},
		}))
	tb.Header(escapeCells(t.header))
	for _, row := range t.rows {
		if err := tb.Append(escapeCells(row)); err != nil {
			return err
		}
	}
	if err := tb.Render(); err != nil {
		return err
	}
	if len(t.footnotes) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w, "\n- %s\n", strings.Join(t.footnotes, "\n- "))
	return err
}

// alignments puts text left and numbers right, as a paper table does.
func (t table) alignments() []tw.Align {
	a := make([]tw.Align, len(t.header))
	for i := range a {
		a[i] = tw.AlignRight
		if slices.Contains(t.text, i) {
			a[i] = tw.AlignLeft
		}
	}
	return a
}

// escapeCells protects the markdown column separator; the renderer does not.
func escapeCells(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.ReplaceAll(c, "|", `\|`)
	}
	return out
}

func renderJSON(w io.Writer, rs []Record) error {
	data, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// renderCSV writes one row per record with raw values (scores as fractions, counts and
// thresholds as they are, seconds, bytes) so that analysis starts from the numbers, not
// from the tables' rounding. An undefined score is NaN, which pandas and R read as NaN;
// an empty cell is a score the record does not report.
func renderCSV(w io.Writer, rs []Record) error {
	cols := csvColumns(rs)
	cw := csv.NewWriter(w)
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.name
	}
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range rs {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = c.value(r)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

type csvColumn struct {
	name  string
	value func(Record) string
}

// csvColumns are the fixed columns plus one per score key and per layer type present, so
// that every row has the same columns; a record lacking one leaves it empty.
func csvColumns(rs []Record) []csvColumn {
	cols := []csvColumn{
		{"suite", func(r Record) string { return r.Suite }},
		{"task", func(r Record) string { return r.Task }},
		{"method", func(r Record) string { return r.Method }},
		{"seed", func(r Record) string { return strconv.FormatInt(r.Seed, 10) }},
		{"main_score", func(r Record) string { return r.MainScore }},
		{"main_value", func(r Record) string {
			if v, ok := r.Scores[r.MainScore]; ok {
				return num(v)
			}
			return "" // diverged before its first evaluation
		}},
		// An old record without a status finished: say so, so that a filter on
		// status == "finished" keeps it.
		{"status", func(r Record) string { return cmp.Or(r.Status, StatusFinished) }},
		{"divergence_step", func(r Record) string {
			if r.Divergence == nil {
				return ""
			}
			return strconv.Itoa(r.Divergence.Step)
		}},
		{"divergence_reason", func(r Record) string {
			if r.Divergence == nil {
				return ""
			}
			return r.Divergence.Reason
		}},
	}
	for _, k := range scoreKeys(rs) {
		cols = append(cols, csvColumn{"score_" + k, func(r Record) string {
			if v, ok := r.Scores[k]; ok {
				return num(v)
			}
			return ""
		}})
	}
	cols = append(cols, fixedCSVColumns...)
	for _, t := range layerTypes(rs) {
		cols = append(cols,
			csvColumn{"rank_mean_" + string(t), func(r Record) string { return rankField(r, t, rankMean) }},
			csvColumn{"rank_fraction_" + string(t), func(r Record) string { return rankField(r, t, rankFraction) }},
			csvColumn{"effective_rank_" + string(t), func(r Record) string { return rankField(r, t, rankEffective) }})
	}
	cols = append(cols,
		csvColumn{"device", func(r Record) string { return r.Device }},
		csvColumn{"code_version", func(r Record) string { return r.Code.Version }},
		csvColumn{"settings_hash", func(r Record) string { return r.SettingsHash }},
		csvColumn{"model", func(r Record) string { return r.Model.Name }},
		csvColumn{"model_config_sha256", func(r Record) string { return r.Model.ConfigSHA256 }},
		csvColumn{"model_weights_sha256", func(r Record) string { return r.Model.WeightsSHA256 }})
	// The settings that tell experiments apart, one column each, so that an analysis can
	// group by them (the tables group by them too).
	cols = append(cols, mapColumns("hp_", rs, func(r Record) map[string]any { return r.Hyperparameters })...)
	cols = append(cols, mapColumns("setting_", rs, func(r Record) map[string]any { return r.MethodSettings })...)
	return append(cols,
		csvColumn{"started_at", func(r Record) string { return timeText(r.StartedAt) }},
		csvColumn{"finished_at", func(r Record) string { return timeText(r.FinishedAt) }})
}

// mapColumns is one column per key of the records' maps, prefixed; a record without the
// key leaves it empty.
func mapColumns(prefix string, rs []Record, m func(Record) map[string]any) []csvColumn {
	keys := map[string]bool{}
	for _, r := range rs {
		for k := range m(r) {
			keys[k] = true
		}
	}
	var cols []csvColumn
	for _, k := range sortedKeys(keys) {
		cols = append(cols, csvColumn{prefix + k, func(r Record) string {
			if v, ok := m(r)[k]; ok {
				return valueText(v)
			}
			return ""
		}})
	}
	return cols
}

var fixedCSVColumns = []csvColumn{
	{"best_step", func(r Record) string { return strconv.Itoa(r.BestStep) }},
	{"params_adapter", func(r Record) string { return strconv.FormatInt(r.Params.Adapter, 10) }},
	{"params_head", func(r Record) string { return strconv.FormatInt(r.Params.Head, 10) }},
	{"params_total", func(r Record) string { return strconv.FormatInt(r.Params.Total, 10) }},
	{"params_base", func(r Record) string { return strconv.FormatInt(r.Params.Base, 10) }},
	{"params_adapter_percent", func(r Record) string { return num(r.Params.AdapterPercent) }},
	{"setup_seconds", func(r Record) string { return num(r.Timing.SetupSeconds) }},
	{"train_seconds", func(r Record) string { return num(r.Timing.TrainSeconds) }},
	{"eval_seconds", func(r Record) string { return num(r.Timing.EvalSeconds) }},
	{"step_seconds", func(r Record) string { return num(r.Timing.StepSeconds) }},
	{"steps", func(r Record) string { return strconv.Itoa(r.Timing.Steps) }},
	{"peak_rss_bytes", func(r Record) string { return strconv.FormatInt(r.PeakRSSBytes, 10) }},
}

func scoreKeys(rs []Record) []string {
	keys := map[string]bool{}
	for _, r := range rs {
		for k := range r.Scores {
			keys[k] = true
		}
	}
	return sortedKeys(keys)
}

type rankPart int

const (
	rankMean rankPart = iota
	rankFraction
	rankEffective
)

func rankField(r Record, t models.LayerType, part rankPart) string {
	for _, s := range r.Ranks {
		if s.Type != t {
			continue
		}
		switch part {
		case rankMean:
			return num(s.Mean)
		case rankFraction:
			return num(s.FractionOfFull)
		}
		return num(s.MeanEffectiveRank)
	}
	return ""
}

// num writes the shortest text that parses back to the same float64.
func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func timeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
