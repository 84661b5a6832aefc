package nlg

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Written predictions read back and score as ROUGE of the same texts does; the
// references themselves score 1.
func TestPredictionFilesRoundTrip(t *testing.T) {
	task, _ := Lookup("xsum")
	file := filepath.Join(sharedXSum, "test-sample.jsonl")
	if _, err := os.Stat(file); err != nil {
		t.Skipf("no shared XSum sample: %v", err)
	}
	split, err := ReadFile(task, "test", file, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	split.Examples = split.Examples[:50]
	var ids, lead, refs, gold []string
	for _, ex := range split.Examples {
		first, _, _ := strings.Cut(ex.Source, "\n")
		ids, lead = append(ids, ex.ID), append(lead, first)
		refs, gold = append(refs, PostprocessText(ex.Target)), append(gold, ex.Target)
	}
	path := filepath.Join(t.TempDir(), "predictions.jsonl")
	for _, tc := range []struct {
		name  string
		preds []string
	}{{"lead sentence", lead}, {"references", gold}} {
		if err := WritePredictions(path, ids, tc.preds); err != nil {
			t.Fatal(err)
		}
		got, err := ScoreFile(split, path)
		if err != nil {
			t.Fatal(err)
		}
		post := make([]string, len(tc.preds))
		for i, p := range tc.preds {
			post[i] = PostprocessText(p)
		}
		want, _ := CorpusRouge(post, refs)
		for _, k := range RougeTypes {
			if got[k] != want[k] || (tc.name == "references" && math.Abs(got[k]-1) > 1e-12) {
				t.Errorf("%s: %s = %v, want %v", tc.name, k, got[k], want[k])
			}
		}
		t.Logf("%s: %v", tc.name, got)
	}
}

func TestReadPredictionsErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"id": "1"}`, `:1: "prediction": missing, want a string`},
		{`{"id": 1, "prediction": "x"}`, `:1: "id": want a string, got a number`},
		{"{\"id\": \"1\", \"prediction\": \"a\"}\n\n{\"id\": \"1\", \"prediction\": \"b\"}", `:3: "id": duplicate id "1" (first at line 1)`},
		{`{"id": "1", "prediction": "a"`, `:1: want one JSON object per line`},
	} {
		path := filepath.Join(t.TempDir(), "p.jsonl")
		os.WriteFile(path, []byte(tc.body), 0o644)
		_, err := ReadPredictions(path)
		if err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%q: %v, want %q", tc.body, err, tc.want)
		}
	}
	split := Split{Path: "dev", Examples: []Example{{ID: "a", Target: "x"}, {ID: "b", Target: "y"}}}
	path := filepath.Join(t.TempDir(), "p.jsonl")
	WritePredictions(path, []string{"a", "c"}, []string{"x", "z"})
	if _, err := ScoreFile(split, path); err == nil || !strings.Contains(err.Error(), `no prediction for 1 of the 2 examples of dev (first: id "b")`) {
		t.Errorf("missing prediction: %v", err)
	}
}

// FuzzReadPredictions: no input makes the reader panic.
func FuzzReadPredictions(f *testing.F) {
	for _, s := range []string{`{"id": "1", "prediction": "a b"}`, "", "\n\n", `{"id": null}`, `[]`, `{"id": "1", "prediction": "x"} {}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		path := filepath.Join(t.TempDir(), "p.jsonl")
		os.WriteFile(path, raw, 0o644)
		ReadPredictions(path)
	})
}
