package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vectorfit/harness/hub"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/suites/squad"
	"github.com/vectorfit/harness/train"
)

type squadSuite struct{}

// squadTasks maps task names to SQuAD versions, as Hugging Face names the datasets.
var squadTasks = map[string]string{"squad": squad.V1, "squad_v2": squad.V2}

// squadProtocol is SPEC §4's SQuAD v2.0 row, which we also use for v1.1.
var squadProtocol = protocol{epochs: 12, batch: 16, maxLen: 384, warmup: 1000, lr: 1e-3, weightDecay: 0}

func (squadSuite) tasks(o Options) ([]string, error) {
	switch o.Version {
	case "1.1":
		return []string{"squad"}, nil
	case "2.0":
		return []string{"squad_v2"}, nil
	case "":
	default:
		return nil, fmt.Errorf("-version %q: want 1.1 or 2.0", o.Version)
	}
	if o.Tasks == "all" {
		return []string{"squad", "squad_v2"}, nil
	}
	var out []string
	for _, t := range strings.Split(o.Tasks, ",") {
		t = strings.TrimSpace(t)
		if _, ok := squadTasks[t]; !ok {
			return nil, fmt.Errorf("-task %q: squad tasks are squad (v1.1) and squad_v2 (v2.0)", t)
		}
		out = append(out, t)
	}
	return out, nil
}

type squadTask struct {
	version    string
	train, dev squad.Dataset
	data       []reports.DataFile
	docStride  int
}

func (squadSuite) prepare(o Options, name string) (prepared, error) {
	version := squadTasks[name]
	trainPath, devPath, err := squadFiles(o, name, version)
	if err != nil {
		return nil, err
	}
	s := &squadTask{version: version, docStride: o.DocStride}
	if s.train, err = squad.Load(trainPath, version); err != nil {
		return nil, err
	}
	if s.dev, err = squad.Load(devPath, version); err != nil {
		return nil, err
	}
	if o.MaxTrain > 0 {
		s.train = s.train.Head(o.MaxTrain)
	}
	if o.MaxDev > 0 {
		s.dev = s.dev.Head(o.MaxDev)
	}
	for _, f := range []struct {
		role string
		ds   squad.Dataset
	}{{"train", s.train}, {"validation", s.dev}} {
		files, err := hashFiles(f.role, []string{f.ds.Path}, len(f.ds.Examples))
		if err != nil {
			return nil, err
		}
		s.data = append(s.data, files...)
	}
	return s, nil
}

// squadFiles finds the training and dev files: -train-data/-dev-data, else in the -data
// folder the official names (train-v2.0.json, dev-v2.0.json) or Hugging Face's
// rajpurkar/squad(_v2) parquet layout, else that dataset on the hub.
func squadFiles(o Options, name, version string) (string, string, error) {
	trainPath, devPath := o.TrainData, o.DevData
	if trainPath != "" && devPath != "" {
		return trainPath, devPath, nil
	}
	if o.Data == "synthetic" {
		return "", "", fmt.Errorf("squad has no synthetic data: pass -data (a folder with train-v%s.json and dev-v%s.json, or the Hugging Face parquet layout) or -train-data and -dev-data", version, version)
	}
	dir := o.Data
	if _, err := os.Stat(dir); err != nil {
		repo := map[string]string{"squad": "rajpurkar/squad", "squad_v2": "rajpurkar/squad_v2"}[name]
		if o.Data != repo {
			return "", "", fmt.Errorf("-data %q: no such folder", o.Data)
		}
		if dir, err = hub.FromEnv().Resolve("dataset", repo, []string{"*/*.parquet"}); err != nil {
			return "", "", err
		}
	}
	find := func(flagValue string, patterns ...string) (string, error) {
		if flagValue != "" {
			return flagValue, nil
		}
		for _, p := range patterns {
			if m, _ := filepath.Glob(filepath.Join(dir, p)); len(m) == 1 {
				return m[0], nil
			}
		}
		return "", fmt.Errorf("%s holds none of %s (or several)", dir, strings.Join(patterns, ", "))
	}
	tr, err := find(trainPath, "train-v"+version+".json", "*/train-*.parquet", "train-*.parquet")
	if err != nil {
		return "", "", err
	}
	dv, err := find(devPath, "dev-v"+version+".json", "*/validation-*.parquet", "validation-*.parquet")
	return tr, dv, err
}

func (s *squadTask) files() []reports.DataFile { return s.data }

func (s *squadTask) protocol(o Options, method string) protocol {
	p := baseProtocol(o, squadProtocol, method)
	stride := s.docStride
	if stride == 0 {
		stride = squad.DefaultDocStride
	}
	p.extra = map[string]any{"doc_stride": stride, "version": s.version, "max_dev": o.MaxDev}
	return p
}

func (s *squadTask) model(src modelSource, _ Options, seed int64) (built, error) {
	return buildText(src, textModel{head: bert.Span, numLabels: 2}, seed)
}

func (s *squadTask) newTask(b built, p protocol, seed int64, predDir string) (train.Task, string, error) {
	m, ok := b.model.(squad.SpanModel)
	if !ok {
		return nil, "", fmt.Errorf("%s has no span head", b.info.Name)
	}
	tok := b.extras.(*tokenize.Tokenizer)
	ft, err := squad.NewFinetune(m, tok, s.train, s.dev, squad.Options{
		BatchSize: p.batch, MaxLen: p.maxLen, DocStride: s.docStride, Seed: uint64(seed),
		OutDir: predDir, GroupByLength: p.groupByLength,
	})
	return ft, "f1", err
}
