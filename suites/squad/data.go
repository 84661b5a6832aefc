// Package squad is the SQuAD v1.1 / v2.0 suite: loading the official JSON and the
// Hugging Face parquet files, cutting question + context into windows for a span
// head, turning start/end logits back into answer strings (transformers' run_qa
// post-processing), and scoring exactly as the official evaluation scripts
// (evaluate-v1.1.py, evaluate-v2.0.py) do.
package squad

// Dependency: github.com/parquet-go/parquet-go (already used by suites/glue) reads
// the Hugging Face rajpurkar/squad and rajpurkar/squad_v2 parquet files.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"

	"github.com/vectorfit/harness/internal/parquetx"
)

// Answer is one gold answer.
type Answer struct {
	Text string
	// Start is answer_start: the index of the answer's first character in the
	// context, counted in Unicode code points (Python str indices), not bytes.
	Start int
}

// Example is one question with its context.
type Example struct {
	ID       string
	Title    string
	Context  string
	Question string
	// Answers are the gold answers: one per question in the training sets, up to
	// a handful of crowd answers in the dev sets, none for a v2.0 unanswerable
	// question.
	Answers []Answer
	// IsImpossible marks a v2.0 question without an answer in its context.
	IsImpossible bool
}

// Dataset is one loaded SQuAD file.
type Dataset struct {
	Path string
	// Format is FormatJSON or FormatParquet.
	Format string
	// Version is "1.1" or "2.0": which scoring applies.
	Version string
	// FileVersion is the JSON's "version" field as written ("1.1", "v2.0"); empty
	// for parquet, which has none.
	FileVersion string
	Examples    []Example
	// Misaligned counts gold answers whose text is not the context's text at
	// answer_start. Such answers are kept (the official scripts compare strings
	// and never look at answer_start); training windows locate them by
	// answer_start, as transformers' run_qa does.
	Misaligned int
}

// Source formats.
const (
	FormatJSON    = "json"
	FormatParquet = "parquet"
)

// Versions.
const (
	V1 = "1.1"
	V2 = "2.0"
)

// IsV2 says whether the dataset is scored as SQuAD v2.0.
func (d Dataset) IsV2() bool { return d.Version == V2 }

// ParseVersion accepts "1.1", "v1.1", "2.0", "v2.0" (and "1", "2").
func ParseVersion(s string) (string, error) {
	switch strings.TrimPrefix(strings.TrimSpace(s), "v") {
	case "1.1", "1":
		return V1, nil
	case "2.0", "2":
		return V2, nil
	}
	return "", fmt.Errorf("squad: version %q, want 1.1 or 2.0", s)
}

// Load reads a SQuAD file: the official JSON or a Hugging Face parquet file
// (rajpurkar/squad, rajpurkar/squad_v2), told apart by their first bytes. version
// is "1.1" or "2.0"; empty means the JSON's own "version" field (a parquet file
// has none, so it needs one). Malformed input is an error naming the file, the
// article or row, and the question id.
func Load(path, version string) (Dataset, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Dataset{}, fmt.Errorf("squad: %w", err)
	}
	ds := Dataset{Path: path}
	if version != "" {
		if ds.Version, err = ParseVersion(version); err != nil {
			return Dataset{}, err
		}
	}
	switch {
	case bytes.HasPrefix(raw, []byte("PAR1")):
		ds.Format = FormatParquet
		if ds.Version == "" {
			return Dataset{}, fmt.Errorf("squad: %s: a parquet file does not say its SQuAD version: give 1.1 or 2.0", path)
		}
		err = readParquet(&ds, raw)
	case looksLikeJSON(raw):
		ds.Format = FormatJSON
		err = readJSON(&ds, raw)
	default:
		return Dataset{}, fmt.Errorf("squad: %s: neither SQuAD JSON (starts with '{') nor parquet (starts with PAR1)", path)
	}
	if err != nil {
		return Dataset{}, err
	}
	if len(ds.Examples) == 0 {
		return Dataset{}, fmt.Errorf("squad: %s: no questions", path)
	}
	return ds, nil
}

func looksLikeJSON(raw []byte) bool {
	raw = bytes.TrimPrefix(raw, []byte("\uFEFF"))
	raw = bytes.TrimLeft(raw, " \t\r\n")
	return len(raw) > 0 && raw[0] == '{'
}

// place names a question in error messages.
type place struct {
	path  string
	where string // `article 3 (0-based, "Normans"), paragraph 2, qas[0]` or "row 17 (0-based)"
	id    string
}

func (p place) errorf(format string, args ...any) error {
	var b strings.Builder
	fmt.Fprintf(&b, "squad: %s: %s", p.path, p.where)
	if p.id != "" {
		fmt.Fprintf(&b, ", question %q", p.id)
	}
	b.WriteString(": ")
	fmt.Fprintf(&b, format, args...)
	return errors.New(b.String())
}

// readJSON reads the official layout:
//
//	{"version": "v2.0", "data": [{"title": ..., "paragraphs": [{"context": ...,
//	  "qas": [{"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": 0}],
//	           "is_impossible": false}]}]}]}
//
// level by level, so that an error can name the article, paragraph and question.
func readJSON(ds *Dataset, raw []byte) error {
	top, err := decodeObject(raw)
	if err != nil {
		return fmt.Errorf("squad: %s: not a SQuAD JSON object: %v", ds.Path, err)
	}
	at := place{path: ds.Path, where: "top level"}
	if v, ok := top["version"]; ok {
		if err := json.Unmarshal(v, &ds.FileVersion); err != nil {
			return at.errorf(`"version": want a string, got %s`, jsonKind(v))
		}
	}
	if ds.Version == "" {
		if ds.FileVersion == "" {
			return at.errorf(`no "version" field: give the SQuAD version (1.1 or 2.0)`)
		}
		if ds.Version, err = ParseVersion(ds.FileVersion); err != nil {
			return at.errorf(`"version" is %q: give the SQuAD version (1.1 or 2.0)`, ds.FileVersion)
		}
	}
	articles, err := arrayField(top, "data", true)
	if err != nil {
		return at.errorf("%v", err)
	}
	seen := map[string]string{} // question id → where it was first seen
	for ai, rawArticle := range articles {
		if err := readArticle(ds, ai, rawArticle, seen); err != nil {
			return err
		}
	}
	return nil
}

func readArticle(ds *Dataset, index int, raw json.RawMessage, seen map[string]string) error {
	at := place{path: ds.Path, where: fmt.Sprintf("article %d (0-based)", index)}
	article, err := decodeObject(raw)
	if err != nil {
		return at.errorf("%v", err)
	}
	title, _, err := stringField(article, "title", false)
	if err != nil {
		return at.errorf("%v", err)
	}
	at.where = fmt.Sprintf("article %d (0-based, %q)", index, title)
	paragraphs, err := arrayField(article, "paragraphs", true)
	if err != nil {
		return at.errorf("%v", err)
	}
	for pi, rawPara := range paragraphs {
		at := place{path: ds.Path, where: fmt.Sprintf("%s, paragraph %d", at.where, pi)}
		if err := readParagraph(ds, at, rawPara, title, seen); err != nil {
			return err
		}
	}
	return nil
}

func readParagraph(ds *Dataset, at place, raw json.RawMessage, title string, seen map[string]string) error {
	para, err := decodeObject(raw)
	if err != nil {
		return at.errorf("%v", err)
	}
	context, _, err := stringField(para, "context", true)
	if err != nil {
		return at.errorf("%v", err)
	}
	qas, err := arrayField(para, "qas", true)
	if err != nil {
		return at.errorf("%v", err)
	}
	for qi, rawQA := range qas {
		at := place{path: ds.Path, where: fmt.Sprintf("%s, qas[%d]", at.where, qi)}
		ex, err := jsonQuestion(ds, at, rawQA, title, context)
		if err != nil {
			return err
		}
		if prev, dup := seen[ex.ID]; dup {
			at.id = ex.ID
			return at.errorf("id already used by %s (predictions are keyed by id)", prev)
		}
		seen[ex.ID] = at.where
		ds.Examples = append(ds.Examples, ex)
	}
	return nil
}

func jsonQuestion(ds *Dataset, at place, raw json.RawMessage, title, context string) (Example, error) {
	qa, err := decodeObject(raw)
	if err != nil {
		return Example{}, at.errorf("%v", err)
	}
	id, _, err := stringField(qa, "id", true)
	if err != nil {
		return Example{}, at.errorf("%v", err)
	}
	at.id = id
	if id == "" {
		return Example{}, at.errorf(`"id" is empty`)
	}
	ex := Example{ID: id, Title: title, Context: context}
	if ex.Question, _, err = stringField(qa, "question", true); err != nil {
		return Example{}, at.errorf("%v", err)
	}
	answers, err := arrayField(qa, "answers", true)
	if err != nil {
		return Example{}, at.errorf("%v", err)
	}
	for i, rawAns := range answers {
		ans, err := decodeObject(rawAns)
		if err != nil {
			return Example{}, at.errorf("answers[%d]: %v", i, err)
		}
		text, _, err := stringField(ans, "text", true)
		if err != nil {
			return Example{}, at.errorf("answers[%d]: %v", i, err)
		}
		start, err := intField(ans, "answer_start")
		if err != nil {
			return Example{}, at.errorf("answers[%d]: %v", i, err)
		}
		ex.Answers = append(ex.Answers, Answer{Text: text, Start: start})
	}
	impossible, present, err := boolField(qa, "is_impossible")
	if err != nil {
		return Example{}, at.errorf("%v", err)
	}
	if !present {
		impossible = len(ex.Answers) == 0
	}
	ex.IsImpossible = impossible
	return ex, checkExample(ds, at, &ex)
}

// checkExample applies the rules both formats share.
func checkExample(ds *Dataset, at place, ex *Example) error {
	for _, s := range []struct{ name, v string }{{"context", ex.Context}, {"question", ex.Question}, {"title", ex.Title}} {
		if !utf8.ValidString(s.v) {
			return at.errorf("%s: want UTF-8 text, got invalid bytes", s.name)
		}
	}
	switch {
	case ex.IsImpossible && len(ex.Answers) > 0:
		return at.errorf("is_impossible is true but there are %d answers", len(ex.Answers))
	case ds.Version == V1 && len(ex.Answers) == 0:
		return at.errorf("no answers: SQuAD v1.1 has an answer for every question (a v2.0 file? load it as version 2.0)")
	case !ex.IsImpossible && len(ex.Answers) == 0:
		return at.errorf("no answers but is_impossible is false")
	}
	n := utf8.RuneCountInString(ex.Context)
	for i, a := range ex.Answers {
		end := a.Start + utf8.RuneCountInString(a.Text)
		if a.Start < 0 || end > n {
			return at.errorf("answers[%d]: answer_start %d with %d characters of text ends at %d, outside the %d-character context", i, a.Start, end-a.Start, end, n)
		}
		if runeSlice(ex.Context, a.Start, end) != a.Text {
			ds.Misaligned++
		}
	}
	return nil
}

// runeSlice is Python's s[start:end] on code points.
func runeSlice(s string, start, end int) string {
	from, to := -1, len(s)
	i := 0
	for b := range s {
		if i == start {
			from = b
		}
		if i == end {
			to = b
			break
		}
		i++
	}
	if from < 0 {
		return ""
	}
	return s[from:to]
}

// --- small JSON helpers with messages that name the field ---------------------------

func decodeObject(raw []byte) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, fmt.Errorf("want a JSON object, got %s", jsonKind(raw))
		}
		return nil, err
	}
	if obj == nil {
		return nil, errors.New("want a JSON object, got null")
	}
	return obj, nil
}

func stringField(obj map[string]json.RawMessage, key string, required bool) (string, bool, error) {
	v, ok := obj[key]
	if !ok {
		if required {
			return "", false, fmt.Errorf("no %q field, want a string", key)
		}
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil || string(bytes.TrimSpace(v)) == "null" {
		return "", true, fmt.Errorf("%q: want a string, got %s", key, jsonKind(v))
	}
	return s, true, nil
}

func arrayField(obj map[string]json.RawMessage, key string, required bool) ([]json.RawMessage, error) {
	v, ok := obj[key]
	if !ok {
		if required {
			return nil, fmt.Errorf("no %q field, want an array", key)
		}
		return nil, nil
	}
	var a []json.RawMessage
	if err := json.Unmarshal(v, &a); err != nil || a == nil {
		return nil, fmt.Errorf("%q: want an array, got %s", key, jsonKind(v))
	}
	return a, nil
}

func intField(obj map[string]json.RawMessage, key string) (int, error) {
	v, ok := obj[key]
	if !ok {
		return 0, fmt.Errorf("no %q field, want an integer", key)
	}
	var n int
	if err := json.Unmarshal(v, &n); err != nil {
		return 0, fmt.Errorf("%q: want an integer, got %s", key, bytes.TrimSpace(v))
	}
	return n, nil
}

func boolField(obj map[string]json.RawMessage, key string) (value, present bool, err error) {
	v, ok := obj[key]
	if !ok {
		return false, false, nil
	}
	if err := json.Unmarshal(v, &value); err != nil || string(bytes.TrimSpace(v)) == "null" {
		return false, true, fmt.Errorf("%q: want true or false, got %s", key, bytes.TrimSpace(v))
	}
	return value, true, nil
}

func jsonKind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// --- Hugging Face parquet -------------------------------------------------------------

// hfColumns are the columns of rajpurkar/squad and rajpurkar/squad_v2: one row per
// question, answers a struct of two lists (empty for an unanswerable question).
var hfColumns = []string{"id", "title", "context", "question"}

// parquetLayout locates the leaf columns of the Hugging Face schema.
type parquetLayout struct {
	text        [4]int // id, title, context, question (title -1 if absent)
	ansText     parquet.LeafColumn
	ansStart    parquet.LeafColumn
	startIsLong bool
}

func readParquet(ds *Dataset, raw []byte) error {
	pf, err := parquetx.OpenReader(bytes.NewReader(raw), int64(len(raw)), ds.Path)
	if err != nil {
		return fmt.Errorf("squad: %w", err)
	}
	lay, err := layoutOf(ds.Path, pf.Schema())
	if err != nil {
		return err
	}
	seen := map[string]int{}
	rowNo := 0
	for row, err := range parquetx.Rows(pf) {
		if err != nil {
			return fmt.Errorf("squad: %s: row %d (0-based): %w", ds.Path, rowNo, err)
		}
		at := place{path: ds.Path, where: fmt.Sprintf("row %d (0-based)", rowNo)}
		ex, err := parquetQuestion(ds, at, lay, row)
		if err != nil {
			return err
		}
		if prev, dup := seen[ex.ID]; dup {
			at.id = ex.ID
			return at.errorf("id already used by row %d (predictions are keyed by id)", prev)
		}
		seen[ex.ID] = rowNo
		ds.Examples = append(ds.Examples, ex)
		rowNo++
	}
	return nil
}

// layoutOf finds the columns. The lists inside "answers" are looked up by their
// first two path elements, because writers name the list levels differently
// (pyarrow ≥ 13 writes answers.text.list.element, older ones answers.text.list.item).
func layoutOf(path string, schema *parquet.Schema) (parquetLayout, error) {
	lay := parquetLayout{}
	var top []string
	for _, f := range schema.Fields() {
		top = append(top, f.Name())
	}
	for i, name := range hfColumns {
		leaf, ok := schema.Lookup(name)
		if !ok {
			if name == "title" {
				lay.text[i] = -1
				continue
			}
			return lay, fmt.Errorf("squad: %s: no %q column; a SQuAD parquet file has %s, the file has %s", path, name, strings.Join(append(hfColumns, "answers"), ", "), strings.Join(top, ", "))
		}
		if leaf.MaxRepetitionLevel > 0 || leaf.Node.Type().Kind() != parquet.ByteArray {
			return lay, fmt.Errorf("squad: %s: column %q is not a plain string column", path, name)
		}
		lay.text[i] = leaf.ColumnIndex
	}
	var foundText, foundStart bool
	for _, p := range schema.Columns() {
		if len(p) < 3 || p[0] != "answers" {
			continue
		}
		leaf, _ := schema.Lookup(p...)
		switch p[1] {
		case "text":
			lay.ansText, foundText = leaf, true
		case "answer_start":
			lay.ansStart, foundStart = leaf, true
		}
	}
	if !foundText || !foundStart {
		return lay, fmt.Errorf("squad: %s: want an \"answers\" column holding lists \"text\" and \"answer_start\" (rajpurkar/squad's schema), the file has %s", path, strings.Join(top, ", "))
	}
	if k := lay.ansText.Node.Type().Kind(); k != parquet.ByteArray || lay.ansText.MaxRepetitionLevel != 1 {
		return lay, fmt.Errorf("squad: %s: answers.text is not a list of strings", path)
	}
	switch lay.ansStart.Node.Type().Kind() {
	case parquet.Int32:
	case parquet.Int64:
		lay.startIsLong = true
	default:
		return lay, fmt.Errorf("squad: %s: answers.answer_start is not a list of integers", path)
	}
	if lay.ansStart.MaxRepetitionLevel != 1 {
		return lay, fmt.Errorf("squad: %s: answers.answer_start is not a list of integers", path)
	}
	return lay, nil
}

func parquetQuestion(ds *Dataset, at place, lay parquetLayout, row parquet.Row) (Example, error) {
	var cells [4]parquet.Value
	var seen [4]bool
	var texts []string
	var starts []int
	var nullText, nullStart bool
	row.Range(func(col int, vals []parquet.Value) bool {
		for i, c := range lay.text {
			if c == col && len(vals) > 0 {
				cells[i], seen[i] = vals[0], true
			}
		}
		switch col {
		case lay.ansText.ColumnIndex:
			for _, v := range vals {
				if v.DefinitionLevel() == lay.ansText.MaxDefinitionLevel {
					texts = append(texts, string(v.ByteArray()))
				} else if v.RepetitionLevel() > 0 {
					nullText = true // a null after the list's first element
				}
			}
		case lay.ansStart.ColumnIndex:
			for _, v := range vals {
				if v.DefinitionLevel() == lay.ansStart.MaxDefinitionLevel {
					if lay.startIsLong {
						starts = append(starts, int(v.Int64()))
					} else {
						starts = append(starts, int(v.Int32()))
					}
				} else if v.RepetitionLevel() > 0 {
					nullStart = true
				}
			}
		}
		return true
	})
	var s [4]string
	for i, name := range hfColumns {
		if lay.text[i] < 0 {
			continue
		}
		if !seen[i] || cells[i].IsNull() {
			return Example{}, at.errorf("column %q is null, want a string", name)
		}
		s[i] = string(cells[i].ByteArray()) // copies: the page buffer is reused
	}
	at.id = s[0]
	if s[0] == "" {
		return Example{}, at.errorf(`column "id" is empty`)
	}
	if nullText || nullStart {
		return Example{}, at.errorf("answers: a null inside answers.text or answers.answer_start")
	}
	if len(texts) != len(starts) {
		return Example{}, at.errorf("answers: %d texts but %d answer_start values", len(texts), len(starts))
	}
	ex := Example{ID: s[0], Title: s[1], Context: s[2], Question: s[3]}
	for i := range texts {
		ex.Answers = append(ex.Answers, Answer{Text: texts[i], Start: starts[i]})
	}
	// Hugging Face keeps no is_impossible: an empty answer list is one.
	ex.IsImpossible = len(ex.Answers) == 0
	return ex, checkExample(ds, at, &ex)
}

// IDs returns the question ids in file order.
func (d Dataset) IDs() []string {
	out := make([]string, len(d.Examples))
	for i, ex := range d.Examples {
		out[i] = ex.ID
	}
	return out
}

// Head returns a copy of the dataset with its first n examples (all if n <= 0 or
// larger than the dataset), for smoke runs.
func (d Dataset) Head(n int) Dataset {
	if n > 0 && n < len(d.Examples) {
		d.Examples = slices.Clone(d.Examples[:n])
	}
	return d
}
