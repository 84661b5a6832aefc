package vision

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Classifier is an image classifier as the suite uses it (*vit.Model is one).
type Classifier interface {
	models.Model
	// Forward returns batch × NumLabels logits from batch × 3 × height × width pixels.
	Forward(pixels *ts.Tensor) *ts.Tensor
	NumLabels() int64
	Device() gotch.Device
}

// inputChecker is implemented by models that can validate a pixel batch shape up
// front (vit.Model.CheckInput), so a wrong processor size fails before training.
type inputChecker interface {
	CheckInput(shape []int64) error
}

// Finetune is one image-classification task as the training engine sees it
// (train.Task): shuffled batches decoded in parallel (the next batch is decoded while
// the model trains on the current one), augmented as the protocol says, cross-entropy
// loss, and top-1 accuracy on the dev split.
type Finetune struct {
	Task      Task
	Model     Classifier
	Processor Processor
	// Augment is applied to training images (Task.Protocol.Augment by default).
	Augment   Augment
	BatchSize int
	// Workers decode images in parallel; 0 means one per CPU.
	Workers    int
	Train, Dev *Dataset
	seed       uint64
	epoch      []any     // the latest epoch's batches, for prefetching
	ahead      *prefetch // the batch being decoded in the background
}

// batch is one training batch: its place in the epoch and its item indices.
type batch struct {
	epoch, pos int
	idx        []int
}

// decoded is a batch of pixel values, or the errors of its images.
type decoded struct {
	pixels []float32
	err    error
}

type prefetch struct {
	epoch, pos int
	done       chan decoded
}

// NewFinetune checks that the data fit the model and the processor.
func NewFinetune(task Task, m Classifier, proc Processor, trainSet, dev *Dataset, batchSize int, seed uint64) (*Finetune, error) {
	switch {
	case batchSize <= 0:
		return nil, fmt.Errorf("vision: batch size %d, want > 0", batchSize)
	case trainSet == nil || len(trainSet.Items) == 0:
		return nil, fmt.Errorf("vision: %s: no training images", task.Name)
	case dev == nil || len(dev.Items) == 0:
		return nil, fmt.Errorf("vision: %s: no dev images", task.Name)
	case int64(len(trainSet.Classes)) != m.NumLabels():
		return nil, fmt.Errorf("vision: %s has %d classes, the model's head %d", trainSet.Source, len(trainSet.Classes), m.NumLabels())
	case !slices.Equal(dev.Classes, trainSet.Classes):
		return nil, fmt.Errorf("vision: dev classes %v (%s) differ from train classes %v (%s)", dev.Classes, dev.Source, trainSet.Classes, trainSet.Source)
	case proc.Height <= 0 || proc.Width <= 0:
		return nil, fmt.Errorf("vision: processor size %d×%d", proc.Height, proc.Width)
	}
	if c, ok := m.(inputChecker); ok {
		if err := c.CheckInput([]int64{1, 3, int64(proc.Height), int64(proc.Width)}); err != nil {
			return nil, err
		}
	}
	return &Finetune{
		Task: task, Model: m, Processor: proc, Augment: task.Protocol.Augment, BatchSize: batchSize,
		Train: trainSet, Dev: dev, seed: seed,
	}, nil
}

// Batches implements train.Task: a seeded shuffle per epoch.
func (f *Finetune) Batches(epoch int) ([]any, error) {
	var out []any
	for _, idx := range train.ShuffledBatches(len(f.Train.Items), f.BatchSize, f.seed, epoch) {
		out = append(out, batch{epoch: epoch, pos: len(out), idx: idx})
	}
	f.epoch = out
	return out, nil
}

// Loss implements train.Task: mean cross-entropy of the batch.
func (f *Finetune) Loss(b any) (*ts.Tensor, error) {
	bt, ok := b.(batch)
	if !ok {
		return nil, fmt.Errorf("vision: batch of type %T", b)
	}
	d := f.take(bt)
	f.prefetchNext(bt)
	if d.err != nil {
		return nil, d.err
	}
	px := f.tensor(d.pixels, len(bt.idx))
	defer px.MustDrop()
	labels := make([]int64, len(bt.idx))
	for i, j := range bt.idx {
		labels[i] = int64(f.Train.Items[j].Label)
	}
	target := ts.MustOfSlice(labels).MustTo(f.Model.Device(), true)
	defer target.MustDrop()
	logits := f.Model.Forward(px)
	defer logits.MustDrop()
	return logits.CrossEntropyForLogits(target), nil
}

// take returns bt's pixels: from the background decode if it is that batch, else
// decoded now.
func (f *Finetune) take(bt batch) decoded {
	if p := f.ahead; p != nil {
		f.ahead = nil
		r := <-p.done // also when it is another batch: no goroutine is left behind
		if p.epoch == bt.epoch && p.pos == bt.pos {
			return r
		}
	}
	return f.decodeTrain(bt)
}

// prefetchNext starts decoding the batch after bt in the background.
func (f *Finetune) prefetchNext(bt batch) {
	if bt.pos+1 >= len(f.epoch) {
		return
	}
	next, ok := f.epoch[bt.pos+1].(batch)
	if !ok || next.epoch != bt.epoch {
		return
	}
	p := &prefetch{epoch: next.epoch, pos: next.pos, done: make(chan decoded, 1)}
	f.ahead = p
	go func() { p.done <- f.decodeTrain(next) }()
}

// decodeTrain decodes and augments a training batch. Each image's augmentation is
// drawn from its own generator, seeded by (run seed, epoch, item), so the batch does
// not depend on which worker decodes which image.
func (f *Finetune) decodeTrain(bt batch) decoded {
	per := f.Processor.Size()
	out := make([]float32, len(bt.idx)*per)
	err := parallel(len(bt.idx), f.Workers, func(k int) error {
		it := f.Train.Items[bt.idx[k]]
		img, err := it.Image(f.Train.MaxPixels)
		if err != nil {
			return err
		}
		dst := out[k*per : (k+1)*per]
		if f.Augment.Enabled() {
			rng := rand.New(rand.NewPCG(f.seed^0x5eed, uint64(bt.epoch)<<32|uint64(bt.idx[k])))
			err = f.Processor.TrainPixels(img, f.Augment, rng, dst)
		} else {
			err = f.Processor.Pixels(img, dst)
		}
		if err != nil {
			return fmt.Errorf("vision: %s: %w", it.Path, err)
		}
		return nil
	})
	return decoded{pixels: out, err: err}
}

// decodeEval decodes items without augmentation, refusing images above maxPixels.
func (f *Finetune) decodeEval(items []Item, maxPixels int64) decoded {
	per := f.Processor.Size()
	out := make([]float32, len(items)*per)
	err := parallel(len(items), f.Workers, func(k int) error {
		img, err := items[k].Image(maxPixels)
		if err != nil {
			return err
		}
		if err := f.Processor.Pixels(img, out[k*per:(k+1)*per]); err != nil {
			return fmt.Errorf("vision: %s: %w", items[k].Path, err)
		}
		return nil
	})
	return decoded{pixels: out, err: err}
}

// tensor wraps n images of pixel values as an n × 3 × H × W tensor on the model's device.
func (f *Finetune) tensor(pixels []float32, n int) *ts.Tensor {
	shape := []int64{int64(n), 3, int64(f.Processor.Height), int64(f.Processor.Width)}
	t := ts.MustOfSlice(pixels).MustView(shape, true)
	if dev := f.Model.Device(); dev != gotch.CPU {
		t = t.MustTo(dev, true)
	}
	return t
}

// SetTraining implements train.Task.
func (f *Finetune) SetTraining(on bool) { f.Model.SetTraining(on) }

// Evaluate implements train.Task: top-1 accuracy on the dev split.
func (f *Finetune) Evaluate() (train.Scores, error) {
	pred, err := f.Predict(f.Dev)
	if err != nil {
		return train.Scores{}, err
	}
	correct := 0
	for i, p := range pred {
		if p == f.Dev.Items[i].Label {
			correct++
		}
	}
	acc := float64(correct) / float64(len(pred))
	return train.Scores{Main: MetricAccuracy, Values: map[string]float64{MetricAccuracy: acc}}, nil
}

// Predict returns the arg-max class of every image of d, decoding the next chunk while
// the model runs on the current one. The caller runs it with autograd off (the engine
// evaluates under no-grad).
func (f *Finetune) Predict(d *Dataset) ([]int, error) {
	size := 2 * f.BatchSize
	var chunks [][]Item
	for start := 0; start < len(d.Items); start += size {
		chunks = append(chunks, d.Items[start:min(start+size, len(d.Items))])
	}
	decodeAsync := func(items []Item) chan decoded {
		c := make(chan decoded, 1)
		go func() { c <- f.decodeEval(items, d.MaxPixels) }()
		return c
	}
	out := make([]int, 0, len(d.Items))
	var next chan decoded
	if len(chunks) > 0 {
		next = decodeAsync(chunks[0])
	}
	for k, items := range chunks {
		r := <-next
		if k+1 < len(chunks) {
			next = decodeAsync(chunks[k+1])
		}
		if r.err != nil {
			if k+1 < len(chunks) {
				<-next
			}
			return nil, r.err
		}
		px := f.tensor(r.pixels, len(items))
		logits := f.Model.Forward(px)
		px.MustDrop()
		am := logits.MustArgmax([]int64{-1}, false, false)
		logits.MustDrop()
		for _, v := range am.Int64Values() {
			out = append(out, int(v))
		}
		am.MustDrop()
	}
	return out, nil
}

var _ train.Task = (*Finetune)(nil)
