package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/vectorfit/harness/hub"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/suites/glue"
	"github.com/vectorfit/harness/train"
)

type glueSuite struct{}

func (glueSuite) tasks(o Options) ([]string, error) {
	list := o.Tasks
	if list == "all" {
		return glue.Names(), nil
	}
	var out []string
	for _, n := range strings.Split(list, ",") {
		t, err := glue.Lookup(strings.TrimSpace(n))
		if err != nil {
			return nil, err
		}
		out = append(out, t.Name)
	}
	return out, nil
}

type glueTask struct {
	task  glue.Task
	train glue.Split
	dev   []glue.Split
	data  []reports.DataFile
	o     Options
}

func (glueSuite) prepare(o Options, name string) (prepared, error) {
	t, err := glue.Lookup(name)
	if err != nil {
		return nil, err
	}
	g := &glueTask{task: t, o: o}
	if o.Data == "synthetic" {
		g.train, g.dev = glue.Synthetic(t, 1, o.SyntheticN, o.SyntheticDev)
		for _, s := range append([]glue.Split{g.train}, g.dev...) {
			g.data = append(g.data, reports.DataFile{Role: s.Name, Path: s.Path, Examples: len(s.Examples)})
		}
		return g, nil
	}
	path := o.Data
	if _, err := os.Stat(path); err != nil {
		dir, herr := hub.FromEnv().Resolve("dataset", o.Data, []string{t.Name + "/*"})
		if herr != nil {
			return nil, fmt.Errorf("-data %q is not a local folder (%v) and not on the hub: %w", o.Data, err, herr)
		}
		path = dir
	}
	if g.train, g.dev, err = loadGLUE(t, path, o.MaxTrain); err != nil {
		return nil, err
	}
	for _, s := range append([]glue.Split{g.train}, g.dev...) {
		files, err := hashFiles(s.Name, s.Files, len(s.Examples))
		if err != nil {
			return nil, err
		}
		g.data = append(g.data, files...)
	}
	return g, nil
}

// loadGLUE reads a task's train split, cut to its first maxTrain rows (0: all), and
// its dev splits whole: -max-train shortens training, never the evaluation. The cut
// happens while reading, so the rest of a large train file is neither kept nor
// tokenised; which rows are used is the same as cutting after loading (the first
// maxTrain labelled rows in file order; the seeded shuffle is per epoch, over those).
func loadGLUE(t glue.Task, path string, maxTrain int) (glue.Split, []glue.Split, error) {
	splits, err := glue.LoadSplits(t, path, []string{glue.SplitTrain}, glue.LoadOptions{MaxExamples: maxTrain})
	if err != nil {
		return glue.Split{}, nil, err
	}
	dev, err := glue.LoadSplits(t, path, t.DevSplits, glue.LoadOptions{})
	if err != nil {
		return glue.Split{}, nil, err
	}
	return splits[0], dev, nil
}

func (g *glueTask) files() []reports.DataFile { return g.data }

func (g *glueTask) protocol(o Options, method string) protocol {
	pr := g.task.Protocol
	drop := pr.ClassifierDropout
	if o.ClsDropout >= 0 {
		drop = o.ClsDropout
	}
	return baseProtocol(o, protocol{
		epochs: pr.Epochs, batch: pr.BatchSize, maxLen: pr.MaxSeqLen, warmup: pr.WarmupSteps,
		weightDecay: pr.WeightDecay, lr: pr.LearningRate, extra: map[string]any{"cls_dropout": drop},
	}, method)
}

func (g *glueTask) model(src modelSource, o Options, seed int64) (built, error) {
	drop := g.task.Protocol.ClassifierDropout
	if o.ClsDropout >= 0 {
		drop = o.ClsDropout
	}
	return buildText(src, textModel{head: bert.Classification, numLabels: int64(g.task.NumLabels), clsDropout: drop}, seed)
}

func (g *glueTask) newTask(b built, p protocol, seed int64, _ string) (train.Task, string, error) {
	m, ok := b.model.(models.SequenceClassifier)
	if !ok {
		return nil, "", fmt.Errorf("%s has no sequence-classification head", b.info.Name)
	}
	tok := b.extras.(*tokenize.Tokenizer)
	ft, err := glue.NewFinetune(g.task, m, tok, g.train, g.dev, p.batch, p.maxLen, uint64(seed))
	if err != nil {
		return nil, "", err
	}
	ft.GroupByLength = p.groupByLength
	return ft, g.task.Main, nil
}
