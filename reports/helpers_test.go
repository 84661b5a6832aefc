package reports

import (
	"time"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
)

// rec is a minimal valid record with one score, the main one.
func rec(task, method string, seed int64, main string, value float64) Record {
	return Record{
		Schema: SchemaVersion, Suite: "glue", Task: task, Method: method, Seed: seed,
		Scores: map[string]float64{main: value}, MainScore: main,
	}
}

// with returns r with extra scores; the main score stays.
func (r Record) with(scores map[string]float64) Record {
	s := map[string]float64{}
	for k, v := range r.Scores {
		s[k] = v
	}
	for k, v := range scores {
		s[k] = v
	}
	r.Scores = s
	return r
}

func counts(adapter, head, base int64) methods.Counts {
	return methods.Counts{Adapter: adapter, Head: head, Total: adapter + head, Base: base,
		AdapterPercent: 100 * float64(adapter) / float64(base)}
}

// summary is a rank summary of type t with every matrix at rank r of full.
func summary(t models.LayerType, r int, full int, eff float64) methods.RankSummary {
	return methods.RankSummary{Type: t, Matrices: 12, Mean: float64(r), Min: r, Max: r,
		FractionOfFull: float64(r) / float64(full), MeanEffectiveRank: eff}
}

// fullRecord fills every field, for round trips.
func fullRecord() Record {
	start := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC)
	return Record{
		Schema: SchemaVersion, Suite: "glue", Task: "rte", Method: "vectorfit",
		MethodDescription: "vectorfit(targets=all, bias, avf k=4 every 100)",
		MethodSettings:    map[string]any{"targets": "all", "bias": true, "k": 4.0},
		Seed:              42,
		Model: Model{Name: "bert-base-uncased", Source: "/models/bert", Revision: "86b5e09",
			ConfigSHA256: "c0ffee", WeightsSHA256: "beef"},
		Data: []DataFile{
			{Role: "train", Path: "/data/rte/train.tsv", SHA256: "aa", Bytes: 1000, Examples: 2490},
			{Role: "validation", Path: "/data/rte/dev.tsv", SHA256: "bb", Bytes: 100, Examples: 277},
		},
		Hyperparameters: map[string]any{"lr": 1e-3, "epochs": 10.0, "batch": 32.0, "max_len": 128.0, "warmup": 0.06},
		Scores:          map[string]float64{"accuracy": 0.7256},
		MainScore:       "accuracy",
		BestStep:        700,
		History: []Eval{
			{Step: 100, Epoch: 0, Loss: 0.69, Scores: map[string]float64{"accuracy": 0.55}},
			{Step: 700, Epoch: 8, Loss: 0.31, Scores: map[string]float64{"accuracy": 0.7256}},
		},
		Params: counts(147456, 592130, 108891648),
		Ranks:  []methods.RankSummary{summary(models.Query, 768, 768, 701.5)},
		MatrixRanks: []methods.MatrixRank{{Name: "encoder.layer.0.attention.self.query", Type: models.Query,
			Out: 768, In: 768, Rank: 768, FullRank: 768, EffectiveRank: 701.5}},
		Timing:       Timing{SetupSeconds: 4.5, TrainSeconds: 300, EvalSeconds: 12, StepSeconds: 0.3, Steps: 1000},
		PeakRSSBytes: 3 << 30,
		Device:       "cpu",
		Code:         Code{Version: "ab78186-dirty", GoVersion: "go1.26", Libtorch: "2.1.0"},
		Command:      []string{"runner", "-suite", "glue", "-task", "rte"},
		StartedAt:    start,
		FinishedAt:   start.Add(5 * time.Minute),
	}
}
