// Package parquetx holds the parquet plumbing shared by the suites that read
// Hugging Face datasets shards (suites/glue, suites/vision): opening a file,
// walking its rows across row groups, and reading the datasets library's
// ClassLabel metadata.
package parquetx

import (
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"

	"github.com/parquet-go/parquet-go"
)

// Open opens path as a parquet file. Close the returned file when done with pf.
// Errors name the path; callers add their package prefix.
func Open(path string) (pf *parquet.File, f *os.File, err error) {
	f, err = os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pf, err = parquet.OpenFile(f, st.Size(), parquet.SkipBloomFilters(true))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a readable parquet file: %w", path, err)
	}
	return pf, f, nil
}

// Rows yields the rows of every row group in order. A read error is yielded
// once (with a nil row) and ends the sequence. A yielded row is only valid
// until the next one: parquet-go reuses its page buffers, so copy what you keep.
func Rows(pf *parquet.File) iter.Seq2[parquet.Row, error] {
	return func(yield func(parquet.Row, error) bool) {
		buf := make([]parquet.Row, 128)
		for _, rg := range pf.RowGroups() {
			rows := rg.Rows()
			for {
				n, err := rows.ReadRows(buf)
				for _, row := range buf[:n] {
					if !yield(row, nil) {
						rows.Close()
						return
					}
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					rows.Close()
					yield(nil, err)
					return
				}
			}
			if err := rows.Close(); err != nil {
				yield(nil, err)
				return
			}
		}
	}
}

// ClassLabelNames returns the class names of column's ClassLabel feature from
// the "huggingface" key of the file's metadata, nil when there are none (or the
// metadata cannot be read: no evidence either way).
func ClassLabelNames(pf *parquet.File, column string) []string {
	raw, ok := pf.Lookup("huggingface")
	if !ok {
		return nil
	}
	var meta struct {
		Info struct {
			Features map[string]struct {
				Type  string   `json:"_type"`
				Names []string `json:"names"`
			} `json:"features"`
		} `json:"info"`
	}
	if json.Unmarshal([]byte(raw), &meta) != nil {
		return nil
	}
	if f, ok := meta.Info.Features[column]; ok && f.Type == "ClassLabel" {
		return f.Names
	}
	return nil
}

// TopLevelColumns lists the names of the schema's top-level fields, for error
// messages that say what a file has.
func TopLevelColumns(s *parquet.Schema) []string {
	var out []string
	for _, f := range s.Fields() {
		out = append(out, f.Name())
	}
	return out
}
