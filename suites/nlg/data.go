package nlg

// Loading XSum and CNN/DailyMail from the layouts users have:
//
//   - Hugging Face parquet (EdinburghNLP/xsum, abisee/cnn_dailymail config
//     3.0.0) and JSON lines exported from it;
//   - the original releases: XSum's id-split JSON plus bbc-summary-data/
//     <id>.summary files, and CNN/DailyMail's .story files plus the
//     url_lists/all_{train,val,test}.txt split files;
//   - the fairseq/BART line-per-example <split>.source / <split>.target.
//
// The original releases are turned into examples exactly as the Hugging Face
// loading scripts do (xsum.go, cnn.go), so a model sees the same text whether
// the data came from the Hub or from the original tarballs.

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/vectorfit/harness/internal/lines"
)

// Example is one document and its reference summary.
type Example struct {
	// ID is the dataset's id: the BBC article id (XSum), the sha1 hex of the
	// story's URL (CNN/DailyMail, as Hugging Face's "id"), or the 0-based
	// line index for .source/.target files, which have no ids. Prediction
	// files are keyed by ID; IDs are unique within a split.
	ID string
	// Source is the document (XSum "document", CNN/DailyMail "article").
	Source string
	// Target is the summary (XSum "summary", CNN/DailyMail "highlights", one
	// highlight per line).
	Target string
}

// Split is one loaded split of a task.
type Split struct {
	// Name is "train", "validation" or "test" (Hugging Face's names, whatever
	// the source calls them: CNN's all_val.txt and fairseq's val.source load
	// as "validation").
	Name string
	// Path is the main file of the split: the first parquet or JSON-lines
	// shard, the .source file, the XSum split JSON or the CNN url list.
	Path string
	// Files are the files that define the split (shards; .source and
	// .target; the split JSON and the bbc-summary-data folder; the url list
	// and the story folders), for a run record to name.
	Files []string
	// Format is one of the Format* constants.
	Format string
	// Examples are in file order (url-list or split-JSON order for the
	// original releases).
	Examples []Example
	// Skipped counts malformed records dropped because
	// LoadOptions.SkipMalformed was set; SkipReasons describes the first few.
	Skipped     int
	SkipReasons []string
}

const maxSkipReasons = 10

// Source formats.
const (
	FormatParquet = "parquet"
	FormatJSONL   = "jsonl"
	// FormatLines is fairseq/BART's <split>.source and <split>.target, one
	// example per line.
	FormatLines = "lines"
	// FormatXSumOriginal is the XSum release: the split JSON and
	// bbc-summary-data/<id>.summary.
	FormatXSumOriginal = "xsum-original"
	// FormatStories is the CNN/DailyMail release: .story files and url lists.
	FormatStories = "stories"
)

var formats = []string{FormatParquet, FormatJSONL, FormatLines, FormatXSumOriginal, FormatStories}

// Split names.
const (
	SplitTrain      = "train"
	SplitValidation = "validation"
	SplitTest       = "test"
)

var splitNames = []string{SplitTrain, SplitValidation, SplitTest}

// Task is one summarisation dataset.
type Task struct {
	// Name is the runner's -task name: "xsum" or "cnn_dailymail".
	Name string
	// SourceField and TargetField are the Hugging Face column names.
	SourceField, TargetField string
	// HFConfig is the dataset config whose folder a Hub download has
	// ("3.0.0" for CNN/DailyMail: cased, highlights joined by newlines).
	HFConfig string
}

var tasks = []Task{
	{Name: "xsum", SourceField: "document", TargetField: "summary", HFConfig: "default"},
	{Name: "cnn_dailymail", SourceField: "article", TargetField: "highlights", HFConfig: "3.0.0"},
}

var aliases = map[string]string{"cnndm": "cnn_dailymail", "cnn_dm": "cnn_dailymail", "cnn": "cnn_dailymail"}

const idField = "id"

// Lookup finds a task by name (case-insensitive; "cnndm", "cnn_dm" and "cnn" name
// cnn_dailymail).
func Lookup(name string) (Task, bool) {
	name = strings.ToLower(name)
	if a, ok := aliases[name]; ok {
		name = a
	}
	for _, t := range tasks {
		if t.Name == name {
			return t, true
		}
	}
	return Task{}, false
}

// Names lists the task names.
func Names() []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.Name)
	}
	return out
}

// LoadOptions tunes Load, LoadSplits and ReadFile. Head limits (-max-train,
// -max-dev) are the caller's: cut Split.Examples.
type LoadOptions struct {
	// SkipMalformed drops malformed records (missing or non-string field,
	// empty document or summary, duplicate id, story without highlights,
	// url naming a missing story, ...) and counts them in Split.Skipped
	// instead of failing. Hugging Face's CNN/DailyMail loader silently drops
	// stories with an empty article or no highlights, and URLs without a
	// story file: SkipMalformed gives the same examples. Problems with a file
	// as a whole (missing file, missing parquet column) are errors
	// regardless.
	SkipMalformed bool
	// Format forces one layout (a Format* constant). Empty means detect;
	// detection fails, rather than guess, if a folder holds the split in
	// more than one layout.
	Format string
	// MaxLineBytes caps one record: a line of a JSON-lines, .source or
	// .target file (newline not counted), or a whole .story or .summary
	// file. 0 means MaxLineBytes. A longer record is malformed.
	MaxLineBytes int
}

// MaxLineBytes is the default record cap: 16 MiB. The longest CNN/DailyMail
// article is about 100 KB and XSum's are shorter; JSON escaping can grow a
// line several times (\uXXXX for every non-ASCII character), so 1 MiB (the
// GLUE cap) could refuse a real record, while 16 MiB still stops a file with
// no newlines from being read whole into memory.
const MaxLineBytes = 16 << 20

// ParseError reports a malformed record or file: the file, the line (1-based)
// or parquet row (0-based) when there is one, the field, and what was
// expected.
type ParseError struct {
	Path  string
	Line  int    // 1-based line; 0 if none
	Row   int    // 0-based parquet row, or a list index; -1 if none
	Field string // JSON field, parquet column or section
	Msg   string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("nlg: ")
	b.WriteString(e.Path)
	switch {
	case e.Line > 0:
		fmt.Fprintf(&b, ":%d", e.Line)
	case e.Row >= 0:
		fmt.Fprintf(&b, ": row %d (0-based)", e.Row)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ": %q", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

func lineError(path string, line int, field, format string, args ...any) *ParseError {
	return &ParseError{Path: path, Line: line, Row: -1, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func rowError(path string, row int, field, format string, args ...any) *ParseError {
	return &ParseError{Path: path, Row: row, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Load reads the train and validation splits of task from dir (see
// LoadSplits for the layouts).
func Load(task Task, dir string, opt LoadOptions) (train Split, dev []Split, err error) {
	sp, err := LoadSplits(task, dir, []string{SplitTrain, SplitValidation}, opt)
	if err != nil {
		return Split{}, nil, err
	}
	return sp[0], sp[1:], nil
}

// LoadSplits reads the named splits of task from dir, which holds one of
//
//   - Hugging Face parquet: <split>-*.parquet (as on the Hub), <split>/*.parquet
//     (the Hub's parquet conversion) or <split>.parquet, in dir or
//     dir/<task.HFConfig> (e.g. cnn_dailymail/3.0.0/);
//   - JSON lines with the same fields: <split>.jsonl or <split>-*.jsonl;
//   - fairseq/BART lines: <split>.source and <split>.target ("val" or
//     "valid" for validation);
//   - XSum only: XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json and bbc-summary-data/;
//   - CNN/DailyMail only: url_lists/all_{train,val,test}.txt (or the lists in
//     dir) and the .story files under cnn/stories, dailymail/stories,
//     cnn_stories, dailymail_stories or dm_stories.
//
// The first split named decides the layout; the others must be there in the
// same one.
func LoadSplits(task Task, dir string, splits []string, opt LoadOptions) ([]Split, error) {
	if err := checkArgs(task, opt); err != nil {
		return nil, err
	}
	if len(splits) == 0 {
		return nil, fmt.Errorf("nlg: %s: no split asked for", task.Name)
	}
	for _, sp := range splits {
		if !slices.Contains(splitNames, sp) {
			return nil, fmt.Errorf("nlg: %s has no split %q (want %s)", task.Name, sp, quoteList(splitNames))
		}
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("nlg: %s data: %w", task.Name, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("nlg: %s: want a folder; use ReadFile for a single file", dir)
	}
	format, err := detect(task, dir, splits[0], opt.Format)
	if err != nil {
		return nil, err
	}
	var out []Split
	for _, name := range splits {
		sp, err := readSplit(task, dir, name, format, opt)
		if err != nil {
			return nil, err
		}
		out = append(out, sp)
	}
	return out, nil
}

// ReadFile reads one parquet or JSON-lines file (by its extension, unless
// opt.Format says which) as the split called split, e.g. the XSum test sample
// in shared/data.
func ReadFile(task Task, split, path string, opt LoadOptions) (Split, error) {
	if err := checkArgs(task, opt); err != nil {
		return Split{}, err
	}
	format := opt.Format
	if format == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".parquet":
			format = FormatParquet
		case ".jsonl":
			format = FormatJSONL
		default:
			return Split{}, fmt.Errorf("nlg: %s: cannot tell the format from the extension (want .parquet or .jsonl, or set LoadOptions.Format)", path)
		}
	}
	if format != FormatParquet && format != FormatJSONL {
		return Split{}, fmt.Errorf("nlg: %s: ReadFile reads %q or %q files, not %q (use LoadSplits on the folder)", path, FormatParquet, FormatJSONL, format)
	}
	return readFiles(task, split, format, []string{path}, opt)
}

func checkArgs(task Task, opt LoadOptions) error {
	if t, ok := Lookup(task.Name); !ok || t != task {
		return fmt.Errorf("nlg: unknown task %q (valid: %s)", task.Name, strings.Join(Names(), ", "))
	}
	if opt.Format != "" && !slices.Contains(formats, opt.Format) {
		return fmt.Errorf("nlg: unknown format %q (want one of %s, or empty to detect)", opt.Format, quoteList(formats))
	}
	if opt.MaxLineBytes < 0 {
		return fmt.Errorf("nlg: LoadOptions.MaxLineBytes %d, want >= 0 (0: the default, %d)", opt.MaxLineBytes, MaxLineBytes)
	}
	return nil
}

// detect finds the layout that holds split key in dir.
func detect(task Task, dir, key, format string) (string, error) {
	var found, looked []string
	for _, f := range formats {
		if format != "" && format != f {
			continue
		}
		files, where := findSplit(task, dir, key, f)
		looked = append(looked, where...)
		if len(files) > 0 {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("nlg: no %s %s split found under %s (looked for %s)", task.Name, key, dir, strings.Join(looked, ", "))
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("nlg: %s: %s holds the %s split as %s; set LoadOptions.Format to choose", task.Name, dir, key, strings.Join(found, " and "))
}

// findSplit returns the files of split in format under dir (nil if absent)
// and the paths it looked at, for the error message.
func findSplit(task Task, dir, split, format string) (files, looked []string) {
	switch format {
	case FormatParquet, FormatJSONL:
		for _, d := range []string{filepath.Join(dir, task.HFConfig), dir} {
			pats := []string{filepath.Join(d, split+"."+format), filepath.Join(d, split+"-*."+format)}
			if format == FormatParquet {
				pats = append(pats, filepath.Join(d, split, "*.parquet"))
			}
			looked = append(looked, pats...)
			for _, pat := range pats {
				m, _ := filepath.Glob(pat) // patterns are well formed
				for _, f := range m {
					if isFile(f) && !slices.Contains(files, f) {
						files = append(files, f)
					}
				}
			}
			if len(files) > 0 {
				return files, looked
			}
		}
	case FormatLines:
		for _, stem := range lineStems[split] {
			src, tgt := filepath.Join(dir, stem+".source"), filepath.Join(dir, stem+".target")
			looked = append(looked, src)
			if isFile(src) || isFile(tgt) {
				return []string{src, tgt}, looked
			}
		}
	case FormatXSumOriginal:
		if task.Name != "xsum" {
			return nil, nil
		}
		p := filepath.Join(dir, xsumSplitFile)
		looked = append(looked, p)
		if isFile(p) {
			return []string{p, filepath.Join(dir, xsumSummaryDir)}, looked
		}
	case FormatStories:
		if task.Name != "cnn_dailymail" {
			return nil, nil
		}
		for _, p := range urlListPaths(dir, split) {
			looked = append(looked, p)
			if isFile(p) {
				return []string{p}, looked
			}
		}
	}
	return nil, looked
}

// lineStems are the file stems fairseq setups use for each split.
var lineStems = map[string][]string{
	SplitTrain:      {"train"},
	SplitValidation: {"val", "valid", "validation"},
	SplitTest:       {"test"},
}

func readSplit(task Task, dir, name, format string, opt LoadOptions) (Split, error) {
	files, looked := findSplit(task, dir, name, format)
	if len(files) == 0 {
		return Split{}, fmt.Errorf("nlg: %s: no %s split as %s under %s (looked for %s)", task.Name, name, format, dir, strings.Join(looked, ", "))
	}
	switch format {
	case FormatLines:
		return readLines(name, files[0], files[1], opt)
	case FormatXSumOriginal:
		return readXSumOriginal(name, files[0], files[1], opt)
	case FormatStories:
		return readStories(dir, name, files[0], opt)
	}
	return readFiles(task, name, format, files, opt)
}

// readFiles reads the parquet or JSON-lines shards of one split.
func readFiles(task Task, name, format string, files []string, opt LoadOptions) (Split, error) {
	sp := Split{Name: name, Path: files[0], Files: files, Format: format}
	c := newCollector(&sp, opt, task.SourceField, task.TargetField)
	for _, f := range files {
		var err error
		if format == FormatParquet {
			err = readParquet(task, f, c)
		} else {
			err = readJSONL(task, f, c)
		}
		if err != nil {
			return Split{}, err
		}
	}
	return sp, nil
}

// collector gathers a split's examples, checking what every format needs
// (non-empty texts, unique ids) and applying SkipMalformed.
type collector struct {
	split *Split
	opt   LoadOptions
	seen  map[string]string // id -> where it was first seen
	// src and tgt name the document and summary fields in messages.
	src, tgt string
}

func newCollector(sp *Split, opt LoadOptions, src, tgt string) *collector {
	return &collector{split: sp, opt: opt, seen: map[string]string{}, src: src, tgt: tgt}
}

// add records one record: the example, or why it is malformed. where names
// the record ("file:line", "file: row N") for the duplicate-id message;
// mkErr builds an error for that record.
func (c *collector) add(ex Example, bad *ParseError, where string, mkErr func(field, format string, args ...any) *ParseError) error {
	if bad == nil {
		bad = c.check(ex, where, mkErr)
	}
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
	c.seen[ex.ID] = where
	c.split.Examples = append(c.split.Examples, ex)
	return nil
}

func (c *collector) check(ex Example, where string, mkErr func(field, format string, args ...any) *ParseError) *ParseError {
	if ex.ID == "" {
		return mkErr(idField, "empty, want the example's id")
	}
	if first, dup := c.seen[ex.ID]; dup {
		return mkErr(idField, "duplicate id %q (first at %s), want ids unique within a split", ex.ID, first)
	}
	if strings.TrimSpace(ex.Source) == "" {
		return mkErr(c.src, "empty document, want text to summarise")
	}
	if strings.TrimSpace(ex.Target) == "" {
		return mkErr(c.tgt, "empty summary, want the reference text")
	}
	return nil
}

func (c *collector) limit() int {
	if c.opt.MaxLineBytes > 0 {
		return c.opt.MaxLineBytes
	}
	return MaxLineBytes
}

// eachLine calls fn with each line of path (numbered from 1, newline and a
// trailing "\r" removed). A line longer than limit is not kept: fn gets
// tooLong instead.
func eachLine(path string, limit int, fn func(lineNo int, line string, tooLong *ParseError) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("nlg: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	for lineNo := 1; ; lineNo++ {
		line, length, err := lines.Read(r, limit)
		if err != nil && err != io.EOF {
			return fmt.Errorf("nlg: %s: %w", path, err)
		}
		if length == 0 && err == io.EOF {
			return nil
		}
		var tooLong *ParseError
		if length > limit {
			tooLong = lineError(path, lineNo, "", "the line is %d bytes long, over the cap of %d bytes (nlg.MaxLineBytes; LoadOptions.MaxLineBytes sets another); a missing newline?", length, limit)
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if err := fn(lineNo, line, tooLong); err != nil {
			return err
		}
		if err == io.EOF {
			return nil
		}
	}
}

// readCapped reads a whole file of at most limit bytes.
func readCapped(path string, limit int) ([]byte, *ParseError, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("nlg: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, nil, fmt.Errorf("nlg: %s: %w", path, err)
	}
	if len(data) > limit {
		return nil, lineError(path, 0, "", "the file is over the cap of %d bytes (nlg.MaxLineBytes; LoadOptions.MaxLineBytes sets another)", limit), nil
	}
	return data, nil, nil
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// isPySpace is Python's str.isspace for one character, which str.strip()
// uses: Unicode White_Space (Go's unicode.IsSpace) plus the information
// separators U+001C..U+001F. The Hugging Face loaders strip with it.
func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip() with no argument.
func pyStrip(s string) string { return strings.TrimFunc(s, isPySpace) }

// HoldOut splits s into a training part and a dev part of ⌈fraction·n⌉ examples,
// chosen by a seeded shuffle, for data with one split only (the shared XSum sample).
func (s Split) HoldOut(fraction float64, seed uint64) (trainPart, devPart Split, err error) {
	n := len(s.Examples)
	k := int(math.Ceil(fraction * float64(n)))
	if !(fraction > 0 && fraction < 1) || k < 1 || k >= n {
		return s, s, fmt.Errorf("nlg: %s: %d examples cannot be split %g/%g", s.Path, n, 1-fraction, fraction)
	}
	order := rand.New(rand.NewPCG(seed, 0)).Perm(n)
	slices.Sort(order[:k])
	slices.Sort(order[k:])
	trainPart, devPart = s, s
	trainPart.Examples, devPart.Examples = make([]Example, 0, n-k), make([]Example, 0, k)
	for _, i := range order[k:] {
		trainPart.Examples = append(trainPart.Examples, s.Examples[i])
	}
	for _, i := range order[:k] {
		devPart.Examples = append(devPart.Examples, s.Examples[i])
	}
	devPart.Name = "validation"
	return trainPart, devPart, nil
}
