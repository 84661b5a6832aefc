package glue

import (
	"fmt"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/train"
)

// encoded is one tokenised example.
type encoded struct {
	ids, types []int64
	label      int64
	score      float64
}

// Finetune is one GLUE task on a BERT-family encoder, as the training engine sees it
// (train.Task): shuffled batches with dynamic padding, cross-entropy (or MSE for STS-B)
// and the task's metrics on every dev split.
type Finetune struct {
	Task      Task
	Model     models.SequenceClassifier
	BatchSize int
	// GroupByLength orders training batches as transformers' group_by_length
	// (train.LengthGroupedBatches) instead of a plain shuffle.
	GroupByLength bool
	train         []encoded
	dev           []devSplit
	padID         int64
	seed          uint64
}

type devSplit struct {
	split Split
	enc   []encoded
}

// NewFinetune tokenises the splits once, truncating to maxLen.
func NewFinetune(task Task, m models.SequenceClassifier, tok *tokenize.Tokenizer, trainSplit Split, dev []Split, batchSize, maxLen int, seed uint64) (*Finetune, error) {
	if batchSize <= 0 {
		return nil, fmt.Errorf("batch size %d, want > 0", batchSize)
	}
	if int64(task.NumLabels) != m.NumLabels() {
		return nil, fmt.Errorf("%s has %d labels, the model's head %d", task.Name, task.NumLabels, m.NumLabels())
	}
	f := &Finetune{Task: task, Model: m, BatchSize: batchSize, padID: tok.PadID(), seed: seed}
	var err error
	if f.train, err = encodeSplit(task, tok, trainSplit, maxLen); err != nil {
		return nil, err
	}
	if len(f.train) == 0 {
		return nil, fmt.Errorf("%s: no labelled training examples", trainSplit.Path)
	}
	for _, d := range dev {
		enc, err := encodeSplit(task, tok, d, maxLen)
		if err != nil {
			return nil, err
		}
		f.dev = append(f.dev, devSplit{split: d, enc: enc})
	}
	return f, nil
}

func encodeSplit(task Task, tok *tokenize.Tokenizer, s Split, maxLen int) ([]encoded, error) {
	out := make([]encoded, 0, len(s.Examples))
	for _, ex := range s.Examples {
		if !ex.HasLabel {
			continue
		}
		e, err := tok.Encode(ex.Text1, ex.Text2, task.Pair, maxLen)
		if err != nil {
			return nil, fmt.Errorf("%s example %d: %w", s.Path, ex.Idx, err)
		}
		out = append(out, encoded{ids: e.IDs, types: e.TypeIDs, label: int64(ex.Label), score: ex.Score})
	}
	return out, nil
}

// batch is the indices of one training batch.
type batch []int

// Batches implements train.Task: a seeded shuffle per epoch, grouped by length under
// GroupByLength.
func (f *Finetune) Batches(epoch int) ([]any, error) {
	order := train.ShuffledBatches(len(f.train), f.BatchSize, f.seed, epoch)
	if f.GroupByLength {
		order = train.LengthGroupedBatches(lengthsOf(f.train), f.BatchSize, f.seed, epoch)
	}
	var out []any
	for _, idx := range order {
		out = append(out, batch(idx))
	}
	return out, nil
}

// Loss implements train.Task.
func (f *Finetune) Loss(b any) (*ts.Tensor, error) {
	idx, ok := b.(batch)
	if !ok {
		return nil, fmt.Errorf("glue: batch of type %T", b)
	}
	in := f.pad(f.train, idx)
	defer in.Drop()
	logits := f.Model.Forward(in)
	defer logits.MustDrop()
	if f.Task.NumLabels == 1 {
		scores := make([]float32, len(idx))
		for i, j := range idx {
			scores[i] = float32(f.train[j].score)
		}
		target := ts.MustOfSlice(scores).MustTo(f.Model.Device(), true)
		defer target.MustDrop()
		pred := logits.MustSqueezeDim(1, false)
		defer pred.MustDrop()
		return pred.MustMseLoss(target, 1, false), nil // 1: mean reduction
	}
	labels := make([]int64, len(idx))
	for i, j := range idx {
		labels[i] = f.train[j].label
	}
	target := ts.MustOfSlice(labels).MustTo(f.Model.Device(), true)
	defer target.MustDrop()
	return logits.CrossEntropyForLogits(target), nil
}

// pad builds the batch of data[idx], padded to its longest sequence.
func (f *Finetune) pad(data []encoded, idx []int) models.Batch {
	ids, types := make([][]int64, len(idx)), make([][]int64, len(idx))
	for i, j := range idx {
		ids[i], types[i] = data[j].ids, data[j].types
	}
	return models.PadBatch(ids, types, f.padID, f.Model.Device())
}

// SetTraining implements train.Task.
func (f *Finetune) SetTraining(on bool) { f.Model.SetTraining(on) }

// Evaluate implements train.Task: the task's metrics on each dev split. Scores of the
// second and later splits carry a suffix ("_mm" for MNLI mismatched).
func (f *Finetune) Evaluate() (train.Scores, error) {
	all := map[string]float64{}
	for i, d := range f.dev {
		preds := f.Predict(d.enc)
		var gold []Example
		for _, ex := range d.split.Examples {
			if ex.HasLabel {
				gold = append(gold, ex)
			}
		}
		scores, err := Compute(f.Task, preds, gold)
		if err != nil {
			return train.Scores{}, fmt.Errorf("%s: %w", d.split.Path, err)
		}
		for k, v := range scores {
			// A correlation of constant predictions (early STS-B) is undefined: NaN, as
			// in scipy. It stays NaN: train.Run never picks it as the best evaluation
			// over a defined one, records write it null and tables n/a.
			all[k+splitSuffix(i, d.split.Name)] = v
		}
	}
	return train.Scores{Main: f.Task.Main, Values: all}, nil
}

func splitSuffix(i int, name string) string {
	switch {
	case i == 0:
		return ""
	case strings.HasSuffix(name, "mismatched"):
		return "_mm"
	}
	return "_" + name
}

// Predict returns a prediction per example, in data's order: the arg-max class id, or
// the STS-B score. It runs batches of 2 × BatchSize examples of similar length (longest
// first, train.LengthSortedBatches), so each pads to little more than its own tokens,
// and writes each prediction back at its example's index: the scores are those of
// batches in file order. The caller runs it with autograd off (the engine evaluates
// under no-grad).
func (f *Finetune) Predict(data []encoded) []float64 {
	return f.predict(data, train.LengthSortedBatches(lengthsOf(data), 2*f.BatchSize))
}

// predict runs the model over data in the given batches of indices and returns the
// predictions in data's order.
func (f *Finetune) predict(data []encoded, batches [][]int) []float64 {
	out := make([]float64, len(data))
	for _, idx := range batches {
		in := f.pad(data, idx)
		logits := f.Model.Forward(in)
		in.Drop()
		var vals []float64
		if f.Task.NumLabels == 1 {
			vals = logits.Float64Values()
		} else {
			am := logits.MustArgmax([]int64{-1}, false, false)
			for _, v := range am.Int64Values() {
				vals = append(vals, float64(v))
			}
			am.MustDrop()
		}
		logits.MustDrop()
		for i, j := range idx {
			out[j] = vals[i]
		}
	}
	return out
}

// lengthsOf is each example's token count.
func lengthsOf(data []encoded) []int {
	out := make([]int, len(data))
	for i, e := range data {
		out[i] = len(e.ids)
	}
	return out
}

var _ train.Task = (*Finetune)(nil)
