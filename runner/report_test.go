package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vectorfit/harness/reports"
)

// twoLearningRates writes what two runners sharing -out leave behind: VectorFit on RTE,
// seeds 1 and 2 at lr 1e-3 (80, 84) and seed 3 at lr 0.03 (60).
func twoLearningRates(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, r := range []struct {
		seed int64
		lr   float64
		acc  float64
	}{{1, 1e-3, 0.80}, {2, 1e-3, 0.84}, {3, 0.03, 0.60}} {
		rec := reports.Record{
			Schema: reports.SchemaVersion, Suite: "glue", Task: "rte", Method: "vectorfit", Seed: r.seed,
			Hyperparameters: map[string]any{"lr": r.lr, "batch": 32},
			Scores:          map[string]float64{"accuracy": r.acc}, MainScore: "accuracy",
			Model: reports.Model{Name: "bert-base-uncased", WeightsSHA256: "beef"},
			Code:  reports.Code{Version: "ab78186"}, SettingsHash: "h" + string(rune('0'+r.seed)),
			Status: reports.StatusFinished,
		}
		if _, err := reports.Write(dir, rec); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReportGrouping(t *testing.T) {
	dir := twoLearningRates(t)
	for _, c := range []struct {
		name    string
		args    []string
		wantErr string   // the whole message, or "" for success
		wantOut []string // lines the output holds
	}{
		{
			name: "refuses by default, naming the difference and the way out",
			args: []string{"-in", dir},
			wantErr: "reports: 1 cell would average records that differ in more than their seed:\n" +
				"  glue/rte vectorfit: seeds differ in hyperparameter lr (seeds 1, 2: lr=0.001; seed 3: lr=0.03)\n" +
				"rerun with -split to show each group as its own row, or with -mix to average them anyway (noted under the table)",
		},
		{
			// 80, 84, 60: mean 74.67; squared deviations 28.44 + 87.11 + 215.11 = 330.67,
			// /2 = 165.33, sqrt = 12.86.
			name: "-mix averages and notes it",
			args: []string{"-in", dir, "-mix"},
			wantOut: []string{
				"| VectorFit | 0 (0.00%) | 74.67 ± 12.86 ‡ | 74.67 |",
				"- ‡ RTE · VectorFit averages seeds that differ in hyperparameter lr (seeds 1, 2: lr=0.001; seed 3: lr=0.03).",
			},
		},
		{
			name: "-split shows the groups apart",
			args: []string{"-in", dir, "-split"},
			wantOut: []string{
				"| VectorFit [lr=0.001] | 0 (0.00%) | **82.00** ± 2.83 | **82.00** |",
				"| VectorFit [lr=0.03]  | 0 (0.00%) |            60.00 |     60.00 |",
			},
		},
		{
			name:    "-detail takes main or all",
			args:    []string{"-in", dir, "-detail", "some"},
			wantErr: `report: -detail "some", want main or all`,
		},
		{
			name:    "csv lists the records with their settings",
			args:    []string{"-in", dir, "-format", "csv"},
			wantOut: []string{"glue,rte,vectorfit,3,accuracy,0.6,finished,,,0.6,0,0,0,0,0,0,0,0,0,0,0,0,,ab78186,h3,bert-base-uncased,,beef,32,0.03,,"},
		},
		{
			name:    "-mix with -split",
			args:    []string{"-in", dir, "-mix", "-split"},
			wantErr: "report: -mix and -split exclude each other: -mix averages records that differ into one cell, -split shows them as separate rows",
		},
		{
			name:    "a folder as an argument",
			args:    []string{dir},
			wantErr: `report: unexpected argument "` + dir + `" (the folder goes in -in)`,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := reportCmd(c.args, &out, &errOut)
			switch {
			case c.wantErr != "" && (err == nil || err.Error() != c.wantErr):
				t.Fatalf("report %q: %v\nwant\n%s", c.args, err, c.wantErr)
			case c.wantErr == "" && err != nil:
				t.Fatalf("report %q: %v", c.args, err)
			}
			for _, line := range c.wantOut {
				if !strings.Contains(out.String(), line+"\n") {
					t.Errorf("output lacks %q:\n%s", line, out.String())
				}
			}
		})
	}
}
