package parquetx

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// readAll opens path and reads every row, as the suites do; the first error.
func readAll(path string) (rows int, err error) {
	pf, f, err := Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	for row, err := range Rows(pf) {
		if err != nil {
			return rows, err
		}
		row.Range(func(col int, vals []parquet.Value) bool {
			for _, v := range vals {
				if v.Kind() == parquet.ByteArray {
					_ = v.ByteArray()
				}
			}
			return true
		})
		rows++
	}
	return rows, nil
}

const rteFixture = "../../suites/glue/testdata/hf/rte/validation-00000-of-00001.parquet"

// Files on which parquet-go v0.32.0 panics, yields malformed rows or allocates by a
// corrupt length (testdata/README.md) give errors naming the file or the problem.
func TestCorruptFiles(t *testing.T) {
	cases := []struct{ file, want string }{
		{"corrupt-footer-length.parquet", "not a readable parquet file: the footer claims 7801336 bytes, the file has 5966"},
		{"corrupt-dictionary-index.parquet", "corrupt parquet data (parquet-go: index out of bounds)"},
		{"corrupt-index-range.parquet", "corrupt parquet data (parquet-go: runtime error: index out of range"},
		{"corrupt-missing-column.parquet", "corrupt parquet data: a row with values of 3 of the 4 leaf columns"},
		{"corrupt-shifted-column.parquet", "corrupt parquet data: a value of leaf column 2 after one of column 0"},
		{"corrupt-column-order.parquet", "corrupt parquet data: a value of leaf column -1 after one of column 2"},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			_, err := readAll(filepath.Join("testdata", c.file))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want %q", err, c.want)
			}
		})
	}
	// The fixture they come from reads without error.
	if n, err := readAll(rteFixture); err != nil || n != 6 {
		t.Errorf("%s: %d rows, %v", rteFixture, n, err)
	}
}

// A footer length of 2 GiB in a small file is refused before anything is allocated.
func TestFooterLengthChecked(t *testing.T) {
	raw, err := os.ReadFile(rteFixture)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"huge footer", func(b []byte) []byte { copy(b[len(b)-8:], []byte{0xff, 0xff, 0xff, 0x7f}); return b }, "the footer claims 2147483647 bytes, the file has 5966"},
		{"no tail magic", func(b []byte) []byte { b[len(b)-1] = 'X'; return b }, `does not start and end with "PAR1"`},
		{"no head magic", func(b []byte) []byte { b[0] = 'X'; return b }, `does not start and end with "PAR1"`},
		{"too short", func(b []byte) []byte { return []byte("PAR1PAR1") }, "8 bytes, too short for a parquet file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.parquet")
			if err := os.WriteFile(path, c.edit(append([]byte(nil), raw...)), 0o644); err != nil {
				t.Fatal(err)
			}
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			_, _, err := Open(path)
			runtime.ReadMemStats(&m1)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("got %v, want %q naming the file", err, c.want)
			}
			if mb := (m1.TotalAlloc - m0.TotalAlloc) >> 20; mb > 10 {
				t.Errorf("%d MB allocated", mb)
			}
		})
	}
}

// FuzzRows: any bytes give rows or an error, never a panic, and every yielded row
// passes checkRow's promises (Range on it never calls ByteArray on a non-byte-array).
// Seeds: the real RTE and STS-B fixtures of suites/glue, the SQuAD ones of
// suites/squad, and the corrupt files above.
//
//	go test -run '^$' -fuzz FuzzRows -fuzztime 45s -parallel 1 ./internal/parquetx
func FuzzRows(f *testing.F) {
	seeds := []string{
		rteFixture,
		"../../suites/glue/testdata/hf/stsb/validation-00000-of-00001.parquet",
		"../../suites/squad/testdata/hf/squad_v2-validation.parquet",
	}
	corrupt, _ := filepath.Glob("testdata/*.parquet")
	for _, p := range append(seeds, corrupt...) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		pf, file, err := Open(path)
		if err != nil {
			return
		}
		defer file.Close()
		_ = ClassLabelNames(pf, "label")
		_ = TopLevelColumns(pf.Schema())
		n := 0
		for row, err := range Rows(pf) {
			if err != nil || n > 1e5 {
				break
			}
			row.Range(func(col int, vals []parquet.Value) bool {
				for _, v := range vals {
					if v.Kind() == parquet.ByteArray {
						_ = v.ByteArray()
					}
				}
				return true
			})
			n++
		}
	})
}
