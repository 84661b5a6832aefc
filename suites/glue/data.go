package glue

// Loading GLUE train and dev splits from the two layouts users have: the
// original GLUE download (one TSV file per split, each task with its own
// quirks) and Hugging Face's nyu-mll/glue dataset repo (parquet shards, or
// JSON lines exported from it).
//
// Dependency: github.com/parquet-go/parquet-go was added for the Hugging Face
// layout. Hugging Face dataset repos ship parquet (nyu-mll/glue has no other
// format), and none of the harness's other dependencies (gotch, gonum) read
// it. parquet-go is the maintained pure-Go reader (no cgo, no Arrow C++), so
// this package stays buildable and testable without libtorch.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"

	"github.com/vectorfit/harness/internal/parquetx"

	"github.com/vectorfit/harness/internal/lines"
)

// Example is one row of a GLUE split.
type Example struct {
	// Idx is the 0-based position of the row among the file's data rows
	// (header and blank lines not counted; for a split sharded over several
	// files, the position in their concatenation). Malformed rows skipped
	// with LoadOptions.SkipMalformed keep their position, so Idx always
	// points at the same row of the file. In nyu-mll/glue, Idx equals the
	// dataset's own "idx" column. Prediction files are keyed by Idx.
	Idx int
	// Text1 is the sentence (single-sentence tasks) or the first of the pair
	// (MNLI premise, QNLI question, QQP question1, ...). Text2 is the second
	// of the pair, empty for CoLA and SST-2. Texts are kept byte for byte as
	// in the file, including SST-2's trailing space: tokenizers deal with
	// whitespace, and Hugging Face keeps it too.
	Text1, Text2 string
	// Label is the class id in Hugging Face's order (Task.Labels); 0 for
	// STS-B.
	Label int
	// Score is the STS-B similarity in [0, 5]; 0 for the other tasks.
	Score float64
	// HasLabel is false for unlabelled rows (label -1 in Hugging Face test
	// splits). Every row of a GLUE train or dev TSV is labelled.
	HasLabel bool
}

// Split is one loaded split of a task.
type Split struct {
	// Name is the split in Hugging Face's vocabulary ("train", "validation",
	// "validation_matched", "validation_mismatched") whatever the source
	// format: a GLUE dev.tsv is loaded as "validation".
	Name string
	// Path is the file the examples came from; for a split sharded over
	// several files, the first shard (Files lists them all).
	Path string
	// Files are all the files read for the split, in reading order, so that
	// a run record can hash them.
	Files []string
	// Format is FormatTSV, FormatParquet or FormatJSONL.
	Format string
	// Examples are the rows read, in file order.
	Examples []Example
	// Skipped counts malformed rows dropped because LoadOptions.SkipMalformed
	// was set; SkipReasons describes the first few (file, line, column and
	// what was wrong) for the run log.
	Skipped     int
	SkipReasons []string
}

// maxSkipReasons bounds Split.SkipReasons: the count is what matters, a few
// examples are enough to see what went wrong.
const maxSkipReasons = 10

// Source formats.
const (
	FormatTSV     = "tsv"
	FormatParquet = "parquet"
	FormatJSONL   = "jsonl"
)

// LoadOptions tunes Load and ReadSplitFile.
type LoadOptions struct {
	// SkipMalformed drops malformed rows (wrong column count, unknown label,
	// unparsable score, ...) and counts them in Split.Skipped instead of
	// failing. The real QQP train.tsv needs it: a few of its lines are short.
	// Problems with the file as a whole (missing file, missing column in the
	// header or the parquet schema) are errors regardless.
	SkipMalformed bool
	// MaxExamples, if > 0, stops each split after that many examples (for
	// smoke runs). It applies to every split separately.
	MaxExamples int
	// Format forces one layout: FormatTSV, FormatParquet or FormatJSONL.
	// Empty means detect; detection fails, rather than guess, if a folder
	// holds the same split both as parquet and as JSON lines.
	Format string
	// MaxLineBytes caps the length of one line of a TSV or JSON-lines file
	// (newline not counted); 0 means MaxLineBytes. A longer line is a
	// malformed row (skipped with SkipMalformed; in a TSV header, an error),
	// read no further than the cap.
	MaxLineBytes int
}

// MaxLineBytes is the default cap on a line of a TSV, JSON-lines or
// prediction file: 1 MiB. The longest line in the real GLUE files is a few
// KB (MNLI, QNLI); a longer one is a broken file (e.g. a missing newline or
// an unescaped quote swallowing the rest of a CSV-style file), and reading it
// whole would cost memory and, once tokenised, time for nothing.
const MaxLineBytes = 1 << 20

// ParseError reports a malformed row or file. Its message names the file,
// the line (TSV, JSON lines; 1-based, as an editor shows it) or the row
// (parquet; 0-based, as pandas and the HF viewer show it), the column, and
// what was expected.
type ParseError struct {
	Path   string
	Line   int    // 1-based line of a TSV or JSON-lines file; 0 if not line based
	Row    int    // 0-based row of a parquet file; -1 if not parquet
	Column string // column (TSV header name, parquet column, JSON field)
	Msg    string // what was expected and what was found
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("glue: ")
	b.WriteString(e.Path)
	switch {
	case e.Line > 0:
		fmt.Fprintf(&b, ":%d", e.Line)
	case e.Row >= 0:
		fmt.Fprintf(&b, ": row %d (0-based)", e.Row)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ": column %q", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func lineError(path string, line int, column, format string, args ...any) *ParseError {
	return &ParseError{Path: path, Line: line, Row: -1, Column: column, Msg: fmt.Sprintf(format, args...)}
}

func rowError(path string, row int, column, format string, args ...any) *ParseError {
	return &ParseError{Path: path, Row: row, Column: column, Msg: fmt.Sprintf(format, args...)}
}

// tsvLayout says where a task's fields are in its original GLUE TSV files.
type tsvLayout struct {
	// columns names the columns of a headerless file (CoLA); nil means the
	// file has a header and columns are found by name.
	columns []string
	// text1, text2, label are column names (text2 empty for single-sentence
	// tasks).
	text1, text2, label string
	// labels are the label strings of the file, in class-id order; nil for
	// STS-B, whose label is a float score.
	labels []string
}

var tsvLayouts = map[string]tsvLayout{
	// CoLA has no header: source, label, original judgement mark, sentence.
	"cola": {columns: []string{"source", "label", "star", "sentence"}, text1: "sentence", label: "label", labels: []string{"0", "1"}},
	"sst2": {text1: "sentence", label: "label", labels: []string{"0", "1"}},
	// MRPC keeps the msr_paraphrase header; its label column is "Quality".
	"mrpc": {text1: "#1 String", text2: "#2 String", label: "Quality", labels: []string{"0", "1"}},
	"qqp":  {text1: "question1", text2: "question2", label: "is_duplicate", labels: []string{"0", "1"}},
	"stsb": {text1: "sentence1", text2: "sentence2", label: "score"},
	// MNLI also has label1..label5 (annotator votes); gold_label is the label.
	"mnli": {text1: "sentence1", text2: "sentence2", label: "gold_label", labels: []string{"entailment", "neutral", "contradiction"}},
	"qnli": {text1: "question", text2: "sentence", label: "label", labels: []string{"entailment", "not_entailment"}},
	"rte":  {text1: "sentence1", text2: "sentence2", label: "label", labels: []string{"entailment", "not_entailment"}},
}

// tsvFiles maps a split to its file name in the GLUE download.
var tsvFiles = map[string]string{
	SplitTrain:                "train.tsv",
	SplitValidation:           "dev.tsv",
	SplitValidationMatched:    "dev_matched.tsv",
	SplitValidationMismatched: "dev_mismatched.tsv",
}

// hfFields are the text fields of each nyu-mll/glue config; the label field
// is always "label" (an int class id, -1 when unlabelled; a float for stsb).
var hfFields = map[string][2]string{
	"cola": {"sentence", ""},
	"sst2": {"sentence", ""},
	"mrpc": {"sentence1", "sentence2"},
	"qqp":  {"question1", "question2"},
	"stsb": {"sentence1", "sentence2"},
	"mnli": {"premise", "hypothesis"},
	"qnli": {"question", "sentence"},
	"rte":  {"sentence1", "sentence2"},
}

const hfLabelField = "label"

// Load reads the train split and the dev split(s) of a task (one for every
// entry of task.DevSplits, in that order) from path, which is either
//
//   - a GLUE download: <path>/<task.Folder>/train.tsv and dev.tsv (MNLI:
//     dev_matched.tsv, dev_mismatched.tsv), or <path> being the task folder
//     itself (e.g. .../glue/RTE, or a k-shot folder with the same files);
//   - a Hugging Face nyu-mll/glue layout: <path>/<task.Name>/ (or <path>
//     itself) holding <split>-*.parquet shards as on the Hub,
//     <split>/*.parquet as in the Hub's parquet conversion, <split>.parquet,
//     or <split>.jsonl / <split>-*.jsonl.
//
// Malformed rows are errors naming file, line or row, and column, unless
// opt.SkipMalformed is set.
func Load(task Task, path string, opt LoadOptions) (train Split, dev []Split, err error) {
	splits, err := LoadSplits(task, path, append([]string{SplitTrain}, task.DevSplits...), opt)
	if err != nil {
		return Split{}, nil, err
	}
	return splits[0], splits[1:], nil
}

// LoadSplits reads only the named splits of a task (e.g. just "validation" to
// score predictions) from path, in the layouts Load accepts; a split that is
// not asked for need not exist. The first split named decides the layout;
// every other split must then be in the same folder and format. A missing
// split is an error naming the file(s) looked for.
func LoadSplits(task Task, path string, splits []string, opt LoadOptions) ([]Split, error) {
	if err := checkTask(task); err != nil {
		return nil, err
	}
	if err := checkFormat(opt.Format); err != nil {
		return nil, err
	}
	if err := checkMaxLine(opt.MaxLineBytes); err != nil {
		return nil, err
	}
	if len(splits) == 0 {
		return nil, fmt.Errorf("glue: %s: no split asked for", task.Name)
	}
	for _, sp := range splits {
		if _, ok := tsvFiles[sp]; !ok || (sp != SplitTrain && !slices.Contains(task.DevSplits, sp)) {
			return nil, fmt.Errorf("glue: %s has no split %q (it has %s)", task.Name, sp, quoteList(append([]string{SplitTrain}, task.DevSplits...)))
		}
	}
	files, format, err := locate(task, path, opt.Format, splits)
	if err != nil {
		return nil, err
	}
	out := make([]Split, 0, len(splits))
	for _, name := range splits {
		sp, err := readSplit(task, name, format, files[name], opt)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

// ReadSplitFile reads one file as the split called split (e.g. a k-shot
// sample, or a dev file outside the usual layout). The format comes from
// the extension (.tsv, .parquet, .jsonl) unless opt.Format says otherwise.
func ReadSplitFile(task Task, split, path string, opt LoadOptions) (Split, error) {
	if err := checkTask(task); err != nil {
		return Split{}, err
	}
	if err := checkFormat(opt.Format); err != nil {
		return Split{}, err
	}
	if err := checkMaxLine(opt.MaxLineBytes); err != nil {
		return Split{}, err
	}
	format := opt.Format
	if format == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".tsv":
			format = FormatTSV
		case ".parquet":
			format = FormatParquet
		case ".jsonl":
			format = FormatJSONL
		default:
			return Split{}, fmt.Errorf("glue: %s: cannot tell the format from the extension (want .tsv, .parquet or .jsonl, or set LoadOptions.Format)", path)
		}
	}
	return readSplit(task, split, format, []string{path}, opt)
}

// checkTask rejects a Task that did not come from Lookup (or was edited into
// something this package has no layout for).
func checkTask(task Task) error {
	if _, ok := tsvLayouts[task.Name]; !ok {
		return fmt.Errorf("glue: unknown task %q (valid: %s)", task.Name, strings.Join(Names(), ", "))
	}
	return nil
}

func checkMaxLine(n int) error {
	if n < 0 {
		return fmt.Errorf("glue: LoadOptions.MaxLineBytes %d, want >= 0 (0: the default, %d)", n, MaxLineBytes)
	}
	return nil
}

func checkFormat(format string) error {
	switch format {
	case "", FormatTSV, FormatParquet, FormatJSONL:
		return nil
	}
	return fmt.Errorf("glue: unknown format %q (want %q, %q, %q or empty to detect)", format, FormatTSV, FormatParquet, FormatJSONL)
}

// locate finds the files of the given splits of a task under path and
// decides the format. The first split (the train split for Load) is the one
// whose presence identifies a layout.
func locate(task Task, path string, format string, splits []string) (map[string][]string, string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("glue: %s data: %w", task.Name, err)
	}
	if !fi.IsDir() {
		return nil, "", fmt.Errorf("glue: %s: want a folder (a GLUE download or a Hugging Face dataset); use ReadSplitFile for a single file", path)
	}
	// Catch the easy mistake of pointing one task at another task's folder
	// (e.g. .../glue/RTE for qnli, whose files have the same columns).
	base := filepath.Base(filepath.Clean(path))
	for _, other := range tasks {
		if other.Name != task.Name && (base == other.Folder || base == other.Name) {
			return nil, "", fmt.Errorf("glue: %s looks like the %s folder, not %s's", path, other.Name, task.Name)
		}
	}
	key := splits[0]

	var found []string // descriptions of layouts found, to report ambiguity
	var files map[string][]string
	var chosen string
	if format == "" || format == FormatTSV {
		for _, dir := range []string{filepath.Join(path, task.Folder), path} {
			if !isFile(filepath.Join(dir, tsvFiles[key])) {
				continue
			}
			files = map[string][]string{}
			for _, sp := range splits {
				f := filepath.Join(dir, tsvFiles[sp])
				if !isFile(f) {
					return nil, "", fmt.Errorf("glue: %s: %s has %s but no %s (the %s split)", task.Name, dir, tsvFiles[key], tsvFiles[sp], sp)
				}
				files[sp] = []string{f}
			}
			chosen = FormatTSV
			found = append(found, "GLUE TSV in "+dir)
			break
		}
	}
	for _, hfFormat := range []string{FormatParquet, FormatJSONL} {
		if format != "" && format != hfFormat {
			continue
		}
		for _, dir := range []string{filepath.Join(path, task.Name), path} {
			shards, err := hfShards(dir, key, hfFormat)
			if err != nil {
				return nil, "", err
			}
			if len(shards) == 0 {
				continue
			}
			found = append(found, hfFormat+" in "+dir)
			chosen = hfFormat
			files = map[string][]string{}
			for _, sp := range splits {
				shards, err := hfShards(dir, sp, hfFormat)
				if err != nil {
					return nil, "", err
				}
				if len(shards) == 0 {
					return nil, "", fmt.Errorf("glue: %s: %s has the %s split as %s but not the %s split (looked for %s)", task.Name, dir, key, hfFormat, sp, strings.Join(hfPatterns(dir, sp, hfFormat), ", "))
				}
				files[sp] = shards
			}
			break
		}
	}
	switch len(found) {
	case 0:
		want := []string{}
		if format == "" || format == FormatTSV {
			want = append(want, filepath.Join(path, task.Folder, tsvFiles[key]), filepath.Join(path, tsvFiles[key]))
		}
		for _, f := range []string{FormatParquet, FormatJSONL} {
			if format == "" || format == f {
				want = append(want, hfPatterns(filepath.Join(path, task.Name), key, f)...)
			}
		}
		return nil, "", fmt.Errorf("glue: no %s %s split found under %s (looked for %s)", task.Name, key, path, strings.Join(want, ", "))
	case 1:
		return files, chosen, nil
	default:
		return nil, "", fmt.Errorf("glue: %s: found %s; set LoadOptions.Format to choose", task.Name, strings.Join(found, " and "))
	}
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

// hfPatterns are the file names a split may have in a Hugging Face layout:
// "train-00000-of-00001.parquet" on the Hub, "train/0000.parquet" in its
// parquet conversion, or a single "train.parquet" / "train.jsonl".
func hfPatterns(dir, split, format string) []string {
	return []string{
		filepath.Join(dir, split+"."+format),
		filepath.Join(dir, split+"-*."+format),
		filepath.Join(dir, split, "*."+format),
	}
}

// hfShards returns the files of a split, sorted within each pattern (shard
// names sort in shard order).
func hfShards(dir, split, format string) ([]string, error) {
	var out []string
	for _, pat := range hfPatterns(dir, split, format) {
		m, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("glue: %s: %w", pat, err)
		}
		for _, f := range m {
			if isFile(f) && !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out, nil
}

// collector gathers the rows of a split across its files, numbering them
// and applying SkipMalformed and MaxExamples.
type collector struct {
	split *Split
	opt   LoadOptions
	next  int // Idx of the next data row
}

func (c *collector) full() bool {
	return c.opt.MaxExamples > 0 && len(c.split.Examples) >= c.opt.MaxExamples
}

// add records one data row: the example, or why the row is malformed.
func (c *collector) add(ex Example, bad *ParseError) error {
	idx := c.next
	c.next++
	if bad != nil {
		if !c.opt.SkipMalformed {
			return bad
		}
		c.split.Skipped++
		if len(c.split.SkipReasons) < maxSkipReasons {
			c.split.SkipReasons = append(c.split.SkipReasons, bad.Error())
		}
		return nil
	}
	ex.Idx = idx
	c.split.Examples = append(c.split.Examples, ex)
	return nil
}

func readSplit(task Task, name, format string, files []string, opt LoadOptions) (Split, error) {
	sp := Split{Name: name, Format: format, Files: files}
	if len(files) > 0 {
		sp.Path = files[0]
	}
	c := &collector{split: &sp, opt: opt}
	for _, f := range files {
		if c.full() {
			break
		}
		var err error
		switch format {
		case FormatTSV:
			err = readTSV(task, f, c)
		case FormatParquet:
			err = readParquet(task, f, c)
		case FormatJSONL:
			err = readJSONL(task, f, c)
		default:
			err = fmt.Errorf("glue: unknown format %q", format)
		}
		if err != nil {
			return Split{}, err
		}
	}
	return sp, nil
}

// readTSV reads an original GLUE TSV file. GLUE files are written with
// QUOTE_NONE: a double quote is an ordinary character (MRPC and RTE have
// many unbalanced ones), so lines are split on tabs only and encoding/csv is
// not used.
func readTSV(task Task, path string, c *collector) error {
	layout := tsvLayouts[task.Name]

	var columns []string // header names, or the layout's names if headerless
	var text1, text2, label = -1, -1, -1
	if layout.columns != nil {
		columns = layout.columns
		text1 = slices.Index(columns, layout.text1)
		label = slices.Index(columns, layout.label)
	}
	err := eachLine(path, c, func(lineNo int, line string, tooLong *ParseError) error {
		if tooLong != nil {
			if columns == nil {
				return tooLong // no header, no file
			}
			return c.add(Example{}, tooLong)
		}
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\r") // files that went through Windows
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\uFEFF") // MRPC starts with a UTF-8 BOM
		}
		if columns == nil { // header line
			columns = strings.Split(line, "\t")
			for i := range columns {
				columns[i] = strings.TrimSpace(columns[i])
			}
			find := func(name string) (int, error) {
				i := slices.Index(columns, name)
				if i < 0 {
					return -1, lineError(path, lineNo, name, "not in the header (%s needs columns %s; the header has %s)", task.Name, quoteList(nonEmpty([]string{layout.text1, layout.text2, layout.label})), quoteList(columns))
				}
				return i, nil
			}
			var err error
			if text1, err = find(layout.text1); err != nil {
				return err
			}
			if layout.text2 != "" {
				if text2, err = find(layout.text2); err != nil {
					return err
				}
			}
			if label, err = find(layout.label); err != nil {
				return err
			}
			return nil
		}
		if line == "" {
			return nil // a blank line is not a row (e.g. a trailing empty line)
		}
		ex, bad := parseTSVRow(task, layout, path, lineNo, line, columns, text1, text2, label)
		return c.add(ex, bad)
	})
	if err != nil {
		return err
	}
	if columns == nil {
		return lineError(path, 1, "", "empty file, want a %s header", task.Name)
	}
	return nil
}

func parseTSVRow(task Task, layout tsvLayout, path string, lineNo int, line string, columns []string, text1, text2, label int) (Example, *ParseError) {
	fields := strings.Split(line, "\t")
	if len(fields) < len(columns) {
		missing := columns[len(fields)]
		return Example{}, lineError(path, lineNo, missing, "missing: the line has %d tab-separated fields, want %d (%s)", len(fields), len(columns), strings.Join(columns, ", "))
	}
	if len(fields) > len(columns) {
		return Example{}, lineError(path, lineNo, fmt.Sprintf("#%d", len(columns)+1), "unexpected: the line has %d tab-separated fields, want %d (%s); a stray tab in a text?", len(fields), len(columns), strings.Join(columns, ", "))
	}
	ex := Example{Text1: fields[text1], HasLabel: true}
	if text2 >= 0 {
		ex.Text2 = fields[text2]
	}
	for _, col := range []int{text1, text2} {
		if col >= 0 && !utf8.ValidString(fields[col]) {
			return Example{}, lineError(path, lineNo, columns[col], "want UTF-8 text, got invalid bytes")
		}
	}
	raw := strings.TrimSpace(fields[label])
	if layout.labels == nil { // STS-B
		score, msg := parseScore(raw)
		if msg != "" {
			return Example{}, lineError(path, lineNo, columns[label], "%s", msg)
		}
		ex.Score = score
		return ex, nil
	}
	id := slices.Index(layout.labels, raw)
	if id < 0 {
		return Example{}, lineError(path, lineNo, columns[label], "want one of %s, got %q", quoteList(layout.labels), raw)
	}
	ex.Label = id
	return ex, nil
}

// parseScore parses an STS-B similarity; the message is empty on success.
func parseScore(s string) (float64, string) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Sprintf("want an STS-B score (a number in [0, 5]), got %q", s)
	}
	return checkScore(v)
}

func checkScore(v float64) (float64, string) {
	// The range check catches a wrong column (e.g. the index) read as score.
	if math.IsNaN(v) || v < 0 || v > 5 {
		return 0, fmt.Sprintf("want an STS-B score in [0, 5], got %v", v)
	}
	return v, ""
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// hfLabel turns a Hugging Face label cell (int64, float64, string or nil)
// into the example's label. Class ids must be in range, or -1 for an
// unlabelled (test) row; a class name is accepted too, as some exports
// write names instead of ids.
func hfLabel(task Task, v any, ex *Example) string {
	if task.IsRegression() {
		var f float64
		switch x := v.(type) {
		case int64:
			f = float64(x)
		case float64:
			f = x
		case nil:
			return "null, want an STS-B score in [0, 5] (or -1 for unlabelled)"
		default:
			return fmt.Sprintf("want an STS-B score in [0, 5] (or -1 for unlabelled), got %q", fmt.Sprint(x))
		}
		if f == -1 {
			ex.HasLabel = false
			return ""
		}
		score, msg := checkScore(f)
		if msg != "" {
			return msg
		}
		ex.Score, ex.HasLabel = score, true
		return ""
	}
	want := fmt.Sprintf("want a class id 0..%d (%s) or -1 for unlabelled", task.NumLabels-1, strings.Join(task.Labels, ", "))
	var id int64
	switch x := v.(type) {
	case int64:
		id = x
	case float64:
		if x != math.Trunc(x) || math.IsInf(x, 0) {
			return fmt.Sprintf("%s, got %v", want, x)
		}
		id = int64(x)
	case string:
		i, ok := task.LabelID(x)
		if !ok {
			return fmt.Sprintf("%s, or one of %s, got %q", want, quoteList(task.Labels), x)
		}
		id = int64(i)
	case nil:
		return "null, " + want
	default:
		return fmt.Sprintf("%s, got %v", want, x)
	}
	switch {
	case id == -1:
		ex.HasLabel = false
	case id >= 0 && id < int64(task.NumLabels):
		ex.Label, ex.HasLabel = int(id), true
	default:
		return fmt.Sprintf("%s, got %d", want, id)
	}
	return ""
}

// checkHFLabelNames compares the class names that the datasets library
// stores in a parquet file's "huggingface" metadata with the task's. A
// different order would silently swap classes, so it is an error.
func checkHFLabelNames(task Task, path string, pf *parquet.File) error {
	if task.IsRegression() {
		return nil
	}
	names := parquetx.ClassLabelNames(pf, hfLabelField)
	if names != nil && !slices.Equal(names, task.Labels) {
		return rowError(path, -1, hfLabelField, "the file's Hugging Face metadata names the classes %q, task %s expects %q in that id order", names, task.Name, task.Labels)
	}
	return nil
}

// readParquet reads a nyu-mll/glue parquet shard row by row.
func readParquet(task Task, path string, c *collector) error {
	pf, f, err := parquetx.Open(path)
	if err != nil {
		return fmt.Errorf("glue: %w", err)
	}
	defer f.Close()
	if err := checkHFLabelNames(task, path, pf); err != nil {
		return err
	}
	fields := hfFields[task.Name]
	names := []string{fields[0], fields[1], hfLabelField} // text1, text2, label
	colIndex := [3]int{-1, -1, -1}
	kinds := [3]parquet.Kind{}
	schema := pf.Schema()
	for i, name := range names {
		if name == "" {
			continue
		}
		leaf, ok := schema.Lookup(name)
		if !ok {
			return rowError(path, -1, name, "no such column; %s needs %s, the file has %s", task.Name, quoteList(slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s == "" })), quoteList(parquetx.TopLevelColumns(schema)))
		}
		if leaf.MaxRepetitionLevel > 0 {
			return rowError(path, -1, name, "is a repeated (list) column, want one value per row")
		}
		kind := leaf.Node.Type().Kind()
		switch {
		case i < 2 && kind != parquet.ByteArray:
			return rowError(path, -1, name, "has type %s, want a string column", kind)
		case i == 2 && !slices.Contains([]parquet.Kind{parquet.Int32, parquet.Int64, parquet.Float, parquet.Double, parquet.ByteArray}, kind):
			return rowError(path, -1, name, "has type %s, want an integer class id, a float score or a class name", kind)
		}
		colIndex[i], kinds[i] = leaf.ColumnIndex, kind
	}

	rowNo := 0
	for row, err := range parquetx.Rows(pf) {
		if c.full() {
			break
		}
		if err != nil {
			return fmt.Errorf("glue: %s: row %d (0-based): %w", path, rowNo, err)
		}
		ex, bad := parquetRow(task, path, rowNo, row, names, colIndex, kinds)
		rowNo++
		if err := c.add(ex, bad); err != nil {
			return err
		}
	}
	return nil
}

func parquetRow(task Task, path string, rowNo int, row parquet.Row, names []string, colIndex [3]int, kinds [3]parquet.Kind) (Example, *ParseError) {
	var cells [3]parquet.Value
	var seen [3]bool
	row.Range(func(col int, vals []parquet.Value) bool {
		for i, ci := range colIndex {
			if ci == col && len(vals) > 0 {
				cells[i], seen[i] = vals[0], true
			}
		}
		return true
	})
	var ex Example
	for i := 0; i < 2; i++ {
		if colIndex[i] < 0 {
			continue
		}
		if !seen[i] || cells[i].IsNull() {
			return Example{}, rowError(path, rowNo, names[i], "null, want a string")
		}
		s := string(cells[i].ByteArray()) // copies: the page buffer is reused
		if !utf8.ValidString(s) {
			return Example{}, rowError(path, rowNo, names[i], "want UTF-8 text, got invalid bytes")
		}
		if i == 0 {
			ex.Text1 = s
		} else {
			ex.Text2 = s
		}
	}
	var v any
	if seen[2] && !cells[2].IsNull() {
		switch kinds[2] {
		case parquet.Int32:
			v = int64(cells[2].Int32())
		case parquet.Int64:
			v = cells[2].Int64()
		case parquet.Float:
			v = float32ToDecimal(cells[2].Float())
		case parquet.Double:
			v = cells[2].Double()
		case parquet.ByteArray:
			v = string(cells[2].ByteArray())
		}
	}
	if msg := hfLabel(task, v, &ex); msg != "" {
		return Example{}, rowError(path, rowNo, hfLabelField, "%s", msg)
	}
	return ex, nil
}

// float32ToDecimal widens a float32 through its shortest decimal form.
// nyu-mll/glue stores STS-B scores as float32, so 3.8 comes back as
// 3.799999952316284 when widened directly; going through "3.8" gives the
// same float64 as the TSV, so both sources yield identical examples.
func float32ToDecimal(f float32) float64 {
	v, err := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	if err != nil {
		return float64(f)
	}
	return v
}

// readJSONL reads JSON lines with the nyu-mll/glue field names, one object
// per line (as written by datasets' to_json).
func readJSONL(task Task, path string, c *collector) error {
	fields := hfFields[task.Name]
	return eachLine(path, c, func(lineNo int, line string, tooLong *ParseError) error {
		if tooLong != nil {
			return c.add(Example{}, tooLong)
		}
		if strings.TrimSpace(line) == "" {
			return nil
		}
		ex, bad := parseJSONLRow(task, path, lineNo, line, fields)
		return c.add(ex, bad)
	})
}

// eachLine calls fn with each line of path (numbered from 1, the newline
// kept) until the file ends, fn fails or c is full. A line longer than the
// cap (c.opt.MaxLineBytes) is not kept: fn gets tooLong instead, naming the
// line, its length and the cap.
func eachLine(path string, c *collector, fn func(lineNo int, line string, tooLong *ParseError) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("glue: %w", err)
	}
	defer f.Close()
	limit := c.opt.MaxLineBytes
	if limit == 0 {
		limit = MaxLineBytes
	}
	r := bufio.NewReaderSize(f, 1<<16)
	for lineNo := 1; !c.full(); lineNo++ {
		line, length, err := lines.Read(r, limit)
		if err != nil && err != io.EOF {
			return fmt.Errorf("glue: %s: %w", path, err)
		}
		if length == 0 && line == "" && err == io.EOF {
			break
		}
		var tooLong *ParseError
		if length > limit {
			tooLong = lineTooLong(path, lineNo, length, limit)
		}
		if err := fn(lineNo, line, tooLong); err != nil {
			return err
		}
	}
	return nil
}

func lineTooLong(path string, lineNo, length, limit int) *ParseError {
	return lineError(path, lineNo, "", "the line is %d bytes long, over the cap of %d bytes (glue.MaxLineBytes; LoadOptions.MaxLineBytes sets another); a missing newline?", length, limit)
}

func parseJSONLRow(task Task, path string, lineNo int, line string, fields [2]string) (Example, *ParseError) {
	obj, err := lines.DecodeObject(line)
	if err != nil {
		return Example{}, lineError(path, lineNo, "", "want one JSON object per line: %v", err)
	}
	var ex Example
	for i, name := range fields {
		if name == "" {
			continue
		}
		s, ok := obj[name].(string)
		if !ok {
			if _, present := obj[name]; !present {
				return Example{}, lineError(path, lineNo, name, "missing, want a string (%s rows have %s)", task.Name, quoteList(append(nonEmpty(fields[:]), hfLabelField)))
			}
			return Example{}, lineError(path, lineNo, name, "want a string, got %s", jsonKind(obj[name]))
		}
		if i == 0 {
			ex.Text1 = s
		} else {
			ex.Text2 = s
		}
	}
	raw, present := obj[hfLabelField]
	if !present {
		return Example{}, lineError(path, lineNo, hfLabelField, "missing (use -1 for an unlabelled row)")
	}
	v, msg := jsonScalar(raw)
	if msg == "" {
		msg = hfLabel(task, v, &ex)
	}
	if msg != "" {
		return Example{}, lineError(path, lineNo, hfLabelField, "%s", msg)
	}
	return ex, nil
}

func nonEmpty(xs []string) []string {
	var out []string
	for _, x := range xs {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// jsonScalar turns a decoded JSON value into int64, float64, string or nil.
func jsonScalar(v any) (any, string) {
	switch x := v.(type) {
	case nil, string:
		return x, ""
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, ""
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Sprintf("want a number, got %s", x)
		}
		return f, ""
	default:
		return nil, fmt.Sprintf("want a number or a string, got %s", jsonKind(v))
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
