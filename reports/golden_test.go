package reports

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// update rewrites the golden files: go test ./reports -run Golden -update. A change to a
// table then shows as a diff of testdata/golden/ to review and commit with the code.
var update = flag.Bool("update", false, "rewrite reports/testdata/golden/ from the current output")

// checkGolden compares got with testdata/golden/name, or writes it with -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./reports -update rewrites it; review the diff):\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

// suiteRecords is a fixed set of records from every suite, with the cases the tables
// must get right: GLUE pairs (MNLI m/mm, QQP and MRPC Acc/F1), an STS-B seed whose
// correlation is undefined (null), SQuAD v1.1 and v2.0 with counts and thresholds that
// are never scaled, vision accuracy, summarisation ROUGE, DreamBooth cosines, and
// parameter counts across the units (14.3K, 0.138M, 184M).
func suiteRecords() []Record {
	in := func(suite string, r Record, adapter int64) Record {
		r.Suite = suite
		r.Params = counts(adapter, 1538, 184_000_000)
		return r
	}
	glue := func(task, method string, seed int64, main string, v float64, extra map[string]float64, adapter int64) Record {
		return in("glue", rec(task, method, seed, main, v).with(extra), adapter)
	}
	vf, lora, full := int64(14_336), int64(138_240), int64(184_000_000)
	nan := math.NaN()
	v2 := func(method string, seed int64, em, f1 float64, adapter int64) Record {
		return in("squad", rec("squad_v2", method, seed, "f1", f1).with(map[string]float64{
			"exact": em, "total": 50, "HasAns_exact": em - 0.05, "HasAns_f1": f1 - 0.04, "HasAns_total": 21,
			"NoAns_exact": em + 0.04, "NoAns_f1": em + 0.04, "NoAns_total": 29,
			"best_exact": em + 0.02, "best_exact_thresh": -1.234, "best_f1": f1 + 0.02, "best_f1_thresh": -0.5,
		}), adapter)
	}
	return []Record{
		glue("mnli", "vectorfit", 1, "accuracy", 0.8512, map[string]float64{"accuracy_mm": 0.8601}, vf),
		glue("mnli", "vectorfit", 2, "accuracy", 0.8534, map[string]float64{"accuracy_mm": 0.8577}, vf),
		glue("mnli", "lora", 1, "accuracy", 0.8490, map[string]float64{"accuracy_mm": 0.8650}, lora),
		glue("qqp", "vectorfit", 1, "accuracy", 0.8890, map[string]float64{"f1": 0.8512}, vf),
		glue("qqp", "lora", 1, "accuracy", 0.8923, map[string]float64{"f1": 0.8577}, lora),
		glue("mrpc", "vectorfit", 1, "accuracy", 0.8750, map[string]float64{"f1": 0.9100}, vf),
		glue("mrpc", "lora", 1, "accuracy", 0.8750, map[string]float64{"f1": 0.9050}, lora),
		// Seed 2's correlation is undefined: the mean is seed 1's, shown (1/2).
		glue("stsb", "vectorfit", 1, "pearson", 0.8810, map[string]float64{"spearman": 0.8790}, vf),
		glue("stsb", "vectorfit", 2, "pearson", nan, map[string]float64{"spearman": nan}, vf),
		// Every LoRA seed undefined: n/a, and no Avg.
		glue("stsb", "lora", 1, "pearson", nan, map[string]float64{"spearman": nan}, lora),
		glue("cola", "vectorfit", 1, "mcc", 0.6012, nil, vf),
		glue("cola", "lora", 1, "mcc", 0.6240, nil, lora),
		glue("cola", "fullft", 1, "mcc", 0.6390, nil, full),
		in("squad", rec("squad", "vectorfit", 1, "f1", 0.8812).with(map[string]float64{"exact": 0.8050}), vf),
		in("squad", rec("squad", "lora", 1, "f1", 0.8790).with(map[string]float64{"exact": 0.8102}), lora),
		v2("vectorfit", 1, 0.7400, 0.7712, vf), v2("vectorfit", 2, 0.7600, 0.7790, vf),
		v2("lora", 1, 0.7300, 0.7650, lora),
		in("vision", rec("cifar10", "vectorfit", 1, "accuracy", 0.9812), vf),
		in("vision", rec("cifar10", "lora", 1, "accuracy", 0.9790), lora),
		in("vision", rec("mnist", "vectorfit", 1, "accuracy", 0.9950), vf),
		in("vision", rec("mnist", "lora", 1, "accuracy", 0.9962), lora),
		in("nlg", rec("xsum", "vectorfit", 1, "rouge2", 0.2051).with(map[string]float64{"rouge1": 0.4270, "rougeL": 0.3480, "rougeLsum": 0.3490}), vf),
		in("nlg", rec("xsum", "lora", 1, "rouge2", 0.2012).with(map[string]float64{"rouge1": 0.4301, "rougeL": 0.3455, "rougeLsum": 0.3460}), lora),
		in("diffusion", rec("dog", "vectorfit", 1, "dino", 0.6681).with(map[string]float64{"clip_i": 0.8030, "clip_t": 0.3051}), vf),
		in("diffusion", rec("dog", "lora", 1, "dino", 0.6550).with(map[string]float64{"clip_i": 0.8105, "clip_t": 0.3012}), lora),
	}
}

func TestGoldenSuites(t *testing.T) {
	for _, c := range []struct {
		name, format string
		o            Options
	}{
		{"suites.md", "md", Options{}},
		{"suites_detail_all.md", "md", Options{DetailAll: true}},
		{"suites.csv", "csv", Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := RenderWith(&b, suiteRecords(), c.format, c.o); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, c.name, b.String())
		})
	}
}
