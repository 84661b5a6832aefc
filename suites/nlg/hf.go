package nlg

// Hugging Face layouts of both tasks: parquet shards as on the Hub and JSON
// lines as datasets' to_json writes them, with the task's column names
// (document/summary/id, article/highlights/id).

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"

	"github.com/vectorfit/harness/internal/parquetx"

	"github.com/vectorfit/harness/internal/lines"
)

// readJSONL reads one JSON object per line; blank lines are skipped.
func readJSONL(task Task, path string, c *collector) error {
	return eachLine(path, c.limit(), func(lineNo int, line string, tooLong *ParseError) error {
		mkErr := func(field, format string, args ...any) *ParseError {
			return lineError(path, lineNo, field, format, args...)
		}
		where := fmt.Sprintf("line %d", lineNo)
		if tooLong != nil {
			return c.add(Example{}, tooLong, where, mkErr)
		}
		if strings.TrimSpace(line) == "" {
			return nil
		}
		ex, bad := parseJSONLine(task, line, mkErr)
		return c.add(ex, bad, where, mkErr)
	})
}

// parseJSONLine decodes one record. The three fields must be strings;
// others are ignored.
func parseJSONLine(task Task, line string, mkErr func(field, format string, args ...any) *ParseError) (Example, *ParseError) {
	if !utf8.ValidString(line) {
		// encoding/json would turn invalid bytes into U+FFFD silently.
		return Example{}, mkErr("", "want UTF-8 text, got invalid bytes")
	}
	obj, err := lines.DecodeObject(line)
	if err != nil {
		return Example{}, mkErr("", "want one JSON object per line: %v", err)
	}
	var vals [3]string
	fields := [3]string{task.SourceField, task.TargetField, idField}
	for i, name := range fields {
		v, present := obj[name]
		if !present {
			return Example{}, mkErr(name, "missing, want a string (%s records have %s)", task.Name, quoteList(fields[:]))
		}
		s, ok := v.(string)
		if !ok {
			return Example{}, mkErr(name, "want a string, got %s", jsonKind(v))
		}
		vals[i] = s
	}
	return Example{Source: vals[0], Target: vals[1], ID: vals[2]}, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64:
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

// readParquet reads one parquet shard row by row, through parquetx's guards
// (footer and chunk checks, parquet-go panics turned into errors).
func readParquet(task Task, path string, c *collector) error {
	pf, f, err := parquetx.Open(path)
	if err != nil {
		return fmt.Errorf("nlg: %w", err)
	}
	defer f.Close()
	names := [3]string{task.SourceField, task.TargetField, idField}
	var cols [3]int
	schema := pf.Schema()
	for i, name := range names {
		leaf, ok := schema.Lookup(name)
		if !ok {
			return rowError(path, -1, name, "no such column; %s needs %s, the file has %s", task.Name, quoteList(names[:]), quoteList(parquetx.TopLevelColumns(schema)))
		}
		if leaf.MaxRepetitionLevel > 0 {
			return rowError(path, -1, name, "is a repeated (list) column, want one string per row")
		}
		if k := leaf.Node.Type().Kind(); k != parquet.ByteArray {
			return rowError(path, -1, name, "has type %s, want a string column", k)
		}
		cols[i] = leaf.ColumnIndex
	}
	rowNo := 0
	for row, err := range parquetx.Rows(pf) {
		if err != nil {
			return fmt.Errorf("nlg: %s: row %d (0-based): %w", path, rowNo, err)
		}
		n := rowNo
		mkErr := func(field, format string, args ...any) *ParseError {
			return rowError(path, n, field, format, args...)
		}
		ex, bad := parquetRow(row, names, cols, mkErr)
		if err := c.add(ex, bad, fmt.Sprintf("%s row %d", path, n), mkErr); err != nil {
			return err
		}
		rowNo++
	}
	return nil
}

func parquetRow(row parquet.Row, names [3]string, cols [3]int, mkErr func(field, format string, args ...any) *ParseError) (Example, *ParseError) {
	var vals [3]string
	var seen [3]bool
	var null [3]bool
	row.Range(func(col int, vs []parquet.Value) bool {
		for i, ci := range cols {
			if ci == col && len(vs) > 0 {
				seen[i] = true
				if vs[0].IsNull() {
					null[i] = true
				} else {
					vals[i] = string(vs[0].ByteArray()) // copies: page buffers are reused
				}
			}
		}
		return true
	})
	for i, name := range names {
		if !seen[i] || null[i] {
			return Example{}, mkErr(name, "null, want a string")
		}
		if !utf8.ValidString(vals[i]) {
			return Example{}, mkErr(name, "want UTF-8 text, got invalid bytes")
		}
	}
	return Example{Source: vals[0], Target: vals[1], ID: vals[2]}, nil
}
