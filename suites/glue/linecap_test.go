package glue

import (
	"bufio"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/vectorfit/harness/internal/lines"
)

// A line over the cap is an error naming file:line, the line's length and the cap;
// with SkipMalformed it is a skipped row that keeps its place (Idx of later rows).
// In a TSV header it is an error regardless.
func TestLineCap(t *testing.T) {
	long := strings.Repeat("word ", 30) // 150 bytes
	rteHeader := "index\tsentence1\tsentence2\tlabel\n"
	cases := []struct {
		name, task, file, content string
		limit                     int
		line, length              int
	}{
		{"tsv row", "rte", "dev.tsv", rteHeader + "0\ta\tb\tentailment\n1\t" + long + "\tb\tentailment\n2\tc\td\tnot_entailment\n", 100, 3, 165},
		{"tsv header", "sst2", "dev.tsv", "sentence\tlabel\t" + long + "\n" + "a\t1\tx\n", 100, 1, 165},
		{"tsv last line without newline", "sst2", "dev.tsv", "sentence\tlabel\na\t1\n" + long + "\t1", 100, 3, 152},
		{"tsv crlf", "sst2", "dev.tsv", "sentence\tlabel\r\na\t1\r\n" + long + "\t1\r\nb\t0\r\n", 100, 3, 153},
		{"jsonl", "rte", "dev.jsonl", `{"sentence1": "a", "sentence2": "b", "label": 0}` + "\n" + `{"sentence1": "` + long + `", "sentence2": "b", "label": 1}` + "\n" + `{"sentence1": "c", "sentence2": "d", "label": 1}` + "\n", 100, 2, 197},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), c.file, c.content)
			task := mustTask(t, c.task)
			_, err := ReadSplitFile(task, SplitValidation, path, LoadOptions{MaxLineBytes: c.limit})
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Path != path || pe.Line != c.line {
				t.Fatalf("want a *ParseError at %s:%d, got %v", path, c.line, err)
			}
			want := "the line is " + strconv.Itoa(c.length) + " bytes long, over the cap of 100 bytes"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
			// The default cap reads the same file.
			if _, err := ReadSplitFile(task, SplitValidation, path, LoadOptions{}); err != nil {
				t.Errorf("default cap: %v", err)
			}
			sp, err := ReadSplitFile(task, SplitValidation, path, LoadOptions{MaxLineBytes: c.limit, SkipMalformed: true})
			if c.line == 1 && c.file == "dev.tsv" {
				if err == nil {
					t.Error("a header over the cap was accepted with SkipMalformed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sp.Skipped != 1 {
				t.Errorf("skipped %d, want 1 (%q)", sp.Skipped, sp.SkipReasons)
			}
			last := sp.Examples[len(sp.Examples)-1]
			if c.name != "tsv last line without newline" && last.Idx != 2 {
				t.Errorf("the row after the long one has idx %d, want 2", last.Idx)
			}
		})
	}
}

// The default cap is glue.MaxLineBytes (1 MiB): a line of exactly that many bytes is
// read, one byte more is not, in the TSV reader and in prediction files.
func TestLineCapDefault(t *testing.T) {
	text := strings.Repeat("a", MaxLineBytes-2) // + "\t1" = MaxLineBytes
	dir := t.TempDir()
	ok := writeFile(t, dir, "ok.tsv", "sentence\tlabel\n"+text+"\t1\n")
	sp, err := ReadSplitFile(mustTask(t, "sst2"), SplitTrain, ok, LoadOptions{})
	if err != nil || len(sp.Examples) != 1 || sp.Examples[0].Text1 != text {
		t.Fatalf("a line of exactly %d bytes: %v", MaxLineBytes, err)
	}
	over := writeFile(t, dir, "over.tsv", "sentence\tlabel\n"+text+"a\t1\n")
	_, err = ReadSplitFile(mustTask(t, "sst2"), SplitTrain, over, LoadOptions{})
	want := over + ":2: the line is 1048577 bytes long, over the cap of 1048576 bytes"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}

	preds := writeFile(t, dir, "preds.jsonl", `{"idx": 0, "prediction": 1}`+"\n"+`{"idx": 1, "prediction": "`+strings.Repeat("x", MaxLineBytes)+`"}`+"\n")
	_, err = ReadPredictions(mustTask(t, "sst2"), preds)
	want = preds + ":2: the line is 1048604 bytes long, over the cap of 1048576 bytes"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("predictions: got %v, want %q", err, want)
	}
}

func TestLoadOptionsMaxLineBytesNegative(t *testing.T) {
	path := writeFile(t, t.TempDir(), "dev.tsv", "sentence\tlabel\na\t1\n")
	_, err := ReadSplitFile(mustTask(t, "sst2"), SplitValidation, path, LoadOptions{MaxLineBytes: -1})
	if err == nil || !strings.Contains(err.Error(), "LoadOptions.MaxLineBytes -1, want >= 0") {
		t.Errorf("got %v", err)
	}
}

// readLine keeps at most the cap in memory and reports the full length of a longer
// line, for lines longer than the reader's buffer too.
func TestReadLine(t *testing.T) {
	in := "ab\n" + strings.Repeat("x", 100) + "\n\ncd\r\nlast"
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	type got struct {
		line   string
		length int
		eof    bool
	}
	var all []got
	for {
		line, n, err := lines.Read(r, 50)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if n == 0 && line == "" && err == io.EOF {
			break
		}
		all = append(all, got{line, n, err == io.EOF})
	}
	want := []got{{"ab\n", 2, false}, {"", 100, false}, {"\n", 0, false}, {"cd\r\n", 3, false}, {"last", 4, true}}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("got %+v, want %+v", all, want)
	}
}
