package squad

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadSharedDev(t *testing.T) {
	for _, c := range []struct {
		file, version, wantVersion, wantFileVersion string
		questions, impossible                       int
	}{
		{"dev-v1.1.subset.json", "", V1, "1.1", 5609, 0},
		{"dev-v2.0.subset.json", "", V2, "v2.0", 1658, 787},
		{"dev-v2.0.subset.json", "v2.0", V2, "v2.0", 1658, 787},
		// v1.1 data scored with the v2.0 script is fine (every question answerable).
		{"dev-v1.1.subset.json", "2.0", V2, "1.1", 5609, 0},
	} {
		ds := mustLoad(t, filepath.Join(sharedSQuAD, c.file), c.version)
		imp := 0
		for _, ex := range ds.Examples {
			if ex.IsImpossible {
				imp++
			}
		}
		if ds.Version != c.wantVersion || ds.FileVersion != c.wantFileVersion || len(ds.Examples) != c.questions || imp != c.impossible || ds.Format != FormatJSON {
			t.Errorf("%s as %q: version %s (file %s), %d questions, %d impossible, format %s; want %s (%s), %d, %d, json",
				c.file, c.version, ds.Version, ds.FileVersion, len(ds.Examples), imp, ds.Format, c.wantVersion, c.wantFileVersion, c.questions, c.impossible)
		}
		if ds.Misaligned != 0 {
			t.Errorf("%s: %d misaligned answers, want 0", c.file, ds.Misaligned)
		}
	}
	d2 := mustLoad(t, filepath.Join(sharedSQuAD, "dev-v2.0.subset.json"), "")
	first := d2.Examples[0]
	want := Example{ID: "56ddde6b9a695914005b9628", Title: "Normans", Question: "In what country is Normandy located?",
		Answers: []Answer{{"France", 159}, {"France", 159}, {"France", 159}, {"France", 159}}}
	first.Context = ""
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first v2.0 question\n got  %+v\n want %+v", first, want)
	}
	if _, err := Load(filepath.Join(sharedSQuAD, "dev-v2.0.subset.json"), "1.1"); err == nil || !strings.Contains(err.Error(), "load it as version 2.0") {
		t.Errorf("v2.0 data as v1.1: err %v, want a hint to load it as 2.0", err)
	}
}

// The Hugging Face parquet files hold the same questions as the official JSON
// (scripts/fixtures/gen_squad_parquet.py), with either list naming and either
// integer width.
func TestLoadParquetMatchesJSON(t *testing.T) {
	for _, c := range []struct{ parquet, json, version string }{
		{"testdata/hf/squad_v2-validation.parquet", "dev-v2.0.subset.json", V2},
		{"testdata/hf/squad-validation.parquet", "dev-v1.1.subset.json", V1},
	} {
		pq := mustLoad(t, c.parquet, c.version)
		js := mustLoad(t, filepath.Join(sharedSQuAD, c.json), c.version)
		byID := map[string]Example{}
		for _, ex := range js.Examples {
			byID[ex.ID] = ex
		}
		if pq.Format != FormatParquet || len(pq.Examples) != 8 {
			t.Fatalf("%s: format %s, %d questions", c.parquet, pq.Format, len(pq.Examples))
		}
		imp := 0
		for _, ex := range pq.Examples {
			if !reflect.DeepEqual(ex, byID[ex.ID]) {
				t.Errorf("%s: question %s\n parquet %+v\n json    %+v", c.parquet, ex.ID, ex, byID[ex.ID])
			}
			if ex.IsImpossible {
				imp++
			}
		}
		if c.version == V2 && imp != 4 {
			t.Errorf("%s: %d unanswerable, want 4", c.parquet, imp)
		}
	}
	if _, err := Load("testdata/hf/squad_v2-validation.parquet", ""); err == nil || !strings.Contains(err.Error(), "give 1.1 or 2.0") {
		t.Errorf("parquet without a version: err %v", err)
	}
	if _, err := Load("testdata/hf/squad_v2-validation.parquet", "1.1"); err == nil || !strings.Contains(err.Error(), "row 1 (0-based), question") {
		t.Errorf("v2.0 parquet as v1.1: err %v, want one naming row 1 and its question", err)
	}
	if _, err := Load("testdata/hf/bad-no-answers.parquet", "1.1"); err == nil || !strings.Contains(err.Error(), `"answers"`) {
		t.Errorf("parquet without answers: err %v", err)
	}
	if _, err := Load("testdata/hf/bad-lengths.parquet", "1.1"); err == nil || !strings.Contains(err.Error(), "row 2 (0-based), question") || !strings.Contains(err.Error(), "2 texts but 1 answer_start") {
		t.Errorf("parquet with uneven answer lists: err %v", err)
	}
}

// Malformed JSON is an error naming the file, the article and the question id.
func TestLoadJSONErrors(t *testing.T) {
	dir := t.TempDir()
	wrap := func(qas string) string {
		return `{"version": "v2.0", "data": [{"title": "T", "paragraphs": [{"context": "Paris is in France", "qas": [` + qas + `]}]}]}`
	}
	ok := `{"id": "q0", "question": "?", "answers": [{"text": "Paris", "answer_start": 0}]}`
	cases := map[string]struct{ body, version, want string }{
		"not json":         {"hello", "", "neither SQuAD JSON"},
		"truncated":        {`{"version": "1.1", "data": [`, "", "not a SQuAD JSON object"},
		"no data":          {`{"version": "1.1"}`, "", `no "data" field`},
		"no version":       {`{"data": []}`, "", "give the SQuAD version"},
		"no questions":     {`{"version": "1.1", "data": []}`, "", "no questions"},
		"paragraphs":       {`{"version": "1.1", "data": [{"title": "T", "paragraphs": 3}]}`, "", `article 0 (0-based, "T"): "paragraphs": want an array, got a number`},
		"missing id":       {wrap(`{"question": "?", "answers": []}`), "", `paragraph 0, qas[0]: no "id" field`},
		"numeric id":       {wrap(`{"id": 7, "question": "?", "answers": []}`), "", `"id": want a string, got a number`},
		"no question":      {wrap(ok + `, {"id": "q1", "answers": []}`), "", `qas[1], question "q1": no "question" field`},
		"start string":     {wrap(`{"id": "q1", "question": "?", "answers": [{"text": "Paris", "answer_start": "0"}]}`), "", `question "q1": answers[0]: "answer_start": want an integer, got "0"`},
		"start outside":    {wrap(`{"id": "q1", "question": "?", "answers": [{"text": "France!", "answer_start": 12}]}`), "", `question "q1": answers[0]: answer_start 12 with 7 characters of text ends at 19, outside the 18-character context`},
		"negative start":   {wrap(`{"id": "q1", "question": "?", "answers": [{"text": "P", "answer_start": -1}]}`), "", `question "q1": answers[0]: answer_start -1`},
		"impossible+ans":   {wrap(`{"id": "q1", "question": "?", "is_impossible": true, "answers": [{"text": "Paris", "answer_start": 0}]}`), "", `question "q1": is_impossible is true but there are 1 answers`},
		"possible no ans":  {wrap(`{"id": "q1", "question": "?", "is_impossible": false, "answers": []}`), "", `question "q1": no answers but is_impossible is false`},
		"v1.1 no answers":  {wrap(`{"id": "q1", "question": "?", "answers": []}`), "1.1", `question "q1": no answers: SQuAD v1.1`},
		"duplicate id":     {wrap(ok + `, ` + ok), "", `qas[1], question "q0": id already used by article 0 (0-based, "T"), paragraph 0, qas[0]`},
		"impossible type":  {wrap(`{"id": "q1", "question": "?", "is_impossible": "yes", "answers": []}`), "", `question "q1": "is_impossible": want true or false, got "yes"`},
		"bad version flag": {wrap(ok), "3", `version "3", want 1.1 or 2.0`},
	}
	for name, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
		if err := os.WriteFile(p, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p, c.version)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to contain %q", name, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), p) && c.want != `version "3", want 1.1 or 2.0` {
			t.Errorf("%s: err %v does not name the file", name, err)
		}
	}
	// A v2.0 file without is_impossible takes it from the answers; a misaligned
	// answer is kept and counted.
	p := filepath.Join(dir, "lenient.json")
	os.WriteFile(p, []byte(wrap(ok+`, {"id": "q1", "question": "?", "answers": []}, {"id": "q2", "question": "?", "answers": [{"text": "Rome", "answer_start": 0}]}`)), 0o644)
	ds, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if !ds.Examples[1].IsImpossible || ds.Examples[0].IsImpossible || ds.Misaligned != 1 {
		t.Errorf("lenient file: %+v, misaligned %d", ds.Examples, ds.Misaligned)
	}
}

// answer_start counts code points: "é" is one character, two bytes.
func TestAnswerStartIsCharacters(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "u.json")
	os.WriteFile(p, []byte(`{"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": "Café ☕ Zürich", "qas": [{"id": "q", "question": "?", "answers": [{"text": "Zürich", "answer_start": 7}]}]}]}]}`), 0o644)
	ds, err := Load(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Misaligned != 0 || runeSlice(ds.Examples[0].Context, 7, 13) != "Zürich" {
		t.Errorf("misaligned %d, slice %q", ds.Misaligned, runeSlice(ds.Examples[0].Context, 7, 13))
	}
}
