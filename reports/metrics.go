package reports

import (
	"strings"
)

// The metric registry: what every score key of every suite means for a table. Records
// keep raw values (fractions, counts, thresholds, cosines); only rendering scales, and
// only what the registry marks a percentage.

// Scale says how a metric is shown.
type Scale int

const (
	// Percent: stored as a fraction, shown ×100 with 2 decimals (accuracy, F1, EM,
	// Matthews and Pearson correlation, ROUGE), as the papers print them.
	Percent Scale = iota
	// Count: a number of examples, shown as an integer and never scaled (SQuAD v2.0's
	// HasAns_total, NoAns_total, total).
	Count
	// Raw: shown as stored with 3 decimals, never scaled: SQuAD v2.0's no-answer
	// thresholds (best_exact_thresh, best_f1_thresh, differences of logits) and the
	// DreamBooth cosines (DINO, CLIP-I, CLIP-T), which the DreamBooth paper prints as
	// 0.668, not 66.8.
	Raw
)

// Metric is one score key of a suite.
type Metric struct {
	Key            string // as records store it: "accuracy_mm"
	Name           string // as tables print it: "Acc (mm)"
	Scale          Scale
	HigherIsBetter bool // false for counts and thresholds, which are not compared
}

// Cell is the paper's cell of a task: the metrics it prints, joined by "/" (MNLI
// "m/mm", QQP "Acc/F1"), and the sub-header naming them.
type Cell struct {
	Header string   // "m/mm"
	Keys   []string // "accuracy", "accuracy_mm"
}

// suiteInfo is a suite's metrics, its tasks' cells (task "" is the default), and
// whether its paper table has an Avg. column.
type suiteInfo struct {
	metrics []Metric
	cells   map[string]Cell
	avg     bool
}

func pct(key, name string) Metric   { return Metric{key, name, Percent, true} }
func count(key, name string) Metric { return Metric{key, name, Count, false} }
func raw(key, name string, higher bool) Metric {
	return Metric{key, name, Raw, higher}
}

var (
	accCell     = Cell{"Acc", []string{"accuracy"}}
	accF1Cell   = Cell{"Acc/F1", []string{"accuracy", "f1"}}
	emF1Cell    = Cell{"EM/F1", []string{"exact", "f1"}}
	rougeCell   = Cell{"R-1/R-2/R-L", []string{"rouge1", "rouge2", "rougeL"}}
	dreamboothC = Cell{"DINO/CLIP-I/CLIP-T", []string{"dino", "clip_i", "clip_t"}}
)

// registry is keyed by suite. The GLUE cells follow the AdaLoRA (DeBERTaV3-base) GLUE
// table, which the VectorFit paper's follows: MNLI m/mm, SST-2 Acc, CoLA Mcc, QQP
// Acc/F1, QNLI Acc, RTE Acc, MRPC Acc/F1, STS-B Corr (Pearson). SQuAD prints EM/F1 per
// version, summarisation R-1/R-2/R-L, vision Acc, DreamBooth DINO/CLIP-I/CLIP-T.
var registry = map[string]suiteInfo{
	"glue": {
		metrics: []Metric{
			pct("accuracy", "Acc"), pct("accuracy_mm", "Acc (mm)"), pct("f1", "F1"),
			pct("mcc", "Mcc"), pct("pearson", "Corr"), pct("spearman", "Spearman"),
		},
		cells: map[string]Cell{
			"": accCell, "cola": {"Mcc", []string{"mcc"}}, "mrpc": accF1Cell, "qqp": accF1Cell,
			"stsb": {"Corr", []string{"pearson"}}, "mnli": {"m/mm", []string{"accuracy", "accuracy_mm"}},
		},
		avg: true,
	},
	"squad": {
		metrics: []Metric{
			pct("exact", "EM"), pct("f1", "F1"),
			pct("HasAns_exact", "HasAns EM"), pct("HasAns_f1", "HasAns F1"), count("HasAns_total", "HasAns total"),
			pct("NoAns_exact", "NoAns EM"), pct("NoAns_f1", "NoAns F1"), count("NoAns_total", "NoAns total"),
			count("total", "Total"),
			pct("best_exact", "Best EM"), raw("best_exact_thresh", "Best EM thresh", false),
			pct("best_f1", "Best F1"), raw("best_f1_thresh", "Best F1 thresh", false),
		},
		cells: map[string]Cell{"": emF1Cell},
	},
	"nlg": {
		metrics: []Metric{pct("rouge1", "R-1"), pct("rouge2", "R-2"), pct("rougeL", "R-L"), pct("rougeLsum", "R-Lsum")},
		cells:   map[string]Cell{"": rougeCell},
	},
	"vision": {
		metrics: []Metric{pct("accuracy", "Acc")},
		cells:   map[string]Cell{"": accCell},
		avg:     true,
	},
	"diffusion": {
		metrics: []Metric{raw("dino", "DINO", true), raw("clip_i", "CLIP-I", true), raw("clip_t", "CLIP-T", true)},
		cells:   map[string]Cell{"": dreamboothC},
	},
}

// LookupMetric describes a suite's score key. A key the registry does not know is a
// percentage named by its key, unless its name says count ("_total", "total") or
// threshold ("_thresh"), which are never scaled.
func LookupMetric(suite, key string) Metric {
	for _, m := range registry[suite].metrics {
		if m.Key == key {
			return m
		}
	}
	switch {
	case key == "total" || strings.HasSuffix(key, "_total"):
		return count(key, key)
	case strings.HasSuffix(key, "_thresh"):
		return raw(key, key, false)
	}
	return pct(key, key)
}

// TaskCell is the paper's cell of a task: its registered cell when every key of it is
// among the scores the task's records report, else the main score alone (SQuAD v1.1
// and v2.0 share EM/F1; a task without a registered cell shows its main score).
func TaskCell(suite, task, main string, reported map[string]bool) Cell {
	info := registry[suite]
	c, ok := info.cells[normTask(task)]
	if !ok {
		c, ok = info.cells[""]
	}
	if ok {
		all := true
		for _, k := range c.Keys {
			all = all && reported[k]
		}
		if all && len(c.Keys) > 0 {
			return c
		}
	}
	return Cell{LookupMetric(suite, main).Name, []string{main}}
}

// hasAvg says whether the suite's paper table has an Avg. column: GLUE's (the mean of
// the tasks' main scores) and vision's; the SQuAD, summarisation and DreamBooth tables
// have none.
func hasAvg(suite string) bool {
	info, ok := registry[suite]
	return !ok || info.avg
}
