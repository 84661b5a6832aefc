package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/reports"
)

// run is one hand-made record: a glue task's accuracy for a method and seed.
type handRun struct {
	task, method string
	seed         int64
	acc          float64
	adapter      int64
}

func writeRuns(t *testing.T, runs ...handRun) string {
	t.Helper()
	dir := t.TempDir()
	for _, r := range runs {
		rec := reports.Record{
			Schema: reports.SchemaVersion, Suite: "glue", Task: r.task, Method: r.method, Seed: r.seed,
			Hyperparameters: map[string]any{"lr": 1e-3},
			Scores:          map[string]float64{"accuracy": r.acc}, MainScore: "accuracy",
			Params: methods.Counts{Adapter: r.adapter, Head: 10, Total: r.adapter + 10, Base: 1000},
			Model:  reports.Model{Name: "tiny", WeightsSHA256: "beef"},
			Code:   reports.Code{Version: "ab78186"}, Status: reports.StatusFinished,
		}
		if _, err := reports.Write(dir, rec); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The baseline: SST-2 VectorFit seeds 1-3 (80, 82, 84: mean 82, std 2, so ±6 points at
// K = 3) and RTE LoRA one seed (70: ±1 point).
func baselineRuns() []handRun {
	return []handRun{
		{"sst2", "vectorfit", 1, 0.80, 100}, {"sst2", "vectorfit", 2, 0.82, 100}, {"sst2", "vectorfit", 3, 0.84, 100},
		{"rte", "lora", 1, 0.70, 200},
	}
}

func TestCompareCommand(t *testing.T) {
	base := writeRuns(t, baselineRuns()...)
	cases := []struct {
		name    string
		runs    []handRun
		args    []string
		status  int
		wantOut []string
		wantErr string
	}{
		{"unchanged", baselineRuns(), nil, 0,
			[]string{"compare: OK: 2 baseline groups within tolerance"}, ""},
		{"std rule: −3 points is within 3 std", []handRun{
			{"sst2", "vectorfit", 1, 0.77, 100}, {"sst2", "vectorfit", 2, 0.79, 100}, {"sst2", "vectorfit", 3, 0.81, 100},
			{"rte", "lora", 1, 0.70, 200}}, nil, 0,
			[]string{"|   | glue/sst2 | vectorfit |          | accuracy (main) |   3/3 | 82.00 ± 2.00 | 79.00 | -3.00 | ±6.00 (3 std) | ok      |"}, ""},
		{"std rule: −7 points moved", []handRun{
			{"sst2", "vectorfit", 1, 0.74, 100}, {"sst2", "vectorfit", 2, 0.75, 100}, {"sst2", "vectorfit", 3, 0.76, 100},
			{"rte", "lora", 1, 0.70, 200}}, nil, 1,
			[]string{"| ✗ | glue/sst2 | vectorfit |          | accuracy (main) |   3/3 | 82.00 ± 2.00 | 75.00 | -7.00 | ±6.00 (3 std) | moved   |"},
			"compare: FAIL: 1 of 2 baseline groups failing (1 score moved)"},
		{"-tolerance-std 4 lets −7 points pass", []handRun{
			{"sst2", "vectorfit", 1, 0.74, 100}, {"sst2", "vectorfit", 2, 0.75, 100}, {"sst2", "vectorfit", 3, 0.76, 100},
			{"rte", "lora", 1, 0.70, 200}}, []string{"-tolerance-std", "4"}, 0, nil, ""},
		{"points rule: −1.5 points moved", append(baselineRuns()[:3], handRun{"rte", "lora", 1, 0.685, 200}), nil, 1,
			[]string{"±1.00 (1 pt) | moved"}, "compare: FAIL: 1 of 2 baseline groups failing (1 score moved)"},
		{"-tolerance-points 2 lets it pass", append(baselineRuns()[:3], handRun{"rte", "lora", 1, 0.685, 200}),
			[]string{"-tolerance-points", "2"}, 0, nil, ""},
		{"parameter count changed", append(baselineRuns()[:3], handRun{"rte", "lora", 1, 0.70, 300}), nil, 1,
			[]string{"| ✗ | glue/rte  | lora      |          | # params        |   1/1 |          210 |   310 |  +100 |         equal | params changed |"},
			"compare: FAIL: 1 of 2 baseline groups failing (1 parameter count changed)"},
		{"missing run, new run", append(baselineRuns()[:3], handRun{"mrpc", "lora", 1, 0.70, 200}), nil, 1,
			[]string{"| ✗ | glue/rte  | lora      |          | # params        |   0/1 |          210 |     – |     – |         equal | missing |",
				"|   | glue/mrpc | lora      |          | # params        |   1/0 |            – |   210 |     – |         equal | new     |"},
			"compare: FAIL: 1 of 2 baseline groups failing (1 group missing); 1 new group (not a failure)"},
		{"a missing seed", append(baselineRuns()[:2], baselineRuns()[3]), nil, 1,
			[]string{"- ✗ glue/sst2 vectorfit: seed 3 missing"}, "compare: FAIL: 1 of 2 baseline groups failing (1 seed missing)"},
		{"a new run alone is no failure", append(baselineRuns(), handRun{"qnli", "vectorfit", 1, 0.9, 100}), nil, 0,
			[]string{"compare: OK: 2 baseline groups within tolerance; 1 new group (not a failure)"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := writeRuns(t, c.runs...)
			var out, errOut bytes.Buffer
			err := run(append([]string{"compare", "-baseline", base, "-in", in}, c.args...), &out, &errOut)
			status := 0
			if err != nil {
				status = exitStatus(err)
			}
			if status != c.status {
				t.Fatalf("exit status %d (err %v), want %d\n%s", status, err, c.status, out.String())
			}
			if c.wantErr != "" && (err == nil || err.Error() != c.wantErr) {
				t.Errorf("error %v, want %q", err, c.wantErr)
			}
			for _, w := range c.wantOut {
				if !strings.Contains(squeeze(out.String()), squeeze(w)) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestCompareCommandJSON(t *testing.T) {
	base := writeRuns(t, baselineRuns()...)
	in := writeRuns(t, append(baselineRuns()[:3], handRun{"rte", "lora", 1, 0.685, 200})...)
	var out bytes.Buffer
	err := run([]string{"compare", "-baseline", base, "-in", in, "-format", "json"}, &out, &bytes.Buffer{})
	if exitStatus(err) != 1 {
		t.Fatalf("err %v, want exit 1", err)
	}
	var c reports.Comparison
	if err := json.Unmarshal(out.Bytes(), &c); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	rte := c.Cells[1]
	if c.OK || rte.Task != "rte" || *rte.Scores[0].New != 0.685 || *rte.Scores[0].Baseline != 0.70 || !rte.Scores[0].Moved {
		t.Errorf("json: %+v", c)
	}
}

// Bad input exits 2 with a message naming the flag or folder.
func TestCompareCommandBadInput(t *testing.T) {
	base := writeRuns(t, baselineRuns()...)
	empty := t.TempDir()
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "x.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-in", base}, "compare needs -baseline DIR and -in DIR"},
		{[]string{"-baseline", base, "-in", base, "-format", "csv"}, `compare -format "csv": want md or json`},
		{[]string{"-baseline", base, "-in", base, "extra"}, `compare: unexpected argument "extra" (folders go in -baseline and -in)`},
		{[]string{"-baseline", empty, "-in", base}, "compare -baseline: reports: no records (*.json) in " + empty},
		{[]string{"-baseline", base, "-in", broken}, "compare -in: reports: malformed record " + filepath.Join(broken, "x.json")},
		{[]string{"-baseline", base, "-in", base, "-tolerance-std", "-1"}, "compare: reports: compare tolerance std multiple is -1, want a finite number ≥ 0"},
	} {
		err := run(append([]string{"compare"}, c.args...), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || exitStatus(err) != 2 {
			t.Errorf("%v: err %v (exit %d), want %q, exit 2", c.args, err, exitStatus(err), c.want)
		}
	}
}

// squeeze collapses runs of spaces, so that expected rows need not repeat the table's
// padding (which depends on the widest cell of each column).
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
