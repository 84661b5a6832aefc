package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vectorfit/harness/models/vit"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/suites/vision"
	"github.com/vectorfit/harness/train"
)

type visionSuite struct{}

func (visionSuite) tasks(o Options) ([]string, error) {
	if o.Tasks == "all" {
		var out []string
		for _, t := range vision.Tasks() {
			out = append(out, t.Name)
		}
		return out, nil
	}
	var out []string
	for _, n := range strings.Split(o.Tasks, ",") {
		t, err := vision.Lookup(strings.TrimSpace(n))
		if err != nil {
			return nil, err
		}
		out = append(out, t.Name)
	}
	return out, nil
}

type visionTask struct {
	task       vision.Task
	train, dev *vision.Dataset
	data       []reports.DataFile
}

// prepare reads -data's train and test splits (-train-split, -dev-split), or holds out
// -dev-fraction of the training split where the data has no separate dev split.
func (visionSuite) prepare(o Options, name string) (prepared, error) {
	t, err := vision.Lookup(name)
	if err != nil {
		return nil, err
	}
	if o.Data == "synthetic" || o.Data == "" {
		return nil, fmt.Errorf("the vision suite needs -data (an MNIST IDX folder, CIFAR-10 batches, an image folder per class, or Hugging Face parquet)")
	}
	if _, err := os.Stat(o.Data); err != nil {
		return nil, fmt.Errorf("-data %q: %w", o.Data, err)
	}
	trainSplit, devSplit := o.splits("test")
	if err := checkSplits(o, trainSplit, devSplit, "images"); err != nil {
		return nil, err
	}
	v := &visionTask{task: t}
	trainSet, err := vision.LoadSplit(t, o.Data, trainSplit)
	if err != nil {
		return nil, err
	}
	trainSet.MaxPixels = o.MaxPixels
	if o.DevFraction > 0 {
		if v.train, v.dev, err = trainSet.Split(o.DevFraction, 1); err != nil {
			return nil, err
		}
	} else {
		v.train = trainSet
		if v.dev, err = vision.LoadSplit(t, o.Data, devSplit); err != nil {
			return nil, fmt.Errorf("%w (data without a %q split can hold out part of the training split: -dev-fraction 0.1)", err, devSplit)
		}
		v.dev.MaxPixels = o.MaxPixels
	}
	if o.MaxTrain > 0 {
		v.train = v.train.Sample(o.MaxTrain, 1)
	}
	if o.MaxDev > 0 {
		v.dev = v.dev.Sample(o.MaxDev, 1)
	}
	// Every image's header, before the first step: a bad file fails now, not at its batch.
	for _, d := range []*vision.Dataset{v.train, v.dev} {
		if err := d.CheckHeaders(); err != nil {
			return nil, err
		}
	}
	v.data = []reports.DataFile{
		{Role: "train", Path: v.train.Source, Examples: len(v.train.Items)},
		{Role: "validation", Path: v.dev.Source, Examples: len(v.dev.Items)},
	}
	return v, nil
}

func (v *visionTask) files() []reports.DataFile { return v.data }

func (v *visionTask) protocol(o Options, method string) protocol {
	pr := v.task.Protocol
	p := baseProtocol(o, protocol{epochs: pr.Epochs, batch: pr.BatchSize, warmup: -1, lr: pr.LearningRate, weightDecay: pr.WeightDecay}, method)
	if p.warmup < 0 && p.warmupRatio == 0 { // neither -warmup nor -warmup-ratio
		p.warmupRatio = pr.WarmupRatio
	}
	p.extra = map[string]any{"augment": fmt.Sprintf("%+v", pr.Augment), "warmup_ratio": p.warmupRatio,
		"interpolate_pos_encoding": o.InterpolatePos}
	return p
}

func (v *visionTask) model(src modelSource, o Options, seed int64) (built, error) {
	if src.dir == "" {
		c := vit.Tiny()
		c.NumLabels = int64(v.task.NumClasses)
		m, err := vit.New(c, tinySeed)
		if err != nil {
			return built{}, err
		}
		m.InterpolatePos = o.InterpolatePos
		return built{model: m, info: src.info, extras: vision.ProcessorFor(int(c.ImageSize)), to: m.To}, nil
	}
	c, err := vit.LoadConfig(filepath.Join(src.dir, "config.json"))
	if err != nil {
		return built{}, err
	}
	c.NumLabels = int64(v.task.NumClasses)
	m, _, err := vit.LoadWithConfig(src.dir, c, uint64(seed))
	if err != nil {
		return built{}, err
	}
	m.InterpolatePos = o.InterpolatePos
	proc := vision.ProcessorFor(int(c.ImageSize))
	if pp := filepath.Join(src.dir, "preprocessor_config.json"); fileExists(pp) {
		if proc, err = vision.LoadProcessor(pp); err != nil {
			return built{}, err
		}
	}
	return built{model: m, info: src.info, extras: proc, to: m.To}, nil
}

func (v *visionTask) newTask(b built, p protocol, seed int64, _ string) (train.Task, string, error) {
	m, ok := b.model.(vision.Classifier)
	if !ok {
		return nil, "", fmt.Errorf("%s is not an image classifier", b.info.Name)
	}
	ft, err := vision.NewFinetune(v.task, m, b.extras.(vision.Processor), v.train, v.dev, p.batch, uint64(seed))
	return ft, v.task.Main, err
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
