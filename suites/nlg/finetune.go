package nlg

import (
	"fmt"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models/bart"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/train"
)

// Protocol is a summarisation task's training settings (SPEC §4).
type Protocol struct {
	SourceLen, TargetLen int // tokens, special tokens included
	Beams                int
	BatchSize, Epochs    int
	LearningRate         float64
}

// Protocols are SPEC §4's: XSum src 768 / tgt 64 with 8 beams, CNN/DM src 1024 / tgt
// 160 with 4, both at lr 5e-4.
var Protocols = map[string]Protocol{
	"xsum":          {SourceLen: 768, TargetLen: 64, Beams: 8, BatchSize: 8, Epochs: 25, LearningRate: 5e-4},
	"cnn_dailymail": {SourceLen: 1024, TargetLen: 160, Beams: 4, BatchSize: 4, Epochs: 15, LearningRate: 5e-4},
}

// Generator decodes a padded batch of sources (ids and attention mask, batch × seq)
// into output token ids, one slice per row (models/bart's generation).
type Generator func(ids, mask *ts.Tensor) ([][]int64, error)

// Detokenizer turns generated ids back into text.
type Detokenizer func(ids []int64) (string, error)

// mainScore picks the best evaluation: ROUGE-2, the most selective of the three the
// paper reports (ROUGE-1, ROUGE-2 and ROUGE-L are all recorded).
const mainScore = "rouge2"

// pair is one example, tokenised: the source with its special tokens, the target
// (the labels) likewise.
type pair struct {
	source, target []int64
}

// Finetune is a summarisation task for train.Run: token cross-entropy on the training
// pairs, ROUGE of generated summaries on the dev split.
type Finetune struct {
	Model          *bart.Model
	Train          []pair
	Dev            Split
	devSources     [][]int64
	BatchSize      int
	LabelSmoothing float64
	Generate       Generator
	Decode         Detokenizer
	// Predictions, when set, receives the predictions (id, prediction) of every
	// evaluation that is the best so far (main score higher; the earliest on ties).
	Predictions func(ids, predictions []string) error
	padID       int64
	seed        uint64
	best        float64
	haveBest    bool
}

// Options configure NewFinetune.
type Options struct {
	SourceLen, TargetLen int
	BatchSize            int
	LabelSmoothing       float64
	Seed                 uint64
}

// NewFinetune tokenises the splits: sources cut to SourceLen, targets to TargetLen
// tokens (as run_summarization's max_source_length / max_target_length, truncation on).
func NewFinetune(m *bart.Model, tok *tokenize.Tokenizer, trainSplit, dev Split, o Options, gen Generator, dec Detokenizer) (*Finetune, error) {
	if o.SourceLen < 2 || o.TargetLen < 2 || o.BatchSize < 1 {
		return nil, fmt.Errorf("nlg: source length %d, target length %d, batch %d: want ≥ 2, ≥ 2, ≥ 1", o.SourceLen, o.TargetLen, o.BatchSize)
	}
	if int64(o.SourceLen) > m.Config.MaxPositionEmbeddings || int64(o.TargetLen) > m.Config.MaxPositionEmbeddings {
		return nil, fmt.Errorf("nlg: source length %d or target length %d beyond the model's %d positions", o.SourceLen, o.TargetLen, m.Config.MaxPositionEmbeddings)
	}
	f := &Finetune{Model: m, Dev: dev, BatchSize: o.BatchSize, LabelSmoothing: o.LabelSmoothing, Generate: gen, Decode: dec,
		padID: m.Config.PadTokenID, seed: o.Seed}
	encode := func(text string, n int, where string) ([]int64, error) {
		e, err := tok.Encode(text, "", false, n)
		if err != nil {
			return nil, fmt.Errorf("nlg: %s: %w", where, err)
		}
		return e.IDs, nil
	}
	for i, ex := range trainSplit.Examples {
		where := fmt.Sprintf("%s example %d (id %s)", trainSplit.Path, i, ex.ID)
		src, err := encode(ex.Source, o.SourceLen, where)
		if err != nil {
			return nil, err
		}
		tgt, err := encode(ex.Target, o.TargetLen, where)
		if err != nil {
			return nil, err
		}
		f.Train = append(f.Train, pair{source: src, target: tgt})
	}
	for i, ex := range dev.Examples {
		src, err := encode(ex.Source, o.SourceLen, fmt.Sprintf("%s example %d (id %s)", dev.Path, i, ex.ID))
		if err != nil {
			return nil, err
		}
		f.devSources = append(f.devSources, src)
	}
	if len(f.Train) == 0 || len(f.devSources) == 0 {
		return nil, fmt.Errorf("nlg: %d training and %d dev examples, want both > 0", len(f.Train), len(f.devSources))
	}
	return f, nil
}

// batch is the indices of one training batch.
type batch []int

// Batches implements train.Task: a seeded shuffle per epoch.
func (f *Finetune) Batches(epoch int) ([]any, error) {
	var out []any
	for _, idx := range train.ShuffledBatches(len(f.Train), f.BatchSize, f.seed, epoch) {
		out = append(out, batch(idx))
	}
	return out, nil
}

// Loss implements train.Task: mean token cross-entropy, labels padded with −100.
func (f *Finetune) Loss(b any) (*ts.Tensor, error) {
	idx, ok := b.(batch)
	if !ok {
		return nil, fmt.Errorf("nlg: batch of type %T", b)
	}
	src, tgt := make([][]int64, len(idx)), make([][]int64, len(idx))
	for i, j := range idx {
		src[i], tgt[i] = f.Train[j].source, f.Train[j].target
	}
	dev := f.Model.Device()
	ids, mask := padded(src, f.padID, dev)
	labels, labelMask := padded(tgt, bart.IgnoreIndex, dev)
	for _, t := range []*ts.Tensor{ids, mask, labels, labelMask} {
		defer t.MustDrop()
	}
	return f.Model.Loss(bart.Batch{InputIDs: ids, AttentionMask: mask, Labels: labels}, f.LabelSmoothing), nil
}

// padded right-pads rows to the longest with pad, and returns the ids and the
// attention mask (1 on real tokens), batch × longest, on dev.
func padded(rows [][]int64, pad int64, dev gotch.Device) (ids, mask *ts.Tensor) {
	n := 0
	for _, r := range rows {
		n = max(n, len(r))
	}
	flat, m := make([]int64, 0, len(rows)*n), make([]int64, 0, len(rows)*n)
	for _, r := range rows {
		flat = append(flat, r...)
		for range r {
			m = append(m, 1)
		}
		for range n - len(r) {
			flat, m = append(flat, pad), append(m, 0)
		}
	}
	shape := []int64{int64(len(rows)), int64(n)}
	ids = ts.MustOfSlice(flat).MustView(shape, true).MustTo(dev, true)
	mask = ts.MustOfSlice(m).MustView(shape, true).MustTo(dev, true)
	return ids, mask
}

// Evaluate implements train.Task: generate a summary of every dev source, detokenise,
// split into sentences as run_summarization's postprocess_text, and score ROUGE.
// Main score: ROUGE-2 (all four F-measures are recorded).
func (f *Finetune) Evaluate() (train.Scores, error) {
	// Batches of sources of similar length (longest first), so each pads little; the
	// summaries go back to their examples' places.
	lengths := make([]int, len(f.devSources))
	for i, s := range f.devSources {
		lengths[i] = len(s)
	}
	preds := make([]string, len(f.devSources))
	for _, idx := range train.LengthSortedBatches(lengths, f.BatchSize) {
		rows := make([][]int64, len(idx))
		for i, j := range idx {
			rows[i] = f.devSources[j]
		}
		ids, mask := padded(rows, f.padID, f.Model.Device())
		out, err := f.Generate(ids, mask)
		ids.MustDrop()
		mask.MustDrop()
		if err != nil {
			return train.Scores{}, err
		}
		if len(out) != len(idx) {
			return train.Scores{}, fmt.Errorf("nlg: generation returned %d summaries for a batch of %d sources", len(out), len(idx))
		}
		for i, o := range out {
			text, err := f.Decode(o)
			if err != nil {
				return train.Scores{}, err
			}
			preds[idx[i]] = text
		}
	}
	refs, exIDs := make([]string, len(f.Dev.Examples)), make([]string, len(f.Dev.Examples))
	for i, ex := range f.Dev.Examples {
		refs[i], exIDs[i] = PostprocessText(ex.Target), ex.ID
	}
	scored := slices.Clone(preds)
	for i := range scored {
		scored[i] = PostprocessText(scored[i])
	}
	scores, err := CorpusRouge(scored, refs)
	if err != nil {
		return train.Scores{}, err
	}
	if main := scores[mainScore]; f.Predictions != nil && (!f.haveBest || main > f.best) {
		f.best, f.haveBest = main, true
		if err := f.Predictions(exIDs, preds); err != nil {
			return train.Scores{}, err
		}
	}
	return train.Scores{Main: mainScore, Values: scores}, nil
}

// SetTraining implements train.Task.
func (f *Finetune) SetTraining(on bool) { f.Model.SetTraining(on) }
