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

// parquet-go panics on some corrupt files instead of returning an error (found by
// fuzzing: a dictionary index out of range panics in int32Dictionary.lookup, among
// others). Its code cannot be fixed from here, so every call into it that reads file
// content goes through guard, which turns such a panic into an error; the file is then
// not read any further.
func guard(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("corrupt parquet data (parquet-go: %v)", r)
	}
}

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
	pf, err = OpenReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return pf, f, nil
}

// OpenReader opens size bytes of r as a parquet file; path names it in errors.
func OpenReader(r io.ReaderAt, size int64, path string) (*parquet.File, error) {
	pf, err := openFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable parquet file: %w", path, err)
	}
	return pf, nil
}

func openFile(r io.ReaderAt, size int64) (pf *parquet.File, err error) {
	defer guard(&err)
	return parquet.OpenFile(r, size, parquet.SkipBloomFilters(true))
}

// Rows yields the rows of every row group in order. A read error (a corrupt page
// included) is yielded once (with a nil row) and ends the sequence. Every non-null
// value of a yielded row has its column's physical kind (Int32() of an INT32 column,
// ByteArray() of a BYTE_ARRAY one: a corrupt file can yield others, on which
// ByteArray panics). A yielded row is only valid until the next one: parquet-go reuses
// its page buffers, so copy what you keep.
func Rows(pf *parquet.File) iter.Seq2[parquet.Row, error] {
	return func(yield func(parquet.Row, error) bool) {
		kinds := leafKinds(pf.Schema())
		buf := make([]parquet.Row, 128)
		for _, rg := range pf.RowGroups() {
			rows, err := openRows(rg)
			if err != nil {
				yield(nil, err)
				return
			}
			for {
				n, err := readRows(rows, buf, kinds)
				for _, row := range buf[:n] {
					if !yield(row, nil) {
						closeRows(rows)
						return
					}
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					closeRows(rows)
					yield(nil, err)
					return
				}
			}
			if err := closeRows(rows); err != nil {
				yield(nil, err)
				return
			}
		}
	}
}

// leafKinds are the physical kinds of the schema's leaf columns, by column index.
func leafKinds(s *parquet.Schema) []parquet.Kind {
	var kinds []parquet.Kind
	for _, path := range s.Columns() {
		leaf, ok := s.Lookup(path...)
		if !ok {
			return nil
		}
		for len(kinds) <= leaf.ColumnIndex {
			kinds = append(kinds, -1)
		}
		kinds[leaf.ColumnIndex] = leaf.Node.Type().Kind()
	}
	return kinds
}

func openRows(rg parquet.RowGroup) (rows parquet.Rows, err error) {
	defer guard(&err)
	return rg.Rows(), nil
}

// readRows reads the next rows and checks every value against its column's kind
// (touching each byte array once), so that a corrupt value fails here, as an error,
// and not in the caller's hands.
func readRows(rows parquet.Rows, buf []parquet.Row, kinds []parquet.Kind) (n int, err error) {
	defer guard(&err)
	m, err := rows.ReadRows(buf)
	for _, row := range buf[:m] {
		for _, v := range row {
			if v.IsNull() {
				continue
			}
			c := v.Column()
			if c < 0 || c >= len(kinds) || v.Kind() != kinds[c] {
				return 0, fmt.Errorf("corrupt parquet data: a %s value in leaf column %d of kind %s", v.Kind(), c, kindAt(kinds, c))
			}
			if k := v.Kind(); k == parquet.ByteArray || k == parquet.FixedLenByteArray {
				_ = v.ByteArray()
			}
		}
	}
	return m, err // not reached with a corrupt value: n stays 0
}

func kindAt(kinds []parquet.Kind, c int) string {
	if c < 0 || c >= len(kinds) {
		return "(no such column)"
	}
	return kinds[c].String()
}

func closeRows(rows parquet.Rows) (err error) {
	defer guard(&err)
	return rows.Close()
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
