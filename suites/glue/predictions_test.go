package glue

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPredictions(t *testing.T) {
	cases := []struct {
		name, task, content string
		want                map[int]float64
	}{
		{"class ids", "rte", `{"idx": 0, "prediction": 1}` + "\n" + `{"idx": 1, "prediction": 0}` + "\n", map[int]float64{0: 1, 1: 0}},
		{"class names", "mnli", `{"idx": 3, "prediction": "contradiction"}` + "\n" + `{"idx": 4, "prediction": "entailment"}`, map[int]float64{3: 2, 4: 0}},
		// "0"/"1" as in the CoLA/SST-2/MRPC/QQP TSV label column.
		{"tsv strings", "cola", `{"idx": 0, "prediction": "1"}` + "\n" + `{"idx": 1, "prediction": "0"}` + "\n", map[int]float64{0: 1, 1: 0}},
		// numpy floats often come out as 1.0; extra fields are ignored;
		// blank lines are skipped.
		{"integral float, extra fields, blank line", "sst2", `{"idx": 0, "prediction": 1.0, "logits": [0.1, 2.3]}` + "\n\n" + `{"idx": 1, "prediction": 0}` + "\n", map[int]float64{0: 1, 1: 0}},
		{"stsb scores", "stsb", `{"idx": 0, "prediction": 3.25}` + "\n" + `{"idx": 1, "prediction": 4}` + "\n" + `{"idx": 2, "prediction": "0.5"}` + "\n", map[int]float64{0: 3.25, 1: 4, 2: 0.5}},
		{"empty file", "rte", "", map[int]float64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "preds.jsonl", c.content)
			got, err := ReadPredictions(mustTask(t, c.task), path)
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

// TestReadPredictionsErrors: every error names the file and the line.
func TestReadPredictionsErrors(t *testing.T) {
	ok := `{"idx": 0, "prediction": 1}` + "\n"
	cases := []struct {
		name, task, bad string
		column, msg     string
	}{
		{"duplicate idx", "rte", `{"idx": 0, "prediction": 0}`, "idx", "duplicate idx 0 (first at line 1)"},
		{"missing idx", "rte", `{"prediction": 0}`, "idx", "missing"},
		{"negative idx", "rte", `{"idx": -3, "prediction": 0}`, "idx", "want a non-negative integer, got -3"},
		{"fractional idx", "rte", `{"idx": 1.5, "prediction": 0}`, "idx", "got 1.5"},
		{"string idx", "rte", `{"idx": "1", "prediction": 0}`, "idx", "got a string"},
		{"missing prediction", "rte", `{"idx": 1}`, "prediction", "missing"},
		{"class out of range", "rte", `{"idx": 1, "prediction": 2}`, "prediction", `want a class id 0..1 or one of "entailment", "not_entailment", got 2`},
		{"unknown name", "mnli", `{"idx": 1, "prediction": "contradicts"}`, "prediction", `got "contradicts"`},
		{"fractional class", "rte", `{"idx": 1, "prediction": 0.7}`, "prediction", "got 0.7"},
		{"stsb not a number", "stsb", `{"idx": 1, "prediction": "high"}`, "prediction", `want a finite number, got "high"`},
		{"stsb null", "stsb", `{"idx": 1, "prediction": null}`, "prediction", "got null"},
		{"bad json", "rte", `{"idx": 1, "prediction": }`, "", "want a JSON object"},
		{"two objects on a line", "rte", `{"idx": 1, "prediction": 0} {"idx": 2, "prediction": 0}`, "", "more than one JSON value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			content := ok
			if c.task == "stsb" {
				content = `{"idx": 0, "prediction": 1.5}` + "\n"
			}
			path := writeFile(t, t.TempDir(), "preds.jsonl", content+c.bad+"\n")
			_, err := ReadPredictions(mustTask(t, c.task), path)
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line != 2 || pe.Column != c.column || !strings.Contains(err.Error(), path+":2") || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v; want %s:2 column %q containing %q", err, path, c.column, c.msg)
			}
		})
	}
	if _, err := ReadPredictions(mustTask(t, "rte"), filepath.Join(t.TempDir(), "none.jsonl")); err == nil {
		t.Error("missing file: no error")
	}
}

// predictionLines renders predictions for the given dev examples; value
// maps an example to its JSON prediction.
func predictionLines(exs []Example, value func(Example) string) string {
	var b strings.Builder
	for _, ex := range exs {
		fmt.Fprintf(&b, "{\"idx\": %d, \"prediction\": %s}\n", ex.Idx, value(ex))
	}
	return b.String()
}

// TestScoreFileRealDev scores prediction files against real dev splits,
// with expected values computed from the label counts seen in the files.
func TestScoreFileRealDev(t *testing.T) {
	requireShared(t)
	cases := []struct {
		task  string
		value func(Task, Example) string
		want  map[string]float64
	}{
		// Gold labels written as class names: perfect.
		{"rte", func(task Task, ex Example) string { return `"` + task.Labels[ex.Label] + `"` }, map[string]float64{"accuracy": 1}},
		// Always "entailment": RTE dev half has 74 entailment of 139.
		{"rte", func(Task, Example) string { return `"entailment"` }, map[string]float64{"accuracy": 74.0 / 139}},
		// Always "equivalent" on the MRPC dev half (140 positive, 64
		// negative): accuracy 140/204, F1 = 2·140 / (2·140 + 64 + 0).
		{"mrpc", func(Task, Example) string { return "1" }, map[string]float64{"accuracy": 140.0 / 204, "f1": 280.0 / 344}},
		// Always "acceptable" on CoLA: one class never predicted, MCC 0.
		{"cola", func(Task, Example) string { return "1" }, map[string]float64{"mcc": 0}},
		// Gold scores back: Pearson and Spearman 1.
		{"stsb", func(_ Task, ex Example) string { return fmt.Sprint(ex.Score) }, map[string]float64{"pearson": 1, "spearman": 1}},
	}
	for _, c := range cases {
		t.Run(c.task, func(t *testing.T) {
			task := mustTask(t, c.task)
			_, dev, err := Load(task, sharedGLUE, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			path := writeFile(t, t.TempDir(), "preds.jsonl", predictionLines(dev[0].Examples, func(ex Example) string { return c.value(task, ex) }))
			got, err := ScoreFile(task, dev[0], path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if math.Abs(got[k]-v) > 1e-12 {
					t.Errorf("%s = %.15f, want %.15f", k, got[k], v)
				}
			}
		})
	}
}

func TestScoreFileAlignment(t *testing.T) {
	requireShared(t)
	task := mustTask(t, "mnli")
	_, dev, err := Load(task, sharedGLUE, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	matched := dev[0]
	all := func(Example) string { return "0" }

	// Predictions for a 10-example split scored against the 2-example
	// matched dev file: the extra idx 2..9 point to a split mix-up.
	big := make([]Example, 10)
	for i := range big {
		big[i].Idx = i
	}
	path := writeFile(t, t.TempDir(), "preds.jsonl", predictionLines(big, all))
	if _, err := ScoreFile(task, matched, path); err == nil || !strings.Contains(err.Error(), "8 predictions have an idx that the validation_matched split (2 examples") || !strings.Contains(err.Error(), "first: 2, 3, 4, 5, 6, ...") {
		t.Errorf("extra predictions: %v", err)
	}

	// Missing predictions: a synthetic 20-example split with predictions
	// for the first 3 only lists how many are missing and the first few.
	sp := Split{Name: SplitValidationMatched, Path: "synthetic", Examples: make([]Example, 20)}
	for i := range sp.Examples {
		sp.Examples[i] = Example{Idx: i, HasLabel: true}
	}
	path = writeFile(t, t.TempDir(), "preds.jsonl", predictionLines(sp.Examples[:3], all))
	_, err = ScoreFile(task, sp, path)
	if err == nil || !strings.Contains(err.Error(), "17 of the 20 validation_matched examples have no prediction (first idx: 3, 4, 5, 6, 7, ...)") {
		t.Errorf("missing predictions: %v", err)
	}

	// Exactly the split's idx: scores (gold: neutral, contradiction).
	path = writeFile(t, t.TempDir(), "preds.jsonl", `{"idx": 1, "prediction": "contradiction"}`+"\n"+`{"idx": 0, "prediction": "entailment"}`+"\n")
	got, err := ScoreFile(task, matched, path)
	if err != nil || got["accuracy"] != 0.5 {
		t.Errorf("got %v, %v; want accuracy 0.5", got, err)
	}
}
