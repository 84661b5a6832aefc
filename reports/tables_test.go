package reports

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
)

func TestMeanStdText(t *testing.T) {
	for _, c := range []struct {
		name string
		xs   []float64
		want string
	}{
		// mean 82, deviations ±2: sqrt((4+4)/(2-1)) = 2.828...
		{"two seeds", []float64{80, 84}, "82.00 ± 2.83"},
		// mean 72, deviations -2, 0, 2: sqrt(8/2) = 2
		{"three seeds", []float64{70, 72, 74}, "72.00 ± 2.00"},
		{"one seed shows no spread", []float64{80.123}, "80.12"},
		{"none", nil, "–"},
		{"equal seeds", []float64{50, 50}, "50.00 ± 0.00"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := meanStdText(c.xs); got != c.want {
				t.Errorf("meanStdText(%v) = %q, want %q", c.xs, got, c.want)
			}
		})
	}
}

// paperRows renders the paper table of rs as cells.
func paperRows(t *testing.T, rs []Record) table {
	t.Helper()
	g, err := newGrid(rs, Refuse)
	if err != nil {
		t.Fatal(err)
	}
	return paperTable(g)
}

func TestPaperTable(t *testing.T) {
	for _, c := range []struct {
		name   string
		rs     []Record
		header []string
		rows   [][]string
	}{
		{
			name: "scores ×100 as mean ± std, Avg over complete rows only",
			rs: []Record{
				rec("rte", "vectorfit", 1, "accuracy", 0.80), rec("rte", "vectorfit", 2, "accuracy", 0.84),
				rec("cola", "vectorfit", 1, "matthews", 0.60),
				rec("rte", "lora", 1, "accuracy", 0.70),
			},
			header: []string{"Method", "# Params", "CoLA matthews", "RTE Acc", "Avg."},
			rows: [][]string{
				{"VectorFit", "0 (0.00%)", "60.00", "82.00 ± 2.83", "71.00"},
				{"LoRA", "0 (0.00%)", "–", "70.00", "–"},
			},
		},
		{
			name: "GLUE order, then other tasks alphabetically; paper methods first, then alphabetically",
			rs: []Record{
				rec("wnli", "bitfit", 1, "accuracy", 0.5), rec("boolq", "lora", 1, "accuracy", 0.5),
				rec("rte", "fullft", 1, "accuracy", 0.5), rec("SST-2", "adapter", 1, "accuracy", 0.5),
				rec("mnli", "vectorfit", 1, "matched", 0.5), rec("cola", "lora", 1, "matthews", 0.5),
			},
			header: []string{"Method", "# Params", "CoLA matthews", "SST-2 Acc", "MNLI matched", "RTE Acc", "boolq Acc", "WNLI Acc", "Avg."},
			rows: [][]string{
				{"VectorFit", "0 (0.00%)", "–", "–", "50.00", "–", "–", "–", "–"},
				{"LoRA", "0 (0.00%)", "50.00", "–", "–", "–", "50.00", "–", "–"},
				{"Full FT", "0 (0.00%)", "–", "–", "–", "50.00", "–", "–", "–"},
				{"BitFit", "0 (0.00%)", "–", "–", "–", "–", "–", "50.00", "–"},
				{"adapter", "0 (0.00%)", "–", "50.00", "–", "–", "–", "–", "–"},
			},
		},
		{
			name: "the paper's pairs; Avg. of the main scores (MNLI matched, MRPC accuracy, STS-B Pearson)",
			rs: []Record{
				rec("mrpc", "lora", 1, "accuracy", 0.88).with(map[string]float64{"f1": 0.91}),
				rec("stsb", "lora", 1, "pearson", 0.90).with(map[string]float64{"spearman": 0.89}),
				rec("mnli", "lora", 1, "accuracy", 0.80).with(map[string]float64{"accuracy_mm": 0.86}),
			},
			header: []string{"Method", "# Params", "MRPC Acc/F1", "STS-B Corr", "MNLI m/mm", "Avg."},
			// (88 + 90 + 80) / 3 = 86; mm (86) and F1 (91) are not averaged.
			rows: [][]string{{"LoRA", "0 (0.00%)", "88.00/91.00", "90.00", "80.00/86.00", "86.00"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := paperRows(t, c.rs)
			got.rows = unbold(got.rows)
			if !slices.Equal(got.header, c.header) {
				t.Errorf("header %q, want %q", got.header, c.header)
			}
			if !slices.EqualFunc(got.rows, c.rows, slices.Equal) {
				t.Errorf("rows\n%q\nwant\n%q", got.rows, c.rows)
			}
		})
	}
}

func TestPaperTableSeveralSuitesLabelTheirTasks(t *testing.T) {
	a := rec("rte", "lora", 1, "accuracy", 0.5)
	b := rec("rte", "lora", 1, "accuracy", 0.6)
	b.Suite = "superglue"
	g, err := newGrid([]Record{b, a}, Refuse)
	if err != nil {
		t.Fatal(err)
	}
	tables := paperTables(g)
	if len(tables) != 2 || tables[0].title != "Results: glue" || tables[1].title != "Results: superglue" {
		t.Fatalf("want one table per suite, got %d", len(tables))
	}
	if got, want := tables[1].header, []string{"Method", "# Params", "RTE accuracy", "Avg."}; !slices.Equal(got, want) {
		t.Errorf("header %q, want %q", got, want)
	}
}

func TestParamsText(t *testing.T) {
	withParams := func(c methods.Counts) Record {
		r := rec("rte", "lora", 1, "accuracy", 0.5)
		r.Params = c
		return r
	}
	for _, c := range []struct {
		name string
		rs   []Record
		want string
	}{
		{"paper style", []Record{withParams(counts(147456, 1538, 108891648))}, "0.147M (0.14%)"},
		{"full fine-tuning", []Record{withParams(counts(124645632, 1538, 124645632))}, "125M (100.00%)"},
		{"tiny adapter", []Record{withParams(counts(2304, 1538, 108891648))}, "2.30K (0.0021%)"},
		{"tens of millions", []Record{withParams(counts(14_200_000, 0, 108891648))}, "14.2M (13.04%)"},
		{"billions", []Record{withParams(counts(7_000_000_000, 0, 7_000_000_000))}, "7.00B (100.00%)"},
		{"a few", []Record{withParams(counts(768, 0, 108891648))}, "768 (0.0007%)"},
		{"seeds disagree: a range", []Record{
			withParams(counts(140000, 0, 100_000_000)), withParams(counts(150000, 0, 100_000_000)),
		}, "0.140M–0.150M (0.14%–0.15%)"},
		// 3 significant digits in the paper's units, as the brief's examples.
		{"14,336", []Record{withParams(counts(14_336, 0, 108891648))}, "14.3K (0.01%)"},
		{"138,240", []Record{withParams(counts(138_240, 0, 108891648))}, "0.138M (0.13%)"},
		{"1.33M", []Record{withParams(counts(1_330_000, 0, 108891648))}, "1.33M (1.22%)"},
		{"184M", []Record{withParams(counts(184_423_682, 0, 184_423_682))}, "184M (100.00%)"},
		{"rounding carries a digit", []Record{withParams(counts(99_999, 0, 108891648))}, "0.100M (0.09%)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := paramsText(c.rs); got != c.want {
				t.Errorf("paramsText = %q, want %q", got, c.want)
			}
		})
	}
}

func TestDetailTable(t *testing.T) {
	vf1 := rec("rte", "vectorfit", 1, "accuracy", 0.80).with(map[string]float64{"f1": 0.70})
	vf2 := rec("rte", "vectorfit", 2, "accuracy", 0.84)
	for i, r := range []*Record{&vf1, &vf2} {
		r.Params = counts(147456, 1538, 108891648)
		r.Timing = Timing{SetupSeconds: 3, TrainSeconds: float64(100 + 20*i), EvalSeconds: 2, StepSeconds: 0.1 + 0.02*float64(i), Steps: 1000}
		r.PeakRSSBytes = int64(1000+24*i) << 20
		r.Ranks = []methods.RankSummary{summary(models.Query, 768, 768, 700), summary(models.FFNDown, 760+2*i, 768, 600)}
	}
	lora := rec("rte", "lora", 1, "accuracy", 0.7)
	g, err := newGrid([]Record{lora, vf2, vf1}, Refuse)
	if err != nil {
		t.Fatal(err)
	}
	got := detailTable(g).rows
	want := [][]string{
		{"RTE", "VectorFit", "2", "Acc 82.00", "0.147M", "1.54K", "0.14%",
			"3.0", "110.0", "110.0", "2.0", "1024", "query 768 (1.00) · ffn_down 761 (0.99)", "query 700 · ffn_down 600"},
		{"RTE", "LoRA", "1", "Acc 70.00", "0", "0", "0.00%",
			"0.0", "0.0", "0.0", "0.0", "–", "–", "–"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("rows\n%q\nwant\n%q", got, want)
	}
}

func TestRankTextSaysAllOnceWhenTypesAgree(t *testing.T) {
	r := rec("rte", "fullft", 1, "accuracy", 0.5)
	for _, lt := range models.LayerTypes {
		r.Ranks = append(r.Ranks, summary(lt, 768, 768, 700))
	}
	got := rankText([]Record{r}, func(s methods.RankSummary) string { return trimFloat(s.Mean) })
	if got != "all 768" {
		t.Errorf("rankText = %q, want %q", got, "all 768")
	}
}

func TestGridRejects(t *testing.T) {
	noMain := rec("rte", "lora", 1, "accuracy", 0.5)
	noMain.MainScore = "f1"
	for _, c := range []struct {
		name, want string
		rs         []Record
	}{
		{"a seed twice", "appears twice", []Record{rec("rte", "lora", 1, "accuracy", 0.5), rec("rte", "lora", 1, "accuracy", 0.6)}},
		{"main scores mixed within a task", `glue/mrpc mixes main scores "f1" and "accuracy"`,
			[]Record{rec("mrpc", "lora", 1, "accuracy", 0.5), rec("mrpc", "vectorfit", 1, "f1", 0.6)}},
		{"main score not among the scores", `main_score "f1" is not among the scores [accuracy]`, []Record{noMain}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := newGrid(c.rs, Refuse)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("newGrid: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// Undefined scores (NaN) are left out of the mean, counted "(k/n)", n/a when no seed has
// one, never bold, and keep Avg. from being computed; the best defined mean per column
// and metric is bold, ties at the shown precision both.
func TestPaperTableUndefinedAndBest(t *testing.T) {
	nan := math.NaN()
	rs := []Record{
		// VectorFit STS-B: seeds 0.80 and 0.90 defined, one undefined: 85.00 ± 7.07 (2/3).
		rec("stsb", "vectorfit", 1, "pearson", 0.80), rec("stsb", "vectorfit", 2, "pearson", 0.90),
		rec("stsb", "vectorfit", 3, "pearson", nan),
		rec("stsb", "lora", 1, "pearson", nan), rec("stsb", "fullft", 1, "pearson", 0.70),
		// RTE: LoRA and full FT tie at 70.00 (0.70004 and 0.69996 round alike).
		rec("rte", "vectorfit", 1, "accuracy", 0.60), rec("rte", "lora", 1, "accuracy", 0.70004),
		rec("rte", "fullft", 1, "accuracy", 0.69996),
	}
	got := paperRows(t, rs).rows
	want := [][]string{
		// Avg. (85 + 60) / 2 = 72.50; full FT (70 + 70) / 2 = 70.00.
		{"VectorFit", "0 (0.00%)", "**85.00** ± 7.07 (2/3)", "60.00", "**72.50**"},
		{"LoRA", "0 (0.00%)", "n/a", "**70.00**", "n/a"},
		{"Full FT", "0 (0.00%)", "70.00", "**70.00**", "70.00"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("rows\n%q\nwant\n%q", got, want)
	}
}

// Counts and thresholds are never scaled; percentages are ×100; cosines as they are.
func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		suite, key string
		v          float64
		want       string
	}{
		{"squad", "HasAns_total", 21, "21"},
		{"squad", "total", 50, "50"},
		{"squad", "best_f1_thresh", -1.2345, "-1.234"},
		{"squad", "f1", 0.8812, "88.12"},
		{"glue", "accuracy_mm", 0.86, "86.00"},
		{"diffusion", "dino", 0.6681, "0.668"},
		{"nlg", "rougeLsum", 0.349, "34.90"},
		{"glue", "pearson", math.NaN(), "n/a"},
		{"other", "answers_total", 7, "7"}, // unknown suite: the name says count
	} {
		if got := formatValue(LookupMetric(c.suite, c.key), c.v); got != c.want {
			t.Errorf("%s %s %v: %q, want %q", c.suite, c.key, c.v, got, c.want)
		}
	}
}
