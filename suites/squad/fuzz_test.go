package squad

// Fuzz targets for the SQuAD readers: the dataset (official JSON or Hugging Face
// parquet) and the two files `runner score` reads (predictions.json, na_prob.json).
// Their seeds (real bytes from shared/data and testdata, plus edge cases) run as plain
// tests in `go test`; explore further with e.g.
//
//	go test -run '^$' -fuzz FuzzLoad -fuzztime 45s -parallel 1 ./suites/squad
//
// Inputs that once failed live in testdata/fuzz/FuzzXxx/ and run as tests too.

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// firstParagraph rebuilds a real SQuAD file with only its first article's first
// paragraph (its raw bytes as in the file), or returns nil if the file is missing.
func firstParagraph(t testing.TB, path string) []byte {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var top struct {
		Version json.RawMessage `json:"version"`
		Data    []struct {
			Title      json.RawMessage   `json:"title"`
			Paragraphs []json.RawMessage `json:"paragraphs"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &top); err != nil || len(top.Data) == 0 || len(top.Data[0].Paragraphs) == 0 {
		t.Fatalf("%s: not the SQuAD file expected: %v", path, err)
	}
	a := top.Data[0]
	return []byte(`{"version": ` + string(top.Version) + `, "data": [{"title": ` + string(a.Title) + `, "paragraphs": [` + string(a.Paragraphs[0]) + `]}]}`)
}

// writeTemp writes a fuzz input to a file of its own.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func checkError(t *testing.T, err error, path string) {
	t.Helper()
	if msg := err.Error(); !strings.HasPrefix(msg, "squad: ") || !strings.Contains(msg, path) {
		t.Fatalf("error does not name the package and the file %s: %v", path, err)
	}
}

func FuzzLoad(f *testing.F) {
	for _, name := range []string{"dev-v1.1.subset.json", "dev-v2.0.subset.json"} {
		if b := firstParagraph(f, filepath.Join(sharedSQuAD, name)); b != nil {
			f.Add(b, uint8(0))
			f.Add(b, uint8(2))
		}
	}
	for _, name := range []string{"squad-validation.parquet", "squad_v2-validation.parquet", "bad-lengths.parquet", "bad-no-answers.parquet"} {
		b, err := os.ReadFile(filepath.Join("testdata/hf", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(1))
		f.Add(b[:len(b)*2/3], uint8(2))
	}
	for _, s := range []string{
		`{"version": "1.1", "data": [{"title": "Normans", "paragraphs": [{"context": "The Normans were in France.", "qas": [{"id": "56ddde6b9a695914005b9628", "question": "In what country is Normandy located?", "answers": [{"text": "France", "answer_start": 20}]}]}]}]}`,
		`{"version": "v2.0", "data": [{"title": "Normans", "paragraphs": [{"context": "x", "qas": [{"id": "a", "question": "q", "answers": [], "plausible_answers": [{"text": "x", "answer_start": 0}], "is_impossible": true}]}]}]}`,
		`{"data": []}`, `{}`, `null`, `[]`, `{"version": 2}`, "\uFEFF{", "PAR1", "",
		`{"version": "1.1", "data": [{"paragraphs": [{"context": "ab", "qas": [{"id": "a", "question": "q", "answers": [{"text": "b", "answer_start": -9223372036854775808}]}]}]}]}`,
		`{"version": "1.1", "data": [{"paragraphs": [{"context": "\ud800", "qas": [{"id": "a", "question": "q", "answers": [{"text": "b", "answer_start": 1e3}]}]}]}]}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	versions := []string{"", "1.1", "2.0"}
	f.Fuzz(func(t *testing.T, data []byte, version uint8) {
		path := writeTemp(t, "dev.json", data)
		ds, err := Load(path, versions[int(version)%len(versions)])
		if err != nil {
			checkError(t, err, path)
			return
		}
		if len(ds.Examples) == 0 || (ds.Version != V1 && ds.Version != V2) {
			t.Fatalf("loaded %d examples, version %q", len(ds.Examples), ds.Version)
		}
		for _, ex := range ds.Examples {
			if ex.ID == "" || !utf8.ValidString(ex.Context) || !utf8.ValidString(ex.Question) {
				t.Fatalf("question %q: empty id or invalid text accepted", ex.ID)
			}
			n := utf8.RuneCountInString(ex.Context)
			for _, a := range ex.Answers {
				if a.Start < 0 || a.Start+utf8.RuneCountInString(a.Text) > n {
					t.Fatalf("question %q: answer at %d outside the %d-character context", ex.ID, a.Start, n)
				}
			}
		}
	})
}

// predictionSeeds are the first entries of the real-run prediction files in testdata.
func predictionSeeds(f *testing.F, name string, n int) []byte {
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	// cut after the n-th top-level comma: still real bytes, closed by hand
	depth, commas := 0, 0
	for i, c := range raw {
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 1 {
				if commas++; commas == n {
					return append(bytes.Clone(raw[:i]), '}')
				}
			}
		}
	}
	return raw
}

func FuzzReadPredictions(f *testing.F) {
	f.Add(predictionSeeds(f, "preds-v1.1.json", 6))
	f.Add(predictionSeeds(f, "preds-v2.0.json", 6))
	for _, s := range []string{`{}`, `{"a": "x", "a": "y"}`, `{"a": null}`, `{"a": 1}`, `[]`, `{"a": "x"} {}`, `{"a": "x"`, `{"\ud800": "\u0000"}`, "", `{"a":"x",}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := writeTemp(t, "predictions.json", data)
		preds, err := ReadPredictions(path)
		if err != nil {
			checkError(t, err, path)
			return
		}
		if !json.Valid(data) {
			t.Fatalf("invalid JSON accepted as %d predictions", len(preds))
		}
	})
}

func FuzzReadNAProbs(f *testing.F) {
	f.Add(predictionSeeds(f, "na-prob-v2.0.json", 6))
	for _, s := range []string{`{}`, `{"a": 0.5, "a": 0.5}`, `{"a": "0.5"}`, `{"a": 1e999}`, `{"a": -0}`, `{"a": null}`, `[0.5]`, `{"a": 0.5}x`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := writeTemp(t, "na_prob.json", data)
		probs, order, err := ReadNAProbs(path)
		if err != nil {
			checkError(t, err, path)
			return
		}
		if len(order) != len(probs) {
			t.Fatalf("%d keys in order, %d probabilities", len(order), len(probs))
		}
		for k, p := range probs {
			if math.IsNaN(p) || math.IsInf(p, 0) {
				t.Fatalf("key %q: %v accepted", k, p)
			}
		}
	})
}

// A corrupt parquet file is an error naming it, not a panic or a 2 GB allocation.
func TestLoadCorruptParquet(t *testing.T) {
	raw, err := os.ReadFile("testdata/hf/squad-validation.parquet")
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-5] = 0x7f // footer length 0x7f...: more than the file
	path := writeTemp(t, "dev.parquet", raw)
	_, err = Load(path, "1.1")
	want := "squad: " + path + ": not a readable parquet file: the footer claims"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %v, want %q...", err, want)
	}
}
