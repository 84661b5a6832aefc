package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
)

// goldenRecords: VectorFit with two seeds on CoLA and RTE, LoRA on RTE only, full FT on
// both with one seed; in no particular order, as a run directory might list them.
func goldenRecords() []Record {
	vf := counts(147456, 592130, 108891648)
	lora := counts(294912, 592130, 108891648)
	full := counts(108891648, 592130, 108891648)
	vfRanks := []methods.RankSummary{summary(models.Query, 768, 768, 700.2), summary(models.FFNUp, 768, 768, 650.4)}
	loraRanks := []methods.RankSummary{summary(models.Query, 8, 768, 6.1), summary(models.Value, 8, 768, 5.9)}
	fullRanks := []methods.RankSummary{summary(models.Query, 768, 768, 702), summary(models.FFNUp, 768, 768, 702)}
	mk := func(task, method string, seed int64, main string, v float64, c methods.Counts, ranks []methods.RankSummary, train float64) Record {
		r := rec(task, method, seed, main, v)
		r.Params, r.Ranks = c, ranks
		r.Timing = Timing{SetupSeconds: 2, TrainSeconds: train, EvalSeconds: 1.5, StepSeconds: train / 1000, Steps: 1000}
		r.PeakRSSBytes = 1536 << 20
		return r
	}
	return []Record{
		mk("rte", "lora", 1, "accuracy", 0.70, lora, loraRanks, 110),
		mk("rte", "vectorfit", 2, "accuracy", 0.84, vf, vfRanks, 100),
		mk("cola", "vectorfit", 1, "matthews", 0.60, vf, vfRanks, 200).with(map[string]float64{"accuracy": 0.83}),
		mk("rte", "vectorfit", 1, "accuracy", 0.80, vf, vfRanks, 120),
		mk("cola", "fullft", 1, "matthews", 0.62, full, fullRanks, 400).with(map[string]float64{"accuracy": 0.84}),
		mk("cola", "vectorfit", 2, "matthews", 0.58, vf, vfRanks, 220).with(map[string]float64{"accuracy": 0.81}),
		mk("rte", "fullft", 1, "accuracy", 0.78, full, fullRanks, 300),
	}
}

func TestRenderMarkdownGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, goldenRecords(), "md"); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "glue_two_tasks.md", b.String())
}

func TestRenderMarkdownEscapesPipes(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, []Record{rec("rte", "a|b", 1, "accuracy", 0.5)}, "md"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `| a\|b `) {
		t.Errorf("a method name with | is not escaped:\n%s", b.String())
	}
}

func TestRenderCSV(t *testing.T) {
	rs := goldenRecords()
	var b bytes.Buffer
	if err := Render(&b, rs, "csv"); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(rs)+1 {
		t.Fatalf("%d rows, want a header and %d records", len(rows), len(rs))
	}
	wantHeader := []string{
		"suite", "task", "method", "seed", "main_score", "main_value", "status", "divergence_step", "divergence_reason",
		"score_accuracy", "score_matthews",
		"best_step", "params_adapter", "params_head", "params_total", "params_base", "params_adapter_percent",
		"setup_seconds", "train_seconds", "eval_seconds", "step_seconds", "steps", "peak_rss_bytes",
		"rank_mean_query", "rank_fraction_query", "effective_rank_query",
		"rank_mean_value", "rank_fraction_value", "effective_rank_value",
		"rank_mean_ffn_up", "rank_fraction_ffn_up", "effective_rank_ffn_up",
		"device", "code_version", "settings_hash", "model", "model_config_sha256", "model_weights_sha256",
		"started_at", "finished_at",
	}
	if !slices.Equal(rows[0], wantHeader) {
		t.Errorf("header\n%q\nwant\n%q", rows[0], wantHeader)
	}
	// Rows follow ReadDir's order and carry raw values; absent scores and ranks are empty.
	cell := func(row int, col string) string { return rows[row][slices.Index(rows[0], col)] }
	for _, c := range []struct {
		row       int
		col, want string
	}{
		{1, "task", "cola"}, {1, "method", "vectorfit"}, {1, "seed", "1"}, {1, "main_value", "0.6"},
		{1, "score_accuracy", "0.83"}, {4, "task", "rte"}, {4, "score_matthews", ""},
		{6, "method", "lora"}, {6, "rank_fraction_value", "0.010416666666666666"}, {6, "rank_mean_ffn_up", ""},
		{7, "method", "fullft"}, {7, "params_adapter", "108891648"}, {7, "peak_rss_bytes", "1610612736"},
		{7, "step_seconds", "0.3"}, {7, "started_at", ""}, {7, "status", "finished"}, {7, "divergence_step", ""},
	} {
		if got := cell(c.row, c.col); got != c.want {
			t.Errorf("row %d %s = %q, want %q", c.row, c.col, got, c.want)
		}
	}
}

func TestRenderCSVTimesAreUTC(t *testing.T) {
	r := fullRecord()
	r.StartedAt = r.StartedAt.In(time.FixedZone("CET", 3600))
	var b bytes.Buffer
	if err := Render(&b, []Record{r}, "csv"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ",2025-03-01T12:00:00.123456789Z,2025-03-01T12:05:00.123456789Z\n") {
		t.Errorf("times not in RFC 3339 UTC:\n%s", b.String())
	}
}

func TestRenderJSON(t *testing.T) {
	a, b := fullRecord(), fullRecord()
	b.Seed = 7
	var buf bytes.Buffer
	if err := Render(&buf, []Record{a, b}, "json"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "[\n  {\n    \"schema\": 1,") {
		t.Errorf("not an indented array:\n%.60s", buf.String())
	}
	var got []Record
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if want := []Record{b, a}; !reflect.DeepEqual(got, want) {
		t.Errorf("JSON round trip\n%+v\nwant (sorted by seed)\n%+v", got, want)
	}
}

func TestRenderErrors(t *testing.T) {
	one := []Record{rec("rte", "lora", 1, "accuracy", 0.5)}
	for _, c := range []struct {
		name, format, want string
		rs                 []Record
	}{
		{"unknown format", "html", `unknown format "html", want one of md, latex, csv, json`, one},
		{"no records", "md", "no records", nil},
		{"invalid record", "csv", "empty method", []Record{rec("rte", "", 1, "accuracy", 0.5)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Render(&b, c.rs, c.format)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Render: %v, want an error containing %q", err, c.want)
			}
			if b.Len() != 0 {
				t.Errorf("Render wrote %q before failing", b.String())
			}
		})
	}
}

func TestRenderDoesNotReorderItsInput(t *testing.T) {
	rs := goldenRecords()
	before := slices.Clone(rs)
	if err := Render(&bytes.Buffer{}, rs, "csv"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rs, before) {
		t.Error("Render sorted the caller's slice")
	}
}
