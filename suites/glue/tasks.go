// Package glue holds what the harness needs to know about the eight GLUE tasks
// of the VectorFit paper's Table 1 (SPEC §3): the task definitions with their
// label vocabularies and metrics, the protocol defaults of SPEC §4, loaders for
// the original GLUE TSV files and for the Hugging Face nyu-mll/glue layout
// (parquet or JSON lines), the metrics with the exact definitions of
// scikit-learn and SciPy, and a reader/scorer for prediction files.
//
// Data, metrics and predictions use no tensors (testable without a model);
// finetune.go connects them to an encoder and the training engine.
package glue

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Metric names, as they appear in the maps returned by Compute and ScoreFile
// and in Task.Metrics / Task.Main.
const (
	MetricAccuracy = "accuracy"
	MetricF1       = "f1"       // F1 of the positive class 1 (MRPC "equivalent", QQP "duplicate")
	MetricMCC      = "mcc"      // Matthews correlation (CoLA)
	MetricPearson  = "pearson"  // Pearson r (STS-B)
	MetricSpearman = "spearman" // Spearman rho with average ranks for ties (STS-B)
)

// Split names follow Hugging Face's nyu-mll/glue whatever the source format,
// so that records and reports use one vocabulary (the TSV file dev.tsv is the
// split "validation").
const (
	SplitTrain                = "train"
	SplitValidation           = "validation"
	SplitValidationMatched    = "validation_matched"
	SplitValidationMismatched = "validation_mismatched"
)

// Protocol holds the per-task training defaults of SPEC §4, which come from
// AdaLoRA's published DeBERTaV3-base scripts. LearningRate is the LoRA-family
// rate of that table; SPEC says to keep the learning rate per method, so a
// method (VectorFit's singular values and biases usually want more) may
// override it.
type Protocol struct {
	MaxSeqLen         int     // tokens, pair included; longer inputs are truncated
	BatchSize         int     // examples per optimizer step
	Epochs            int     // passes over the train split
	LearningRate      float64 // AdamW peak rate, linear schedule
	WarmupSteps       int     // linear warm-up, in optimizer steps
	ClassifierDropout float64 // dropout before the classification/regression head
	WeightDecay       float64 // AdamW decoupled weight decay
}

// Task describes one GLUE task.
type Task struct {
	// Name is the Hugging Face nyu-mll/glue config name ("cola", "sst2", ...),
	// the key used everywhere in the harness.
	Name string
	// Folder is the task's folder in the original GLUE download ("CoLA",
	// "SST-2", ...).
	Folder string
	// Pair is true for sentence-pair tasks (everything but CoLA and SST-2).
	Pair bool
	// NumLabels is the number of classes, or 1 for the regression task STS-B
	// (the width of the model head in both cases).
	NumLabels int
	// Labels are the class names in Hugging Face's id order: Labels[id] is the
	// name of class id. Nil for STS-B. Note that MNLI's order here
	// (entailment, neutral, contradiction) differs from the one in the old
	// transformers GLUE processors (contradiction first): a head trained with
	// that order must be remapped.
	Labels []string
	// Metrics are the scores reported for the task (SPEC §3), in report order.
	Metrics []string
	// Main is the metric used to pick the best evaluation and fill the paper's
	// table. MRPC and QQP report accuracy in the paper's table, so Main is
	// accuracy there, with F1 reported alongside.
	Main string
	// DevSplits are the evaluation splits: "validation", or for MNLI
	// "validation_matched" and "validation_mismatched".
	DevSplits []string
	// Protocol holds the training defaults of SPEC §4.
	Protocol Protocol
}

// IsRegression reports whether the task predicts a real-valued score (STS-B)
// rather than a class.
func (t Task) IsRegression() bool { return t.NumLabels == 1 }

// LabelID maps a label as people write it to its class id: the class name
// ("entailment"), or the id itself as a decimal string ("0", "1") as in the
// CoLA, SST-2, MRPC and QQP TSV files. It returns false for anything else,
// including any label of a regression task.
func (t Task) LabelID(s string) (int, bool) {
	if t.IsRegression() {
		return 0, false
	}
	if id := slices.Index(t.Labels, s); id >= 0 {
		return id, true
	}
	id, err := strconv.Atoi(s)
	if err != nil || id < 0 || id >= t.NumLabels || strconv.Itoa(id) != s {
		return 0, false
	}
	return id, true
}

// tasks is the registry, in the canonical order of the GLUE benchmark (and of
// the paper's table): cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte.
var tasks = []Task{
	{
		Name: "cola", Folder: "CoLA", Pair: false, NumLabels: 2,
		Labels:  []string{"unacceptable", "acceptable"},
		Metrics: []string{MetricMCC}, Main: MetricMCC,
		DevSplits: []string{SplitValidation},
		Protocol:  Protocol{MaxSeqLen: 64, BatchSize: 32, Epochs: 25, LearningRate: 8e-4, WarmupSteps: 100, ClassifierDropout: 0.10, WeightDecay: 0},
	},
	{
		Name: "sst2", Folder: "SST-2", Pair: false, NumLabels: 2,
		Labels:  []string{"negative", "positive"},
		Metrics: []string{MetricAccuracy}, Main: MetricAccuracy,
		DevSplits: []string{SplitValidation},
		Protocol:  Protocol{MaxSeqLen: 128, BatchSize: 32, Epochs: 24, LearningRate: 8e-4, WarmupSteps: 1000, ClassifierDropout: 0, WeightDecay: 0.01},
	},
	{
		Name: "mrpc", Folder: "MRPC", Pair: true, NumLabels: 2,
		Labels:  []string{"not_equivalent", "equivalent"},
		Metrics: []string{MetricAccuracy, MetricF1}, Main: MetricAccuracy,
		DevSplits: []string{SplitValidation},
		Protocol:  Protocol{MaxSeqLen: 320, BatchSize: 32, Epochs: 30, LearningRate: 1e-3, WarmupSteps: 0, ClassifierDropout: 0, WeightDecay: 0.01},
	},
	{
		Name: "qqp", Folder: "QQP", Pair: true, NumLabels: 2,
		Labels:  []string{"not_duplicate", "duplicate"},
		Metrics: []string{MetricAccuracy, MetricF1}, Main: MetricAccuracy,
		DevSplits: []string{SplitValidation},
		Protocol:  Protocol{MaxSeqLen: 320, BatchSize: 32, Epochs: 5, LearningRate: 8e-4, WarmupSteps: 2000, ClassifierDropout: 0.15, WeightDecay: 0.01},
	},
	{
		Name: "stsb", Folder: "STS-B", Pair: true, NumLabels: 1,
		Labels:  nil,
		Metrics: []string{MetricPearson, MetricSpearman}, Main: MetricPearson,
		DevSplits: []string{SplitValidation},
		Protocol:  Protocol{MaxSeqLen: 128, BatchSize: 32, Epochs: 25, LearningRate: 2.2e-3, WarmupSteps: 100, ClassifierDropout: 0.2, WeightDecay: 0.1},
	},
	{
		Name: "mnli", Folder: "MNLI", Pair: true, NumLabels: 3,
		Labels:  []string{"entailment", "neutral", "contradiction"},
		Metrics: []string{MetricAccuracy}, Main: MetricAccuracy,
		DevSplits: []string{SplitValidationMatched, SplitValidationMismatched},
		Protocol:  Protocol{MaxSeqLen: 256, BatchSize: 32, Epochs: 7, LearningRate: 5e-4, WarmupSteps: 1000, ClassifierDropout: 0.15, WeightDecay: 0},
	},
	{
		Name: "qnli", Folder: "QNLI", Pair: true, NumLabels: 2,
		Labels:  []string{"entailment", "not_entailment"},
		Metrics: []string{MetricAccuracy}, Main: MetricAccuracy,
		DevSplits: []string{SplitValidation},
		Protocol:  Protocol{MaxSeqLen: 512, BatchSize: 32, Epochs: 5, LearningRate: 5e-4, WarmupSteps: 500, ClassifierDropout: 0.1, WeightDecay: 0.01},
	},
	{
		Name: "rte", Folder: "RTE", Pair: true, NumLabels: 2,
		Labels:  []string{"entailment", "not_entailment"},
		Metrics: []string{MetricAccuracy}, Main: MetricAccuracy,
		DevSplits: []string{SplitValidation},
		Protocol:  Protocol{MaxSeqLen: 320, BatchSize: 32, Epochs: 50, LearningRate: 1.2e-3, WarmupSteps: 200, ClassifierDropout: 0.20, WeightDecay: 0.01},
	},
}

// Names returns the task names in canonical GLUE order:
// cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte.
func Names() []string {
	names := make([]string, len(tasks))
	for i, t := range tasks {
		names[i] = t.Name
	}
	return names
}

// Lookup returns the task with the given Hugging Face config name. The error
// for an unknown name lists the valid ones (a GLUE folder name such as "SST-2"
// is pointed to its config name, since both spellings circulate).
func Lookup(name string) (Task, error) {
	for _, t := range tasks {
		if t.Name == name {
			return t.clone(), nil
		}
	}
	for _, t := range tasks {
		if strings.EqualFold(t.Folder, name) || strings.EqualFold(t.Name, name) {
			return Task{}, fmt.Errorf("glue: unknown task %q: did you mean %q? (valid: %s)", name, t.Name, strings.Join(Names(), ", "))
		}
	}
	return Task{}, fmt.Errorf("glue: unknown task %q (valid: %s)", name, strings.Join(Names(), ", "))
}

// clone copies the slices so that a caller editing its Task cannot change the
// registry seen by everyone else.
func (t Task) clone() Task {
	t.Labels = slices.Clone(t.Labels)
	t.Metrics = slices.Clone(t.Metrics)
	t.DevSplits = slices.Clone(t.DevSplits)
	return t
}
