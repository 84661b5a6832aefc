package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models/bart"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/suites/nlg"
	"github.com/vectorfit/harness/train"
)

// nlgSuite is summarisation (SPEC §3): XSum and CNN/DailyMail with BART, ROUGE of
// beam-searched summaries.
type nlgSuite struct{}

func (nlgSuite) tasks(o Options) ([]string, error) {
	if o.Tasks == "all" {
		return nlg.Names(), nil
	}
	var out []string
	for _, n := range strings.Split(o.Tasks, ",") {
		t, ok := nlg.Lookup(strings.TrimSpace(n))
		if !ok {
			return nil, fmt.Errorf("-task %q: the nlg suite has %v", n, nlg.Names())
		}
		out = append(out, t.Name)
	}
	return out, nil
}

type nlgTask struct {
	task       nlg.Task
	train, dev nlg.Split
	data       []reports.DataFile
	synthetic  bool
}

// prepare reads -data's train and dev splits (-train-split, -dev-split: train and
// validation), or holds out -dev-fraction of the training split; -data synthetic is the
// built-in copy-the-first-sentence task.
func (nlgSuite) prepare(o Options, name string) (prepared, error) {
	t, _ := nlg.Lookup(name)
	n := &nlgTask{task: t}
	switch {
	case o.Data == "synthetic":
		n.train, n.dev = nlg.Synthetic(o.SyntheticN, o.SyntheticDev, 1)
		n.synthetic = true
	case o.Data == "":
		return nil, fmt.Errorf("the nlg suite needs -data: a folder of %s (Hugging Face parquet or JSON lines, the original release, or .source/.target files), a split file, or synthetic", name)
	default:
		if err := n.read(o); err != nil {
			return nil, err
		}
	}
	if o.MaxTrain > 0 && o.MaxTrain < len(n.train.Examples) {
		n.train.Examples = n.train.Examples[:o.MaxTrain]
	}
	if o.MaxDev > 0 && o.MaxDev < len(n.dev.Examples) {
		n.dev.Examples = n.dev.Examples[:o.MaxDev]
	}
	for _, s := range []struct {
		role  string
		split nlg.Split
	}{{"train", n.train}, {"validation", n.dev}} {
		files := s.split.Files
		if len(files) == 0 || o.Data == "synthetic" {
			n.data = append(n.data, reports.DataFile{Role: s.role, Path: s.split.Path, Examples: len(s.split.Examples)})
			continue
		}
		hashed, err := hashFiles(s.role, regularFiles(files), len(s.split.Examples))
		if err != nil {
			return nil, err
		}
		n.data = append(n.data, hashed...)
	}
	return n, nil
}

// read loads the splits from a folder or a file.
func (n *nlgTask) read(o Options) error {
	trainSplit, devSplit := o.splits("validation")
	if err := checkSplits(o, trainSplit, devSplit, "examples"); err != nil {
		return err
	}
	load := func(split string) (nlg.Split, error) {
		if fi, err := os.Stat(o.Data); err == nil && !fi.IsDir() {
			return nlg.ReadFile(n.task, split, o.Data, nlg.LoadOptions{})
		}
		s, err := nlg.LoadSplits(n.task, o.Data, []string{split}, nlg.LoadOptions{})
		if err != nil {
			return nlg.Split{}, err
		}
		return s[0], nil
	}
	var err error
	if n.train, err = load(trainSplit); err != nil {
		return err
	}
	if o.DevFraction > 0 {
		n.train, n.dev, err = n.train.HoldOut(o.DevFraction, 1)
		return err
	}
	if n.dev, err = load(devSplit); err != nil {
		return fmt.Errorf("%w (data without a %q split can hold out part of the training split: -dev-fraction 0.1)", err, devSplit)
	}
	return nil
}

// regularFiles drops folders (a split's story folder) from the files to hash.
func regularFiles(paths []string) []string {
	var out []string
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	return out
}

func (n *nlgTask) files() []reports.DataFile { return n.data }

// nlgProtocol holds a task's summary length and beams beside the common settings.
func (n *nlgTask) protocol(o Options, method string) protocol {
	pr := nlg.Protocols[n.task.Name]
	p := baseProtocol(o, protocol{epochs: pr.Epochs, batch: pr.BatchSize, maxLen: pr.SourceLen, lr: pr.LearningRate}, method)
	targetLen, beams := pr.TargetLen, pr.Beams
	if o.TargetLen > 0 {
		targetLen = o.TargetLen
	}
	if o.Beams > 0 {
		beams = o.Beams
	}
	p.extra = map[string]any{"target_len": targetLen, "beams": beams, "label_smoothing": o.LabelSmoothing,
		"max_dev": o.MaxDev, "dev_fraction": o.DevFraction}
	return p
}

// model builds BART: the built-in tiny one on the built-in tokenizer (on the synthetic
// task, pre-trained: tiny_bart.go), or a checkpoint with its tokenizer.json and
// generation defaults (config.json, generation_config.json).
func (n *nlgTask) model(src modelSource, _ Options, seed int64) (built, error) {
	if src.dir == "" {
		c, tok, err := tinyBARTConfig(n.synthetic)
		if err != nil {
			return built{}, err
		}
		var m *bart.Model
		if src.tinyWeights != "" {
			m, err = loadTinyBART(c, src.tinyWeights)
		} else {
			m, err = bart.New(c, tinySeed)
		}
		if err != nil {
			return built{}, err
		}
		return built{model: m, info: src.info, extras: nlgExtras{tok, bart.DefaultGeneration(c)}, to: m.To}, nil
	}
	m, _, err := bart.Load(src.dir)
	if err != nil {
		return built{}, err
	}
	tok, err := tokenize.Load(filepath.Join(src.dir, "tokenizer.json"))
	if err != nil {
		return built{}, err
	}
	gen, err := bart.LoadGeneration(src.dir)
	if err != nil {
		return built{}, err
	}
	return built{model: m, info: src.info, extras: nlgExtras{tok, gen}, to: m.To}, nil
}

type nlgExtras struct {
	tok *tokenize.Tokenizer
	gen bart.GenerationConfig
}

func (n *nlgTask) newTask(b built, p protocol, seed int64, predDir string) (train.Task, string, error) {
	m, ok := b.model.(*bart.Model)
	if !ok {
		return nil, "", fmt.Errorf("%s is not a BART model (model_type bart)", b.info.Name)
	}
	x := b.extras.(nlgExtras)
	gen := x.gen
	gen.NumBeams, gen.MaxLength = int64(p.extra["beams"].(int)), int64(p.extra["target_len"].(int))
	gen.MaxNewTokens = 0
	if gen.MinLength >= gen.MaxLength {
		gen.MinLength = 0 // a checkpoint's min_length (bart-large-cnn: 56) beyond a shortened target
	}
	if err := gen.Validate(m.Config, b.info.Name); err != nil {
		return nil, "", err
	}
	generate := func(ids, mask *ts.Tensor) ([][]int64, error) { return m.Generate(ids, mask, gen) }
	decode := func(ids []int64) (string, error) { return x.tok.Decode(ids, true) }
	ft, err := nlg.NewFinetune(m, x.tok, n.train, n.dev, nlg.Options{
		SourceLen: p.maxLen, TargetLen: p.extra["target_len"].(int), BatchSize: p.batch,
		LabelSmoothing: p.extra["label_smoothing"].(float64), Seed: uint64(seed),
	}, generate, decode)
	if err != nil {
		return nil, "", err
	}
	ft.Predictions = func(ids, preds []string) error {
		return nlg.WritePredictions(filepath.Join(predDir, "predictions.jsonl"), ids, preds)
	}
	return ft, "rouge2", nil
}
