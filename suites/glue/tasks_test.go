package glue

import (
	"slices"
	"strings"
	"testing"
)

func TestNamesCanonicalOrder(t *testing.T) {
	want := []string{"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
}

// TestTaskDefinitions pins folder names, pair-ness, label order (Hugging
// Face's ids: a different order would silently swap classes), metrics and
// dev splits of every task.
func TestTaskDefinitions(t *testing.T) {
	cases := []struct {
		name, folder string
		pair         bool
		numLabels    int
		labels       []string
		metrics      []string
		main         string
		dev          []string
	}{
		{"cola", "CoLA", false, 2, []string{"unacceptable", "acceptable"}, []string{"mcc"}, "mcc", []string{"validation"}},
		{"sst2", "SST-2", false, 2, []string{"negative", "positive"}, []string{"accuracy"}, "accuracy", []string{"validation"}},
		{"mrpc", "MRPC", true, 2, []string{"not_equivalent", "equivalent"}, []string{"accuracy", "f1"}, "accuracy", []string{"validation"}},
		{"qqp", "QQP", true, 2, []string{"not_duplicate", "duplicate"}, []string{"accuracy", "f1"}, "accuracy", []string{"validation"}},
		{"stsb", "STS-B", true, 1, nil, []string{"pearson", "spearman"}, "pearson", []string{"validation"}},
		{"mnli", "MNLI", true, 3, []string{"entailment", "neutral", "contradiction"}, []string{"accuracy"}, "accuracy", []string{"validation_matched", "validation_mismatched"}},
		{"qnli", "QNLI", true, 2, []string{"entailment", "not_entailment"}, []string{"accuracy"}, "accuracy", []string{"validation"}},
		{"rte", "RTE", true, 2, []string{"entailment", "not_entailment"}, []string{"accuracy"}, "accuracy", []string{"validation"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task, err := Lookup(c.name)
			if err != nil {
				t.Fatal(err)
			}
			if task.Name != c.name || task.Folder != c.folder || task.Pair != c.pair || task.NumLabels != c.numLabels || task.Main != c.main {
				t.Errorf("got %+v", task)
			}
			if !slices.Equal(task.Labels, c.labels) || !slices.Equal(task.Metrics, c.metrics) || !slices.Equal(task.DevSplits, c.dev) {
				t.Errorf("labels %v metrics %v dev %v; want %v %v %v", task.Labels, task.Metrics, task.DevSplits, c.labels, c.metrics, c.dev)
			}
			if !slices.Contains(task.Metrics, task.Main) {
				t.Errorf("main metric %q not among %v", task.Main, task.Metrics)
			}
			if task.IsRegression() != (c.name == "stsb") {
				t.Errorf("IsRegression = %v", task.IsRegression())
			}
		})
	}
}

// TestProtocolMatchesSpec copies SPEC §4's table row by row.
func TestProtocolMatchesSpec(t *testing.T) {
	want := map[string]Protocol{
		"cola": {64, 32, 25, 8e-4, 100, 0.10, 0},
		"sst2": {128, 32, 24, 8e-4, 1000, 0, 0.01},
		"mrpc": {320, 32, 30, 1e-3, 0, 0, 0.01},
		"qqp":  {320, 32, 5, 8e-4, 2000, 0.15, 0.01},
		"stsb": {128, 32, 25, 2.2e-3, 100, 0.2, 0.1},
		"mnli": {256, 32, 7, 5e-4, 1000, 0.15, 0},
		"qnli": {512, 32, 5, 5e-4, 500, 0.1, 0.01},
		"rte":  {320, 32, 50, 1.2e-3, 200, 0.20, 0.01},
	}
	for _, name := range Names() {
		task, _ := Lookup(name)
		if task.Protocol != want[name] {
			t.Errorf("%s: protocol %+v, want %+v", name, task.Protocol, want[name])
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	cases := []struct{ name, wantInErr string }{
		{"wnli", "valid: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte"},
		{"", "valid: cola"},
		// GLUE folder spellings point to the config name.
		{"SST-2", `did you mean "sst2"`},
		{"RTE", `did you mean "rte"`},
	}
	for _, c := range cases {
		_, err := Lookup(c.name)
		if err == nil || !strings.Contains(err.Error(), c.wantInErr) {
			t.Errorf("Lookup(%q) error = %v, want it to contain %q", c.name, err, c.wantInErr)
		}
	}
}

// TestLookupReturnsCopy: a caller editing its Task must not change what
// the next caller gets.
func TestLookupReturnsCopy(t *testing.T) {
	a, _ := Lookup("mnli")
	a.Labels[0] = "changed"
	a.DevSplits[0] = "changed"
	b, _ := Lookup("mnli")
	if b.Labels[0] != "entailment" || b.DevSplits[0] != "validation_matched" {
		t.Fatalf("registry was modified through a looked-up Task: %+v", b)
	}
}

func TestLabelID(t *testing.T) {
	rte, _ := Lookup("rte")
	cola, _ := Lookup("cola")
	stsb, _ := Lookup("stsb")
	cases := []struct {
		task   Task
		in     string
		want   int
		wantOK bool
	}{
		{rte, "entailment", 0, true},
		{rte, "not_entailment", 1, true},
		{rte, "1", 1, true},
		{rte, "2", 0, false},
		{rte, "Entailment", 0, false}, // case matters: labels are exact vocabulary
		{cola, "acceptable", 1, true},
		{cola, "0", 0, true},
		{cola, "01", 0, false}, // not the canonical spelling of an id
		{cola, "-1", 0, false},
		{stsb, "0", 0, false}, // regression has no class ids
	}
	for _, c := range cases {
		got, ok := c.task.LabelID(c.in)
		if got != c.want || ok != c.wantOK {
			t.Errorf("%s.LabelID(%q) = %d, %v; want %d, %v", c.task.Name, c.in, got, ok, c.want, c.wantOK)
		}
	}
}
