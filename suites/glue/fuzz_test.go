package glue

// Fuzz targets for every reader of this package: GLUE TSV, JSON lines, parquet and
// prediction files. Their seeds (real bytes from shared/data and testdata/hf, plus edge
// cases) run as plain tests in `go test`; explore further with e.g.
//
//	go test -run '^$' -fuzz FuzzReadTSV -fuzztime 45s -parallel 1 ./suites/glue
//
// Inputs that once failed live in testdata/fuzz/FuzzXxx/ and run as tests too.

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// fuzzLineCap is the line cap during fuzzing: small, so that the cap is exercised.
const fuzzLineCap = 512

// headLines returns the first n lines of a real file (nil if it is missing: the seeds
// below also have literal real lines).
func headLines(path string, n int) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []byte
	for range n {
		line, err := r.ReadBytes('\n')
		out = append(out, line...)
		if err != nil {
			break
		}
	}
	return out
}

// taskByte picks a task from a fuzzed byte.
func taskByte(b byte) Task {
	names := Names()
	task, _ := Lookup(names[int(b)%len(names)])
	return task
}

func taskIndex(t testing.TB, name string) byte {
	for i, n := range Names() {
		if n == name {
			return byte(i)
		}
	}
	t.Fatalf("no task %s", name)
	return 0
}

// checkLoaded holds for any split a reader returns without error.
func checkLoaded(t *testing.T, task Task, sp Split) {
	t.Helper()
	for i, ex := range sp.Examples {
		if !utf8.ValidString(ex.Text1) || !utf8.ValidString(ex.Text2) {
			t.Fatalf("example %d: invalid UTF-8 text accepted", i)
		}
		if ex.HasLabel && !task.IsRegression() && (ex.Label < 0 || ex.Label >= task.NumLabels) {
			t.Fatalf("example %d: label %d outside 0..%d", i, ex.Label, task.NumLabels-1)
		}
		if ex.Score < 0 || ex.Score > 5 || ex.Score != ex.Score {
			t.Fatalf("example %d: score %v", i, ex.Score)
		}
		if i > 0 && ex.Idx <= sp.Examples[i-1].Idx {
			t.Fatalf("idx not increasing: %d after %d", ex.Idx, sp.Examples[i-1].Idx)
		}
	}
}

// checkError: every error names the package and the file.
func checkError(t *testing.T, err error, path string) {
	t.Helper()
	if msg := err.Error(); !strings.HasPrefix(msg, "glue: ") || !strings.Contains(msg, path) {
		t.Fatalf("error does not name the package and the file %s: %v", path, err)
	}
}

func fuzzSplitFile(t *testing.T, task Task, name string, data []byte, skip bool) {
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sp, err := ReadSplitFile(task, SplitValidation, path, LoadOptions{SkipMalformed: skip, MaxLineBytes: fuzzLineCap})
	if err != nil {
		checkError(t, err, path)
		return
	}
	checkLoaded(t, task, sp)
}

func FuzzReadTSV(f *testing.F) {
	for _, c := range []struct{ task, file string }{
		{"cola", "CoLA/dev.tsv"}, {"sst2", "SST-2/dev.tsv"}, {"mrpc", "MRPC/dev.tsv"},
		{"stsb", "STS-B/dev.tsv"}, {"rte", "RTE/dev.tsv"}, {"qnli", "QNLI/dev.tsv"},
		{"qqp", "QQP/dev.tsv"}, {"mnli", "MNLI/dev_matched.tsv"},
	} {
		if b := headLines(filepath.Join(sharedGLUE, c.file), 4); b != nil {
			f.Add(taskIndex(f, c.task), b, false)
			f.Add(taskIndex(f, c.task), b, true)
		}
	}
	rte, sst2, cola := taskIndex(f, "rte"), taskIndex(f, "sst2"), taskIndex(f, "cola")
	for _, c := range []struct {
		task byte
		data string
	}{
		{rte, "index\tsentence1\tsentence2\tlabel\n0\tDana Reeve, the widow of the actor Christopher Reeve, has died.\tChristopher Reeve had an accident.\tnot_entailment\n"},
		{sst2, "\uFEFFsentence\tlabel\r\nit 's a charming and often affecting journey . \t1\r\n\r\nno newline\t0"},
		{cola, "gj04\t1\t\tOur friends won't buy this analysis, let alone the next one we propose.\n"},
		{sst2, ""}, {sst2, "\n"}, {sst2, "\uFEFF"}, {sst2, "sentence\tlabel"}, {sst2, "sentence\tlabel\n\xff\t1\n"},
		{sst2, "sentence\tlabel\n" + strings.Repeat("x", fuzzLineCap+1) + "\n"},
		{rte, "index\tsentence1\tsentence2\tlabel\n\t\t\t\t\n"},
	} {
		f.Add(c.task, []byte(c.data), false)
	}
	f.Fuzz(func(t *testing.T, task byte, data []byte, skip bool) {
		fuzzSplitFile(t, taskByte(task), "dev.tsv", data, skip)
	})
}

func FuzzReadJSONL(f *testing.F) {
	rte, stsb := taskIndex(f, "rte"), taskIndex(f, "stsb")
	for _, c := range []struct {
		task byte
		file string
	}{{rte, "testdata/hf/rte/validation.jsonl"}, {stsb, "testdata/hf/stsb/validation.jsonl"}} {
		if b := headLines(c.file, 3); b != nil {
			f.Add(c.task, b, false)
		}
	}
	for _, c := range []struct {
		task byte
		data string
	}{
		{rte, `{"sentence1": "Dana Reeve has died.", "sentence2": "Christopher Reeve had an accident.", "label": 1, "idx": 0}` + "\n"},
		{stsb, `{"sentence1": "A plane is taking off.", "sentence2": "An air plane is taking off.", "label": 5.0, "idx": 0}`},
		{rte, `{"sentence1": "a", "sentence2": "b", "label": "entailment"}` + "\n\n" + `{"sentence1": "a", "sentence2": "b", "label": -1}`},
		{rte, "null\n"}, {rte, "[]\n"}, {rte, `{"sentence1": 1}`}, {rte, `{"label": 1e400}`}, {stsb, `{"sentence1": "a", "sentence2": "b", "label": -1.5}`},
		{rte, `{} {}`}, {rte, "{\"sentence1\": \"\xff\"}"},
	} {
		f.Add(c.task, []byte(c.data), true)
	}
	f.Fuzz(func(t *testing.T, task byte, data []byte, skip bool) {
		fuzzSplitFile(t, taskByte(task), "dev.jsonl", data, skip)
	})
}

func FuzzReadParquet(f *testing.F) {
	rte, stsb := taskIndex(f, "rte"), taskIndex(f, "stsb")
	for _, c := range []struct {
		task byte
		file string
	}{{rte, "testdata/hf/rte/validation-00000-of-00001.parquet"}, {stsb, "testdata/hf/stsb/validation-00000-of-00001.parquet"}} {
		b, err := os.ReadFile(c.file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c.task, b)
		f.Add(c.task, b[:len(b)/2])
		f.Add(c.task, b[len(b)/2:])
	}
	f.Add(rte, []byte("PAR1"))
	f.Add(rte, []byte("PAR1PAR1"))
	f.Add(rte, []byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Add(rte, []byte{})
	f.Fuzz(func(t *testing.T, task byte, data []byte) {
		fuzzSplitFile(t, taskByte(task), "dev.parquet", data, task&0x80 != 0)
	})
}

func FuzzReadPredictions(f *testing.F) {
	rte, stsb := taskIndex(f, "rte"), taskIndex(f, "stsb")
	for _, c := range []struct {
		task byte
		data string
	}{
		{rte, `{"idx": 0, "prediction": 1}` + "\n" + `{"idx": 1, "prediction": "entailment"}` + "\n"},
		{stsb, `{"idx": 0, "prediction": 4.25}` + "\n" + `{"idx": 1, "prediction": "3.8"}`},
		{taskIndex(f, "sst2"), `{"idx": 0, "prediction": "1", "logits": [0.1, 2.3], "text": "it 's a charming journey"}` + "\n\n"},
		{rte, `{"idx": 0, "prediction": 1}` + "\n" + `{"idx": 0, "prediction": 0}`},
		{rte, `{"idx": -1, "prediction": 1}`}, {rte, `{"idx": 1.5, "prediction": 1}`}, {rte, `{"idx": 99999999999, "prediction": 1}`},
		{rte, `{"idx": 0, "prediction": 1e309}`}, {stsb, `{"idx": 0, "prediction": "NaN"}`}, {rte, `{"idx": 0}`}, {rte, "null"}, {rte, ""},
		{rte, "\xff\xfe"},
	} {
		f.Add(c.task, []byte(c.data))
	}
	f.Fuzz(func(t *testing.T, task byte, data []byte) {
		tk := taskByte(task)
		path := filepath.Join(t.TempDir(), "preds.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		preds, err := ReadPredictions(tk, path)
		if err != nil {
			checkError(t, err, path)
			return
		}
		for idx, p := range preds {
			if idx < 0 || p != p || !tk.IsRegression() && (p < 0 || p >= float64(tk.NumLabels) || p != float64(int(p))) {
				t.Fatalf("idx %d: prediction %v accepted", idx, p)
			}
		}
	})
}

// Corrupt parquet files on which parquet-go panicked (internal/parquetx/testdata) are
// errors naming the file and the row.
func TestParquetCorrupt(t *testing.T) {
	rte := mustTask(t, "rte")
	for _, c := range []struct{ file, want string }{
		{"corrupt-shifted-column.parquet", ": row 0 (0-based): corrupt parquet data: a value of leaf column 2 after one of column 0"},
		{"corrupt-dictionary-index.parquet", ": row 0 (0-based): corrupt parquet data (parquet-go: index out of bounds)"},
		{"corrupt-footer-length.parquet", ": not a readable parquet file: the footer claims 7801336 bytes, the file has 5966"},
	} {
		path := filepath.Join("../../internal/parquetx/testdata", c.file)
		_, err := ReadSplitFile(rte, SplitValidation, path, LoadOptions{})
		if err == nil || err.Error() != "glue: "+path+c.want {
			t.Errorf("got %v, want %q", err, "glue: "+path+c.want)
		}
	}
}
