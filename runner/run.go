package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/hub"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/suites/glue"
	"github.com/vectorfit/harness/train"
)

// job is one (task, method, seed) run.
type job struct {
	task   glue.Task
	method string
	seed   int64
}

// runAll trains every job, writing one record each as it finishes: a run that dies
// leaves the finished records intact. It returns the records written.
func runAll(o Options, stderr io.Writer) ([]reports.Record, error) {
	if o.Suite != "glue" {
		return nil, fmt.Errorf("-suite %q: this build runs glue (squad, nlg, vision and diffusion are planned)", o.Suite)
	}
	tasks, err := parseTasks(o.Tasks)
	if err != nil {
		return nil, err
	}
	names, err := registry.ParseList(o.Methods)
	if err != nil {
		return nil, err
	}
	seeds, err := o.seeds()
	if err != nil {
		return nil, err
	}
	dev, err := resolveDevice(o.Device)
	if err != nil {
		return nil, err
	}
	src, err := resolveModel(o.Model)
	if err != nil {
		return nil, err
	}
	// Resolve every method's options before any training: a typo fails in a second.
	for _, n := range names {
		if _, err := newMethod(o, n, 0); err != nil {
			return nil, err
		}
	}
	var done []reports.Record
	for _, t := range tasks {
		data, err := loadData(o, t)
		if err != nil {
			return done, err
		}
		for _, m := range names {
			for _, s := range seeds {
				rec, err := runOne(o, job{task: t, method: m, seed: s}, src, data, dev, stderr)
				if err != nil {
					return done, fmt.Errorf("%s %s seed %d: %w", t.Name, m, s, err)
				}
				path, err := reports.Write(o.Out, rec)
				if err != nil {
					return done, err
				}
				fmt.Fprintf(stderr, "%s %s seed %d: %s %.4f -> %s\n", t.Name, m, s, rec.MainScore, rec.Scores[rec.MainScore], path)
				done = append(done, rec)
			}
		}
	}
	return done, nil
}

func parseTasks(list string) ([]glue.Task, error) {
	if list == "all" {
		list = strings.Join(glue.Names(), ",")
	}
	var out []glue.Task
	for _, n := range strings.Split(list, ",") {
		t, err := glue.Lookup(strings.TrimSpace(n))
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func resolveDevice(s string) (gotch.Device, error) {
	switch {
	case s == "cpu":
		return gotch.CPU, nil
	case s == "auto":
		return gotch.CudaIfAvailable(), nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		if !gotch.CUDA.IsAvailable() {
			return gotch.CPU, fmt.Errorf("-device %s: libtorch sees no CUDA device (a CUDA build of libtorch is needed: LIBTORCH=... CUDA=1 make setup)", s)
		}
		n := 0
		if _, err := fmt.Sscanf(s, "cuda:%d", &n); s != "cuda" && err != nil {
			return gotch.CPU, fmt.Errorf("-device %q: want cuda or cuda:N", s)
		}
		return gotch.CudaBuilder(uint(n)), nil
	}
	return gotch.CPU, fmt.Errorf("-device %q: want auto, cpu, cuda or cuda:N", s)
}

// modelSource is where the base model comes from.
type modelSource struct {
	name string // "tiny", a hub id or a folder
	dir  string // local folder; "" for the built-in tiny model
}

func resolveModel(ref string) (modelSource, error) {
	if ref == "tiny" {
		return modelSource{name: "tiny"}, nil
	}
	dir, err := hub.FromEnv().Resolve("model", ref, []string{"config.json", "model.safetensors", "tokenizer.json"})
	if err != nil {
		return modelSource{}, err
	}
	return modelSource{name: ref, dir: dir}, nil
}

// tinySeed fixes the built-in "pre-trained" weights: every method and seed starts from
// the same base model, as they would from one checkpoint.
const tinySeed = 0

func buildModel(src modelSource, t glue.Task, o Options, seed int64) (*bert.Model, *tokenize.Tokenizer, reports.Model, error) {
	var (
		m   *bert.Model
		tok *tokenize.Tokenizer
		err error
		rm  = reports.Model{Name: src.name}
	)
	if src.dir == "" {
		tok = tokenize.Builtin()
		c := bert.Tiny(tok.VocabSize())
		c.NumLabels = int64(t.NumLabels)
		applyDropout(&c, t, o)
		m, err = bert.New(c, bert.Classification, tinySeed)
		rm.Source = "built-in tiny (2 layers, hidden 64), weights from seed 0"
		return m, tok, rm, err
	}
	c, err := bert.LoadConfig(filepath.Join(src.dir, "config.json"))
	if err != nil {
		return nil, nil, rm, err
	}
	c.NumLabels = int64(t.NumLabels)
	applyDropout(&c, t, o)
	m, _, err = bert.LoadWithConfig(src.dir, c, bert.Classification, uint64(seed))
	if err != nil {
		return nil, nil, rm, err
	}
	if tok, err = tokenize.Load(filepath.Join(src.dir, "tokenizer.json")); err != nil {
		return nil, nil, rm, err
	}
	rm.Source = src.dir
	rm.ConfigSHA256, _, _ = reports.FileSHA256(filepath.Join(src.dir, "config.json"))
	rm.WeightsSHA256, _, _ = reports.FileSHA256(filepath.Join(src.dir, "model.safetensors"))
	return m, tok, rm, nil
}

func applyDropout(c *bert.Config, t glue.Task, o Options) {
	p := t.Protocol.ClassifierDropout
	if o.ClsDropout >= 0 {
		p = o.ClsDropout
	}
	c.ClassifierDropout = &p
}

// data is one task's splits and their provenance.
type data struct {
	train glue.Split
	dev   []glue.Split
	files []reports.DataFile
}

func loadData(o Options, t glue.Task) (data, error) {
	if o.Data == "synthetic" {
		tr, dev := glue.Synthetic(t, 1, o.SyntheticN, o.SyntheticDev)
		d := data{train: tr, dev: dev}
		for _, s := range append([]glue.Split{tr}, dev...) {
			d.files = append(d.files, reports.DataFile{Role: s.Name, Path: s.Path, Examples: len(s.Examples)})
		}
		return d, nil
	}
	path := o.Data
	if _, err := os.Stat(path); err != nil {
		dir, herr := hub.FromEnv().Resolve("dataset", o.Data, []string{t.Name + "/*"})
		if herr != nil {
			return data{}, fmt.Errorf("-data %q is not a local folder (%v) and not on the hub: %w", o.Data, err, herr)
		}
		path = dir
	}
	tr, dev, err := glue.Load(t, path, glue.LoadOptions{MaxExamples: o.MaxTrain})
	if err != nil {
		return data{}, err
	}
	d := data{train: tr, dev: dev}
	for _, s := range append([]glue.Split{tr}, dev...) {
		for _, f := range s.Files {
			sum, n, err := reports.FileSHA256(f)
			if err != nil {
				return data{}, err
			}
			d.files = append(d.files, reports.DataFile{Role: s.Name, Path: f, SHA256: sum, Bytes: n, Examples: len(s.Examples)})
		}
	}
	return d, nil
}

// methodLR is the learning rate of a method: -lr if set, else its own flag, else its
// default relative to the task's LoRA-family rate (SPEC §4: keep the lr per method).
func methodLR(o Options, method string, t glue.Task) float64 {
	if o.LR > 0 {
		return o.LR
	}
	p := t.Protocol.LearningRate
	switch method {
	case "vectorfit":
		if o.LRVectorFit > 0 {
			return o.LRVectorFit
		}
		return 10 * p
	case "fullft":
		if o.LRFullFT > 0 {
			return o.LRFullFT
		}
		return p / 20
	}
	if o.LRLoRA > 0 {
		return o.LRLoRA
	}
	return p
}

func newMethod(o Options, name string, seed int64) (methods.Method, error) {
	var raw string
	switch name {
	case "vectorfit":
		raw = o.VectorFitOpt
	case "lora":
		raw = o.LoRAOpt
	}
	kv, err := methodOptions(name, raw)
	if err != nil {
		return nil, err
	}
	if _, ok := kv["seed"]; !ok && name != "fullft" {
		kv["seed"] = fmt.Sprint(seed)
	}
	return registry.New(name, kv)
}

// protocol fills the run's hyperparameters from flags over the task's defaults.
type protocol struct {
	epochs, batch, maxLen, warmup int
	lr, headLR, weightDecay       float64
}

func protocolFor(o Options, t glue.Task, method string) protocol {
	p := protocol{
		epochs: t.Protocol.Epochs, batch: t.Protocol.BatchSize, maxLen: t.Protocol.MaxSeqLen,
		warmup: t.Protocol.WarmupSteps, weightDecay: t.Protocol.WeightDecay, lr: methodLR(o, method, t),
	}
	if o.Epochs > 0 {
		p.epochs = o.Epochs
	}
	if o.Batch > 0 {
		p.batch = o.Batch
	}
	if o.MaxLen > 0 {
		p.maxLen = o.MaxLen
	}
	if o.Warmup >= 0 {
		p.warmup = o.Warmup
	}
	if o.WeightDecay >= 0 {
		p.weightDecay = o.WeightDecay
	}
	p.headLR = p.lr
	if o.HeadLR > 0 {
		p.headLR = o.HeadLR
	}
	return p
}

func runOne(o Options, j job, src modelSource, d data, dev gotch.Device, stderr io.Writer) (reports.Record, error) {
	started := time.Now()
	p := protocolFor(o, j.task, j.method)
	m, tok, rm, err := buildModel(src, j.task, o, j.seed)
	if err != nil {
		return reports.Record{}, err
	}
	m.To(dev)
	meth, err := newMethod(o, j.method, j.seed)
	if err != nil {
		return reports.Record{}, err
	}
	if err := meth.Apply(m); err != nil {
		return reports.Record{}, err
	}
	ft, err := glue.NewFinetune(j.task, m, tok, d.train, d.dev, p.batch, p.maxLen, uint64(j.seed))
	if err != nil {
		return reports.Record{}, err
	}
	adapter, head := meth.Trainable()
	opt := train.NewAdamW([]train.Group{
		{Name: "adapter", Params: adapter, LR: p.lr, WeightDecay: p.weightDecay},
		{Name: "head", Params: head, LR: p.headLR, WeightDecay: p.weightDecay},
	}, 0.9, 0.999, 1e-8)
	cfg := train.Config{
		Epochs: p.epochs, MaxSteps: o.MaxSteps, WarmupSteps: p.warmup, MaxGradNorm: o.MaxGradNorm,
		GradAccum: o.GradAccum, EvalEvery: o.EvalEvery, Seed: j.seed,
	}
	if !o.Quiet {
		cfg.Progress = stderr
		fmt.Fprintf(stderr, "%s · %s · seed %d · %s\n", j.task.Name, meth.Describe(), j.seed, rm.Name)
	}
	setup := time.Since(started)
	res, err := train.Run(cfg, ft, opt, meth.Hooks()...)
	if err != nil {
		return reports.Record{}, err
	}
	per, summary, err := methods.Ranks(meth)
	if err != nil {
		return reports.Record{}, err
	}
	return reports.Record{
		Schema: reports.SchemaVersion, Suite: o.Suite, Task: j.task.Name, Method: j.method,
		MethodDescription: meth.Describe(), MethodSettings: meth.Settings(), Seed: j.seed,
		Model: rm, Data: d.files,
		Hyperparameters: map[string]any{
			"lr": p.lr, "head_lr": p.headLR, "epochs": p.epochs, "max_steps": o.MaxSteps, "batch": p.batch,
			"max_len": p.maxLen, "warmup_steps": p.warmup, "weight_decay": p.weightDecay,
			"cls_dropout": *m.Config.ClassifierDropout, "max_grad_norm": o.MaxGradNorm, "grad_accum": o.GradAccum,
			"eval_every": o.EvalEvery, "adam_betas": []float64{0.9, 0.999}, "adam_eps": 1e-8,
			"schedule": "linear warm-up, linear decay", "max_train": o.MaxTrain,
		},
		Scores: res.Best.Scores.Values, MainScore: j.task.Main, BestStep: res.Best.Step,
		History: history(res), Params: methods.Count(meth, m), Ranks: summary, MatrixRanks: per,
		Timing: reports.Timing{
			SetupSeconds: setup.Seconds(), TrainSeconds: res.TrainTime.Seconds(), EvalSeconds: res.EvalTime.Seconds(),
			StepSeconds: res.StepTime.Seconds(), Steps: res.Steps,
		},
		PeakRSSBytes: res.PeakRSS, Device: dev.Name, Code: codeVersion(), Command: os.Args,
		StartedAt: started, FinishedAt: time.Now(),
	}, nil
}

func history(res train.Result) []reports.Eval {
	out := make([]reports.Eval, len(res.History))
	for i, e := range res.History {
		out[i] = reports.Eval{Step: e.Step, Epoch: e.Epoch, Loss: e.Loss, Scores: e.Scores.Values}
	}
	return out
}

func codeVersion() reports.Code {
	c := reports.CodeVersion()
	c.Libtorch = "2.1.0"
	return c
}
