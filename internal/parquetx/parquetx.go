// Package parquetx holds the parquet plumbing shared by the suites that read
// Hugging Face datasets shards (suites/glue, suites/vision): opening a file,
// walking its rows across row groups, and reading the datasets library's
// ClassLabel metadata.
package parquetx

import (
	"encoding/binary"
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
	if err := checkFooter(r, size); err != nil {
		return nil, err
	}
	defer guard(&err)
	pf, err = parquet.OpenFile(r, size, parquet.SkipBloomFilters(true))
	if err != nil {
		return nil, err
	}
	if err := checkChunks(pf, size); err != nil {
		return nil, err
	}
	return pf, nil
}

// checkChunks checks that every column chunk the footer lists lies inside the file,
// before parquet-go sizes buffers by them.
func checkChunks(pf *parquet.File, size int64) error {
	for i, rg := range pf.Metadata().RowGroups {
		if rg.NumRows < 0 {
			return fmt.Errorf("row group %d claims %d rows", i, rg.NumRows)
		}
		for j, c := range rg.Columns {
			m := c.MetaData
			start := m.DataPageOffset
			if m.DictionaryPageOffset > 0 && m.DictionaryPageOffset < start {
				start = m.DictionaryPageOffset
			}
			if start < 4 || m.TotalCompressedSize < 0 || m.TotalCompressedSize > size || start+m.TotalCompressedSize > size || m.NumValues < 0 {
				return fmt.Errorf("row group %d, column chunk %d: %d bytes at offset %d (%d values) do not fit in the %d-byte file", i, j, m.TotalCompressedSize, start, m.NumValues, size)
			}
		}
	}
	return nil
}

// checkFooter checks the file's frame: "PAR1", data, footer, the footer's length (4
// bytes, little endian), "PAR1". parquet-go allocates a buffer of the length the file
// claims before reading the footer, so a corrupt length in a 6 KB file cost 2.5 GB.
func checkFooter(r io.ReaderAt, size int64) error {
	const magic = "PAR1"
	if size < 12 {
		return fmt.Errorf("%d bytes, too short for a parquet file (at least 12: PAR1, footer length, PAR1)", size)
	}
	var head, tail [8]byte
	if _, err := r.ReadAt(head[:4], 0); err != nil {
		return err
	}
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(head[:4]) != magic || string(tail[4:]) != magic {
		return fmt.Errorf("does not start and end with %q", magic)
	}
	footer := int64(binary.LittleEndian.Uint32(tail[:4]))
	if footer > size-12 {
		return fmt.Errorf("the footer claims %d bytes, the file has %d", footer, size)
	}
	return nil
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
		if err := checkRow(row, kinds); err != nil {
			return 0, err
		}
	}
	return m, err // not reached with a corrupt row: n stays 0
}

// checkRow checks what callers of Rows rely on: the row holds values of every leaf
// column, in column order (parquet.Row.Range numbers the columns by position, so a
// missing one would shift the others: a corrupt file yields such rows), and each
// non-null value has its column's kind.
func checkRow(row parquet.Row, kinds []parquet.Kind) error {
	col := -1
	for _, v := range row {
		c := v.Column()
		switch {
		case c == col:
		case c == col+1:
			col = c
		default:
			return fmt.Errorf("corrupt parquet data: a value of leaf column %d after one of column %d", c, col)
		}
		if c >= len(kinds) {
			return fmt.Errorf("corrupt parquet data: a value of leaf column %d, the schema has %d", c, len(kinds))
		}
		if v.IsNull() {
			continue
		}
		if v.Kind() != kinds[c] {
			return fmt.Errorf("corrupt parquet data: a %s value in leaf column %d of kind %s", v.Kind(), c, kinds[c])
		}
		if k := v.Kind(); k == parquet.ByteArray || k == parquet.FixedLenByteArray {
			_ = v.ByteArray()
		}
	}
	if col != len(kinds)-1 {
		return fmt.Errorf("corrupt parquet data: a row with values of %d of the %d leaf columns", col+1, len(kinds))
	}
	return nil
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
