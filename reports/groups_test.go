package reports

import (
	"bytes"
	"encoding/csv"
	"errors"
	"slices"
	"strings"
	"testing"
)

// at returns r with these hyperparameters, a settings hash (each seed its own, as the
// runner's hash covers the seed) and a code version and model, as a new record has.
func (r Record) at(hyper map[string]any) Record {
	r.Hyperparameters = hyper
	r.SettingsHash = "hash-of-seed-" + string(rune('0'+r.Seed))
	r.Code = Code{Version: "ab78186"}
	r.Model = Model{Name: "bert-base-uncased", ConfigSHA256: "c0ffee0123456789", WeightsSHA256: "beef0123456789ab"}
	return r
}

func (r Record) old() Record { r.SettingsHash = ""; return r }

func (r Record) code(v string) Record { r.Code.Version = v; return r }

func (r Record) weights(sha string) Record { r.Model.WeightsSHA256 = sha; return r }

func (r Record) model(name, config, weights string) Record {
	r.Model = Model{Name: name, ConfigSHA256: config, WeightsSHA256: weights}
	return r
}

func (r Record) settings(s map[string]any) Record { r.MethodSettings = s; return r }

func (r Record) data(role, sha string) Record {
	r.Data = append(slices.Clone(r.Data), DataFile{Role: role, Path: "/data/" + role + ".tsv", SHA256: sha})
	return r
}

// diverged marks r stopped at step; r keeps the scores it has (the best before).
func (r Record) diverged(step int, reason string) Record {
	r.Status, r.Divergence = StatusDiverged, &Divergence{Step: step, Reason: reason}
	return r
}

func (r Record) noScores() Record { r.Scores = nil; return r }

var lr3 = map[string]any{"lr": 1e-3, "batch": 32.0}

// vfRTE is VectorFit on RTE at lr 1e-3, seed by seed.
func vfRTE(seed int64, acc float64) Record {
	return rec("rte", "vectorfit", seed, "accuracy", acc).at(lr3)
}

func TestRenderRefusesToMix(t *testing.T) {
	const head = "reports: 1 cell would average records that differ in more than their seed:\n  "
	for _, c := range []struct {
		name, want string
		rs         []Record
	}{
		{
			// The case: two runners on one folder, seed 3 at another learning rate.
			name: "one hyperparameter",
			rs: []Record{vfRTE(1, 0.80), vfRTE(2, 0.84), vfRTE(4, 0.82),
				rec("rte", "vectorfit", 3, "accuracy", 0.60).at(map[string]any{"lr": 0.03, "batch": 32.0})},
			want: head + "glue/rte vectorfit: seeds differ in hyperparameter lr (seeds 1, 2, 4: lr=0.001; seed 3: lr=0.03)",
		},
		{
			name: "code version",
			rs:   []Record{vfRTE(1, 0.8), vfRTE(2, 0.8), vfRTE(3, 0.8).code("ab78186-dirty")},
			want: head + "glue/rte vectorfit: seeds differ in code version (seeds 1, 2: code ab78186; seed 3: code ab78186-dirty)",
		},
		{
			name: "model weights of one name",
			rs:   []Record{vfRTE(1, 0.8), vfRTE(2, 0.8).weights("0123456789abcdef")},
			want: head + "glue/rte vectorfit: seeds differ in model weights (seed 1: weights beef0123; seed 2: weights 01234567)",
		},
		{
			name: "another model",
			rs:   []Record{vfRTE(1, 0.8), vfRTE(2, 0.8).model("roberta-base", "aa", "bb")},
			want: head + "glue/rte vectorfit: seeds differ in model, model config and model weights " +
				"(seed 1: model bert-base-uncased, config c0ffee01, weights beef0123; seed 2: model roberta-base, config aa, weights bb)",
		},
		{
			name: "a record without settings hash among new ones",
			rs:   []Record{vfRTE(1, 0.8).old(), vfRTE(2, 0.8)},
			want: head + "glue/rte vectorfit: seeds differ in settings hash (seed 1: no settings hash; seed 2: with settings hash)",
		},
		{
			name: "a hyperparameter and a method setting",
			rs: []Record{vfRTE(1, 0.8).settings(map[string]any{"k": 4.0, "bias": true}),
				rec("rte", "vectorfit", 2, "accuracy", 0.8).at(map[string]any{"lr": 3e-5, "batch": 32.0}).settings(map[string]any{"k": 8.0, "bias": true})},
			want: head + "glue/rte vectorfit: seeds differ in hyperparameter lr and method setting k (seed 1: lr=0.001, k=4; seed 2: lr=3e-05, k=8)",
		},
		{
			name: "a hyperparameter only one record has",
			rs:   []Record{vfRTE(1, 0.8), rec("rte", "vectorfit", 2, "accuracy", 0.8).at(map[string]any{"lr": 1e-3, "batch": 32.0, "warmup_ratio": 0.06})},
			want: head + "glue/rte vectorfit: seeds differ in hyperparameter warmup_ratio (seed 1: no hyperparameter warmup_ratio; seed 2: warmup_ratio=0.06)",
		},
		{
			name: "train data",
			rs:   []Record{vfRTE(1, 0.8).data("train", "aaaaaaaaaaaa"), vfRTE(2, 0.8).data("train", "bbbbbbbbbbbb")},
			want: head + "glue/rte vectorfit: seeds differ in train data (seed 1: train data aaaaaaaa; seed 2: train data bbbbbbbb)",
		},
		{
			name: "synthetic data without hash, by path",
			rs: func() []Record {
				a, b := vfRTE(1, 0.8).data("train", ""), vfRTE(2, 0.8).data("train", "")
				b.Data[0].Path = "/other/train.tsv"
				return []Record{a, b}
			}(),
			want: head + "glue/rte vectorfit: seeds differ in train data (seed 1: train data /data/train.tsv; seed 2: train data /other/train.tsv)",
		},
		{
			name: "a diverged seed at another setting is another experiment too",
			rs:   []Record{vfRTE(1, 0.8), rec("rte", "vectorfit", 2, "accuracy", 0.5).at(map[string]any{"lr": 1e8, "batch": 32.0}).diverged(3, "loss is NaN")},
			want: head + "glue/rte vectorfit: seeds differ in hyperparameter lr (seed 1: lr=0.001; seed 2: lr=1e+08)",
		},
		{
			name: "every cell that mixes, in table order",
			rs: []Record{vfRTE(1, 0.8), vfRTE(2, 0.8).code("x"),
				rec("cola", "lora", 1, "matthews", 0.5).at(lr3), rec("cola", "lora", 2, "matthews", 0.5).at(lr3).old()},
			want: "reports: 2 cells would average records that differ in more than their seed:\n" +
				"  glue/cola lora: seeds differ in settings hash (seed 1: with settings hash; seed 2: no settings hash)\n" +
				"  glue/rte vectorfit: seeds differ in code version (seed 1: code ab78186; seed 2: code x)",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var b bytes.Buffer
			err := Render(&b, c.rs, "md")
			var mixed *MixedError
			if !errors.As(err, &mixed) {
				t.Fatalf("Render: %v, want a *MixedError", err)
			}
			if err.Error() != c.want {
				t.Errorf("Render error\n%s\nwant\n%s", err, c.want)
			}
			if b.Len() != 0 {
				t.Errorf("Render wrote %q before refusing", b.String())
			}
		})
	}
}

func TestRenderGroupsEqualRecords(t *testing.T) {
	// What a cell may hold: seeds with their own settings hash (it covers the seed), the
	// same setting written as an int by the runner and read back as a float64, data files
	// at other paths with equal contents, records of other tasks at other settings.
	inMemory := rec("rte", "vectorfit", 2, "accuracy", 0.84).at(map[string]any{"lr": 1e-3, "batch": 32}).data("train", "aa")
	inMemory.Data[0].Path = "/elsewhere/train.tsv"
	// Method settings carry seeds that follow the run's seed (the runner derives
	// VectorFit's avf_seed and LoRA's seed from -seeds): they must not split a cell.
	rs := []Record{
		vfRTE(1, 0.80).data("train", "aa").settings(map[string]any{"k": 4, "avf_seed": 1, "seed": 1}),
		inMemory.settings(map[string]any{"k": 4, "avf_seed": 2, "seed": 2}),
		rec("cola", "vectorfit", 1, "matthews", 0.6).at(map[string]any{"lr": 0.03}),
		rec("rte", "lora", 1, "accuracy", 0.7).old(), rec("rte", "lora", 2, "accuracy", 0.72).old(),
	}
	g, err := newGrid(rs, Refuse)
	if err != nil {
		t.Fatal(err)
	}
	got := unbold(paperTable(g).rows)
	want := [][]string{
		{"VectorFit", "0 (0.00%)", "60.00", "82.00 ± 2.83", "71.00"},
		// Old records (no settings hash) group among themselves: mean 71, std sqrt(2) = 1.41.
		{"LoRA", "0 (0.00%)", "–", "71.00 ± 1.41", "–"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("rows\n%q\nwant\n%q", got, want)
	}
}

// mixedRTE: seeds 1, 2, 4 at lr 1e-3 (80, 84, 82) and seed 3 at lr 0.03 (60); CoLA at one
// setting; LoRA on RTE at one setting.
func mixedRTE() []Record {
	return []Record{
		vfRTE(1, 0.80), vfRTE(2, 0.84), vfRTE(4, 0.82),
		rec("rte", "vectorfit", 3, "accuracy", 0.60).at(map[string]any{"lr": 0.03, "batch": 32.0}),
		rec("cola", "vectorfit", 1, "matthews", 0.50).at(lr3),
		rec("rte", "lora", 1, "accuracy", 0.70).at(lr3),
	}
}

func TestPaperTableGrouping(t *testing.T) {
	for _, c := range []struct {
		name      string
		grouping  Grouping
		rs        []Record
		rows      [][]string
		footnotes []string
	}{
		{
			// 80, 84, 82, 60: mean 76.5; squared deviations 12.25 + 56.25 + 30.25 + 272.25
			// = 371, /3 = 123.67, sqrt = 11.12. Avg (50 + 76.5)/2 = 63.25.
			name: "mix averages and notes it", grouping: Mix, rs: mixedRTE(),
			rows: [][]string{
				{"VectorFit", "0 (0.00%)", "50.00", "76.50 ± 11.12 ‡", "63.25"},
				{"LoRA", "0 (0.00%)", "–", "70.00", "–"},
			},
			footnotes: []string{"‡ RTE · VectorFit averages seeds that differ in hyperparameter lr (seeds 1, 2, 4: lr=0.001; seed 3: lr=0.03)."},
		},
		{
			// lr 1e-3: 80, 84, 82, mean 82, std sqrt((4+4+0)/2) = 2. CoLA had one setting:
			// it stays in the unlabelled row, which then lacks RTE and so an Avg.
			name: "split labels each group's row", grouping: Split, rs: mixedRTE(),
			rows: [][]string{
				{"VectorFit", "0 (0.00%)", "50.00", "–", "–"},
				{"VectorFit [lr=0.001]", "0 (0.00%)", "–", "82.00 ± 2.00", "–"},
				{"VectorFit [lr=0.03]", "0 (0.00%)", "–", "60.00", "–"},
				{"LoRA", "0 (0.00%)", "–", "70.00", "–"},
			},
		},
		{
			// Two code versions on both tasks: each version a complete row, with its Avg.
			name: "split rows share a label across tasks", grouping: Split,
			rs: []Record{
				vfRTE(1, 0.80), vfRTE(2, 0.70).code("ab78186-dirty"),
				rec("cola", "vectorfit", 1, "matthews", 0.50).at(lr3), rec("cola", "vectorfit", 2, "matthews", 0.40).at(lr3).code("ab78186-dirty"),
			},
			rows: [][]string{
				{"VectorFit [code ab78186]", "0 (0.00%)", "50.00", "80.00", "65.00"},
				{"VectorFit [code ab78186-dirty]", "0 (0.00%)", "40.00", "70.00", "55.00"},
			},
		},
		{
			name: "split old records from new ones", grouping: Split,
			rs: []Record{vfRTE(1, 0.80).old(), vfRTE(2, 0.70), vfRTE(3, 0.74)},
			rows: [][]string{
				{"VectorFit [no settings hash]", "0 (0.00%)", "80.00", "80.00"},
				{"VectorFit [with settings hash]", "0 (0.00%)", "72.00 ± 2.83", "72.00"},
			},
		},
		{
			// Seed 3 diverged: the mean is seeds 1 and 2 (80, 84 → 82 ± 2.83), not its 55.
			// LoRA's only seed diverged before evaluating: no mean, so no Avg either.
			name: "diverged seeds are left out and marked", grouping: Refuse,
			rs: []Record{
				vfRTE(1, 0.80), vfRTE(2, 0.84), vfRTE(3, 0.55).diverged(120, "loss is NaN"),
				rec("cola", "vectorfit", 1, "matthews", 0.50).at(lr3),
				rec("cola", "lora", 1, "matthews", 0.40).at(lr3),
				rec("rte", "lora", 1, "accuracy", 0).at(lr3).noScores().diverged(5, "gradient is Inf"),
			},
			rows: [][]string{
				{"VectorFit", "0 (0.00%)", "50.00", "82.00 ± 2.83 †", "66.00"},
				{"LoRA", "0 (0.00%)", "40.00", "diverged †", "–"},
			},
			footnotes: []string{
				"† RTE · VectorFit: 1 of 3 seeds diverged and is left out of the mean: seed 3 at step 120 (loss is NaN), best 55.00 before it.",
				"† RTE · LoRA: 1 of 1 seeds diverged, so the cell has no mean: seed 1 at step 5 (gradient is Inf).",
			},
		},
		{
			// Mixed and diverged: the mean is the finished seeds of both settings (80, 60).
			name: "diverged in a mixed cell", grouping: Mix,
			rs: []Record{
				vfRTE(1, 0.80), vfRTE(2, 0.10).diverged(7, "").old(),
				rec("rte", "vectorfit", 3, "accuracy", 0.60).at(map[string]any{"lr": 0.03, "batch": 32.0}),
			},
			rows: [][]string{{"VectorFit", "0 (0.00%)", "70.00 ± 14.14 †‡", "70.00"}},
			footnotes: []string{
				"† RTE · VectorFit: 1 of 3 seeds diverged and is left out of the mean: seed 2 at step 7, best 10.00 before it.",
				"‡ RTE · VectorFit averages seeds that differ in settings hash and hyperparameter lr " +
					"(seed 1: with settings hash, lr=0.001; seed 2: no settings hash, lr=0.001; seed 3: with settings hash, lr=0.03).",
			},
		},
		{
			name: "an old record without status finished", grouping: Refuse,
			rs: []Record{
				vfRTE(1, 0.80).old(), func() Record { r := vfRTE(2, 0.84).old(); r.Status = StatusFinished; return r }(),
			},
			rows: [][]string{{"VectorFit", "0 (0.00%)", "82.00 ± 2.83", "82.00"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := newGrid(c.rs, c.grouping)
			if err != nil {
				t.Fatal(err)
			}
			tb := paperTable(g)
			tb.rows = unbold(tb.rows)
			if !slices.EqualFunc(tb.rows, c.rows, slices.Equal) {
				t.Errorf("rows\n%q\nwant\n%q", tb.rows, c.rows)
			}
			if !slices.Equal(tb.footnotes, c.footnotes) {
				t.Errorf("footnotes\n%q\nwant\n%q", tb.footnotes, c.footnotes)
			}
		})
	}
}

func TestDivergedBeforeItsFirstEvaluationWithoutMainScore(t *testing.T) {
	// The only LoRA seed stopped at step 2, before any evaluation and without a main
	// score: it mixes no metrics, so the table renders, its cell reading "diverged".
	lora := rec("rte", "lora", 1, "", 0).noScores().diverged(2, "loss is NaN")
	g, err := newGrid([]Record{vfRTE(1, 0.8), lora}, Refuse)
	if err != nil {
		t.Fatal(err)
	}
	tb := paperTable(g)
	want := [][]string{{"VectorFit", "0 (0.00%)", "80.00", "80.00"}, {"LoRA", "0 (0.00%)", "diverged †", "–"}}
	if !slices.EqualFunc(tb.rows, want, slices.Equal) {
		t.Errorf("rows\n%q\nwant\n%q", tb.rows, want)
	}
	g, err = newGrid([]Record{lora}, Refuse)
	if err != nil {
		t.Fatal(err)
	}
	if got := paperTable(g).note; !strings.Contains(got, "main score (RTE –)") {
		t.Errorf("note %q, want RTE's main score shown as unknown", got)
	}
}

func TestDetailTableGrouping(t *testing.T) {
	withTime := func(r Record, train float64) Record {
		r.Timing = Timing{TrainSeconds: train, StepSeconds: train / 1000, Steps: 1000}
		return r
	}
	rs := []Record{
		// Seed 3 diverged after 5 s: the train time mean is seeds 1 and 2, (100+120)/2.
		withTime(vfRTE(1, 0.80), 100), withTime(vfRTE(2, 0.84), 120), withTime(vfRTE(3, 0.55).diverged(9, "loss is NaN"), 5),
		withTime(rec("rte", "lora", 1, "accuracy", 0).at(lr3).noScores().diverged(1, "loss is NaN"), 1),
	}
	g, err := newGrid(rs, Refuse)
	if err != nil {
		t.Fatal(err)
	}
	got := detailTable(g).rows
	want := [][]string{
		{"RTE", "VectorFit", "2 + 1 diverged", "Acc 82.00", "0", "0", "0.00%", "0.0", "110.0", "110.0", "0.0", "–", "–", "–"},
		{"RTE", "LoRA", "0 + 1 diverged", "–", "–", "–", "–", "–", "–", "–", "–", "–", "–", "–"},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("rows\n%q\nwant\n%q", got, want)
	}

	g, err = newGrid(mixedRTE(), Mix)
	if err != nil {
		t.Fatal(err)
	}
	d := detailTable(g)
	if d.rows[1][1] != "VectorFit ‡" || d.rows[1][2] != "4" {
		t.Errorf("mixed row %q, want method %q and 4 seeds", d.rows[1], "VectorFit ‡")
	}
	if len(d.footnotes) != 1 || !strings.HasPrefix(d.footnotes[0], "‡ RTE · VectorFit averages") {
		t.Errorf("detail footnotes %q, want the mixed cell's", d.footnotes)
	}
}

func TestRenderMarkdownSplitWithFootnotes(t *testing.T) {
	rs := []Record{
		vfRTE(1, 0.80), vfRTE(2, 0.84), vfRTE(5, 0).noScores().diverged(40, "loss is NaN"),
		rec("rte", "vectorfit", 3, "accuracy", 0.60).at(map[string]any{"lr": 0.03, "batch": 32.0}),
	}
	var b bytes.Buffer
	if err := RenderGrouped(&b, rs, "md", Split); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "split_diverged.md", b.String())
}

func TestRenderPerRecordFormatsDoNotRefuse(t *testing.T) {
	// CSV and JSON average nothing: records that the tables would refuse to mix are
	// listed, each with the fields that tell them apart.
	rs := mixedRTE()
	rs[0] = rs[0].settings(map[string]any{"k": 4.0})
	rs[2] = rs[2].diverged(17, "loss is NaN")
	for _, format := range []string{"csv", "json"} {
		if err := Render(&bytes.Buffer{}, rs, format); err != nil {
			t.Errorf("%s: %v", format, err)
		}
	}
	var b bytes.Buffer
	if err := Render(&b, rs, "csv"); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cell := func(row int, col string) string {
		i := slices.Index(rows[0], col)
		if i < 0 {
			t.Fatalf("no column %q in %q", col, rows[0])
		}
		return rows[row][i]
	}
	// Rows: cola vectorfit 1; rte vectorfit 1, 2, 3, 4; rte lora 1.
	for _, c := range []struct {
		row       int
		col, want string
	}{
		{2, "seed", "1"}, {2, "hp_lr", "0.001"}, {2, "hp_batch", "32"}, {2, "setting_k", "4"},
		{2, "settings_hash", "hash-of-seed-1"}, {2, "model", "bert-base-uncased"},
		{2, "model_weights_sha256", "beef0123456789ab"}, {2, "code_version", "ab78186"}, {2, "status", "finished"},
		{3, "setting_k", ""},
		{4, "seed", "3"}, {4, "hp_lr", "0.03"},
		{5, "seed", "4"}, {5, "status", "diverged"}, {5, "divergence_step", "17"}, {5, "divergence_reason", "loss is NaN"},
	} {
		if got := cell(c.row, c.col); got != c.want {
			t.Errorf("row %d %s = %q, want %q", c.row, c.col, got, c.want)
		}
	}
}

func TestRenderGroupedRejectsUnknownGrouping(t *testing.T) {
	err := RenderGrouped(&bytes.Buffer{}, []Record{vfRTE(1, 0.8)}, "md", Grouping(7))
	if err == nil || err.Error() != "reports: unknown grouping 7, want Refuse, Mix or Split" {
		t.Errorf("RenderGrouped: %v", err)
	}
}

// unbold drops the best-per-column marks, which these tests of grouping do not test
// (TestPaperTableMarksBest and the golden files do).
func unbold(rows [][]string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = make([]string, len(r))
		for j, c := range r {
			out[i][j] = strings.ReplaceAll(c, "**", "")
		}
	}
	return out
}
