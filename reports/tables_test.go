package reports

import (
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
			header: []string{"Method", "# Params", "CoLA", "RTE", "Avg."},
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
			header: []string{"Method", "# Params", "CoLA", "SST-2", "MNLI", "RTE", "boolq", "WNLI", "Avg."},
			rows: [][]string{
				{"VectorFit", "0 (0.00%)", "–", "–", "50.00", "–", "–", "–", "–"},
				{"LoRA", "0 (0.00%)", "50.00", "–", "–", "–", "50.00", "–", "–"},
				{"Full FT", "0 (0.00%)", "–", "–", "–", "50.00", "–", "–", "–"},
				{"BitFit", "0 (0.00%)", "–", "–", "–", "–", "–", "50.00", "–"},
				{"adapter", "0 (0.00%)", "–", "50.00", "–", "–", "–", "–", "–"},
			},
		},
		{
			name: "only the main score of a two-metric task",
			rs: []Record{
				rec("mrpc", "lora", 1, "accuracy", 0.88).with(map[string]float64{"f1": 0.91}),
				rec("stsb", "lora", 1, "pearson", 0.90).with(map[string]float64{"spearman": 0.89}),
			},
			header: []string{"Method", "# Params", "MRPC", "STS-B", "Avg."},
			rows:   [][]string{{"LoRA", "0 (0.00%)", "88.00", "90.00", "89.00"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := paperRows(t, c.rs)
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
	got := paperRows(t, []Record{b, a}).header
	want := []string{"Method", "# Params", "glue/RTE", "superglue/RTE", "Avg."}
	if !slices.Equal(got, want) {
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
		{"paper style", []Record{withParams(counts(147456, 1538, 108891648))}, "0.15M (0.14%)"},
		{"full fine-tuning", []Record{withParams(counts(124645632, 1538, 124645632))}, "125M (100.00%)"},
		{"tiny adapter", []Record{withParams(counts(2304, 1538, 108891648))}, "2.3K (0.0021%)"},
		{"tens of millions", []Record{withParams(counts(14_200_000, 0, 108891648))}, "14.2M (13.04%)"},
		{"billions", []Record{withParams(counts(7_000_000_000, 0, 7_000_000_000))}, "7.00B (100.00%)"},
		{"a few", []Record{withParams(counts(768, 0, 108891648))}, "768 (0.0007%)"},
		{"seeds disagree: a range", []Record{
			withParams(counts(140000, 0, 100_000_000)), withParams(counts(150000, 0, 100_000_000)),
		}, "0.14M–0.15M (0.14%–0.15%)"},
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
		{"RTE", "VectorFit", "2", "accuracy 82.00 · f1 70.00", "0.15M", "1.5K", "0.14%",
			"3.0", "110.0", "110.0", "2.0", "1024", "query 768 (1.00) · ffn_down 761 (0.99)", "query 700 · ffn_down 600"},
		{"RTE", "LoRA", "1", "accuracy 70.00", "0", "0", "0.00%",
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
