package squad

import (
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/train"
)

// SpanModel is an encoder with a span head, as the suite uses it (*bert.Model with
// head bert.Span is one).
type SpanModel interface {
	models.Model
	// Forward returns batch × seq × 2 logits: start in [..., 0], end in [..., 1].
	Forward(models.Batch) *ts.Tensor
	Device() gotch.Device
}

// Options are the suite's settings; zero values mean run_qa's defaults.
type Options struct {
	BatchSize    int // required
	MaxLen       int // 384
	DocStride    int // 128 (the windows' overlap)
	MaxQueryLen  int // 64 (question tokens kept)
	NBest        int // 20
	MaxAnswerLen int // 30 (tokens)
	Seed         uint64
	// GroupByLength orders training batches as transformers' group_by_length
	// (train.LengthGroupedBatches) instead of a plain shuffle.
	GroupByLength bool
	// OutDir, if set, receives predictions.json (and na_prob.json for v2.0: the
	// null odds) of the best evaluation so far, in the official formats.
	OutDir string
}

func (o Options) withDefaults() Options {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxLen, DefaultMaxLen)
	def(&o.DocStride, DefaultDocStride)
	def(&o.MaxQueryLen, DefaultMaxQueryLen)
	def(&o.NBest, DefaultNBest)
	def(&o.MaxAnswerLen, DefaultMaxAnswerLen)
	return o
}

// Finetune is SQuAD extractive question answering as the training engine sees it
// (train.Task): shuffled batches of training windows with dynamic padding, loss
// (CE(start) + CE(end)) / 2 as transformers' BertForQuestionAnswering, and the
// official scores of the dev set after run_qa's post-processing.
type Finetune struct {
	Model   SpanModel
	Options Options
	// Train are the training windows; Dev the scored questions and DevFeatures
	// their windows.
	Train       []Feature
	Dev         Dataset
	DevFeatures []Feature
	padID       int64

	latest, best evaluation
	haveBest     bool
	bestF1       float64
}

// evaluation is the predictions of one evaluation.
type evaluation struct {
	preds  map[string]string
	naProb map[string]float64
}

// NewFinetune builds the windows of both sets once.
func NewFinetune(m SpanModel, tok *tokenize.Tokenizer, trainSet, dev Dataset, o Options) (*Finetune, error) {
	o = o.withDefaults()
	switch {
	case o.BatchSize <= 0:
		return nil, fmt.Errorf("squad: batch size %d, want > 0", o.BatchSize)
	case len(trainSet.Examples) == 0:
		return nil, fmt.Errorf("squad: %s: no training questions", trainSet.Path)
	case len(dev.Examples) == 0:
		return nil, fmt.Errorf("squad: %s: no dev questions", dev.Path)
	}
	f := &Finetune{Model: m, Options: o, Dev: dev, padID: tok.PadID()}
	var err error
	if f.Train, err = BuildFeatures(trainSet.Examples, tok, o.MaxLen, o.DocStride, o.MaxQueryLen); err != nil {
		return nil, fmt.Errorf("%s: %w", trainSet.Path, err)
	}
	if f.DevFeatures, err = BuildFeatures(dev.Examples, tok, o.MaxLen, o.DocStride, o.MaxQueryLen); err != nil {
		return nil, fmt.Errorf("%s: %w", dev.Path, err)
	}
	return f, nil
}

// batch is the indices of one training batch into Train.
type batch []int

// Batches implements train.Task: a seeded shuffle of the training windows per epoch,
// grouped by length under Options.GroupByLength.
func (f *Finetune) Batches(epoch int) ([]any, error) {
	o := f.Options
	order := train.ShuffledBatches(len(f.Train), o.BatchSize, o.Seed, epoch)
	if o.GroupByLength {
		order = train.LengthGroupedBatches(featureLengths(f.Train), o.BatchSize, o.Seed, epoch)
	}
	var out []any
	for _, idx := range order {
		out = append(out, batch(idx))
	}
	return out, nil
}

// Loss implements train.Task: the mean of the start and end cross-entropies.
func (f *Finetune) Loss(b any) (*ts.Tensor, error) {
	idx, ok := b.(batch)
	if !ok {
		return nil, fmt.Errorf("squad: batch of type %T", b)
	}
	in := f.pad(f.Train, idx)
	defer in.Drop()
	logits := f.Model.Forward(in)
	defer logits.MustDrop()
	starts, ends := make([]int64, len(idx)), make([]int64, len(idx))
	for i, j := range idx {
		starts[i], ends[i] = int64(f.Train[j].StartPos), int64(f.Train[j].EndPos)
	}
	lossOf := func(which int64, target []int64) *ts.Tensor {
		t := ts.MustOfSlice(target).MustTo(f.Model.Device(), true)
		defer t.MustDrop()
		x := logits.MustSelect(2, which, false) // batch × seq
		defer x.MustDrop()
		return x.CrossEntropyForLogits(t)
	}
	ls, le := lossOf(0, starts), lossOf(1, ends)
	defer ls.MustDrop()
	defer le.MustDrop()
	return ls.MustAdd(le, false).MustDivScalar(ts.FloatScalar(2), true), nil
}

// pad builds the batch of windows data[idx], padded to the longest.
func (f *Finetune) pad(data []Feature, idx []int) models.Batch {
	ids, types := make([][]int64, len(idx)), make([][]int64, len(idx))
	for i, j := range idx {
		ids[i], types[i] = data[j].InputIDs, data[j].TypeIDs
	}
	return models.PadBatch(ids, types, f.padID, f.Model.Device())
}

// SetTraining implements train.Task.
func (f *Finetune) SetTraining(on bool) { f.Model.SetTraining(on) }

// Evaluate implements train.Task: post-processing and the official scores on the
// dev set. train.Scores hold fractions (official percentages / 100; counts and
// thresholds as they are), Main "f1". The engine calls it under no-grad.
func (f *Finetune) Evaluate() (train.Scores, error) {
	start, end, err := f.Logits(f.DevFeatures)
	if err != nil {
		return train.Scores{}, err
	}
	o := f.Options
	preds, na, err := Postprocess(f.Dev.Examples, f.DevFeatures, start, end, o.NBest, o.MaxAnswerLen, f.Dev.IsV2())
	if err != nil {
		return train.Scores{}, err
	}
	official, err := Evaluate(f.Dev, preds, na, DefaultNAThreshold)
	if err != nil {
		return train.Scores{}, err
	}
	scores := ToFractions(official)
	f.latest = evaluation{preds: preds, naProb: na}
	if f1 := scores.Values["f1"]; !f.haveBest || f1 > f.bestF1 || (math.IsNaN(f.bestF1) && !math.IsNaN(f1)) {
		f.best, f.bestF1, f.haveBest = f.latest, f1, true
		if err := f.writeBest(); err != nil {
			return train.Scores{}, err
		}
	}
	return scores, nil
}

// ToFractions turns official scores into train.Scores: percentages divided by 100
// (exact_match and exact become "exact"), counts and thresholds unchanged, Main "f1".
func ToFractions(official map[string]float64) train.Scores {
	values := map[string]float64{}
	for k, v := range official {
		switch {
		case strings.HasSuffix(k, "_total") || k == "total" || strings.HasSuffix(k, "_thresh"):
			values[k] = v
		case k == "exact_match":
			values["exact"] = v / 100
		default:
			values[k] = v / 100
		}
	}
	return train.Scores{Main: "f1", Values: values}
}

func (f *Finetune) writeBest() error {
	if f.Options.OutDir == "" {
		return nil
	}
	if err := WritePredictions(filepath.Join(f.Options.OutDir, "predictions.json"), f.best.preds); err != nil {
		return err
	}
	if f.best.naProb != nil {
		return WriteNAProbs(filepath.Join(f.Options.OutDir, "na_prob.json"), f.best.naProb)
	}
	return nil
}

// Latest returns the predictions (and v2.0 null odds) of the latest evaluation;
// Best those of the evaluation with the highest F1 (the earliest on ties, as
// train.Run picks its best).
func (f *Finetune) Latest() (map[string]string, map[string]float64) {
	return f.latest.preds, f.latest.naProb
}

// Best: see Latest.
func (f *Finetune) Best() (map[string]string, map[string]float64) {
	return f.best.preds, f.best.naProb
}

// Logits runs the model over windows, in batches of twice the training batch size,
// and returns each window's start and end logits (as long as the window) in data's
// order. The batches hold windows of similar length, longest first
// (train.LengthSortedBatches), so each pads to little more than its own tokens; the
// logits are written back at each window's index. The caller runs it with autograd
// off (the engine evaluates under no-grad).
func (f *Finetune) Logits(data []Feature) (start, end [][]float32, err error) {
	return f.logits(data, train.LengthSortedBatches(featureLengths(data), 2*f.Options.BatchSize))
}

// logits runs the model over data in the given batches of indices.
func (f *Finetune) logits(data []Feature, batches [][]int) (start, end [][]float32, err error) {
	start, end = make([][]float32, len(data)), make([][]float32, len(data))
	for _, idx := range batches {
		in := f.pad(data, idx)
		logits := f.Model.Forward(in)
		in.Drop()
		shape := logits.MustSize()
		if len(shape) != 3 || shape[0] != int64(len(idx)) || shape[2] != 2 {
			logits.MustDrop()
			return nil, nil, fmt.Errorf("squad: the model returned logits of shape %v, want %d × seq × 2", shape, len(idx))
		}
		vals := floatValues(logits)
		logits.MustDrop()
		seq := int(shape[1])
		for i, j := range idx {
			n := len(data[j].InputIDs)
			s, e := make([]float32, n), make([]float32, n)
			for k := range n {
				s[k] = vals[(i*seq+k)*2]
				e[k] = vals[(i*seq+k)*2+1]
			}
			start[j], end[j] = s, e
		}
	}
	return start, end, nil
}

// featureLengths is each window's token count.
func featureLengths(data []Feature) []int {
	out := make([]int, len(data))
	for i, d := range data {
		out[i] = len(d.InputIDs)
	}
	return out
}

// floatValues copies a tensor's values to Go as float32 (from the CPU, contiguous).
func floatValues(t *ts.Tensor) []float32 {
	x := t.MustTotype(gotch.Float, false)
	if x.MustDevice() != gotch.CPU {
		x = x.MustTo(gotch.CPU, true)
	}
	x = x.MustContiguous(true)
	defer x.MustDrop()
	n := x.Numel()
	out := make([]float32, n)
	x.MustCopyData(out, n)
	return out
}

var _ train.Task = (*Finetune)(nil)
