package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/train"
)

// A suite knows its tasks, data and metrics; the runner wires a model, a method and
// the training engine around it and nothing else.
type suite interface {
	// tasks expands -task ("all" or a list) into task names.
	tasks(o Options) ([]string, error)
	// prepare loads one task's data once, for every method and seed.
	prepare(o Options, task string) (prepared, error)
}

// prepared is one task with its data, ready to train any method on.
type prepared interface {
	files() []reports.DataFile
	// protocol is the task's defaults (SPEC §4) under the flags.
	protocol(o Options, method string) protocol
	// model builds the base model with the task's head.
	model(src modelSource, o Options, seed int64) (built, error)
	// newTask wraps a built, method-applied model as the engine's train.Task and names
	// its main score; predDir is where the suite may write predictions.
	newTask(b built, p protocol, seed int64, predDir string) (train.Task, string, error)
}

// built is a model with what the suite needs to feed it.
type built struct {
	model  models.Model
	info   reports.Model
	extras any // the tokenizer for text suites
	to     func(gotch.Device)
}

// protocol is one run's training settings.
type protocol struct {
	epochs, batch, maxLen, warmup int
	lr, headLR, weightDecay       float64
	warmupRatio                   float64        // used when warmup < 0
	extra                         map[string]any // suite-specific settings, recorded as they are
}

var suites = map[string]suite{"glue": glueSuite{}, "squad": squadSuite{}, "vision": visionSuite{}}

// runAll trains every (task, method, seed), writing one record each as it finishes: a
// run that dies leaves the finished records intact.
func runAll(o Options, stderr io.Writer) ([]reports.Record, error) {
	s, ok := suites[o.Suite]
	if !ok {
		return nil, fmt.Errorf("-suite %q: this build runs glue, squad and vision (nlg and diffusion are planned)", o.Suite)
	}
	tasks, err := s.tasks(o)
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
	// Resolve every method's options before anything slow: a typo fails in a second.
	for _, n := range names {
		if _, err := newMethod(o, n, 0); err != nil {
			return nil, err
		}
	}
	o = withSuiteDefaults(o, tasks)
	src, err := resolveModel(o.Model, o.Suite)
	if err != nil {
		return nil, err
	}
	var done []reports.Record
	for _, t := range tasks {
		p, err := s.prepare(o, t)
		if err != nil {
			return done, err
		}
		for _, m := range names {
			for _, seed := range seeds {
				rec, err := runOne(o, t, m, seed, p, src, dev, stderr)
				if err != nil {
					return done, fmt.Errorf("%s %s seed %d: %w", t, m, seed, err)
				}
				path, err := reports.Write(o.Out, rec)
				if err != nil {
					return done, err
				}
				fmt.Fprintf(stderr, "%s %s seed %d: %s %.4f -> %s\n", t, m, seed, rec.MainScore, rec.Scores[rec.MainScore], path)
				done = append(done, rec)
			}
		}
	}
	return done, nil
}

// withSuiteDefaults fills -model and -data left empty with the paper's model and the
// suite's Hugging Face dataset.
func withSuiteDefaults(o Options, tasks []string) Options {
	if o.Model == "" {
		o.Model = map[string]string{"glue": "microsoft/deberta-v3-base", "squad": "microsoft/deberta-v3-base",
			"vision": "google/vit-base-patch16-224"}[o.Suite]
	}
	if o.Data == "" {
		switch o.Suite {
		case "glue":
			o.Data = "nyu-mll/glue"
		case "squad":
			o.Data = "rajpurkar/squad_v2"
			if len(tasks) == 1 && tasks[0] == "squad" {
				o.Data = "rajpurkar/squad"
			}
		}
	}
	return o
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

// baseProtocol applies the flags over a task's defaults.
func baseProtocol(o Options, def protocol, method string) protocol {
	p := def
	p.lr = methodLR(o, method, def.lr)
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
	} else if o.WarmupRatio > 0 { // replaces the task's warm-up steps
		p.warmup, p.warmupRatio = -1, o.WarmupRatio
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

// methodLR is the learning rate of a method: -lr if set, else its own flag, else its
// default relative to the task's LoRA-family rate (SPEC §4: keep the lr per method).
func methodLR(o Options, method string, taskLR float64) float64 {
	if o.LR > 0 {
		return o.LR
	}
	switch method {
	case "vectorfit":
		if o.LRVectorFit > 0 {
			return o.LRVectorFit
		}
		return 10 * taskLR
	case "fullft":
		if o.LRFullFT > 0 {
			return o.LRFullFT
		}
		return taskLR / 20
	}
	if o.LRLoRA > 0 {
		return o.LRLoRA
	}
	return taskLR
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

func runOne(o Options, task, method string, seed int64, prep prepared, src modelSource, dev gotch.Device, stderr io.Writer) (reports.Record, error) {
	started := time.Now()
	p := prep.protocol(o, method)
	b, err := prep.model(src, o, seed)
	if err != nil {
		return reports.Record{}, err
	}
	b.to(dev)
	meth, err := newMethod(o, method, seed)
	if err != nil {
		return reports.Record{}, err
	}
	if err := meth.Apply(b.model); err != nil {
		return reports.Record{}, err
	}
	predDir := filepath.Join(o.Out, "predictions", fmt.Sprintf("%s_%s_%s_seed%d", o.Suite, task, method, seed))
	tt, main, err := prep.newTask(b, p, seed, predDir)
	if err != nil {
		return reports.Record{}, err
	}
	adapter, head := meth.Trainable()
	opt := train.NewAdamW([]train.Group{
		{Name: "adapter", Params: adapter, LR: p.lr, WeightDecay: p.weightDecay},
		{Name: "head", Params: head, LR: p.headLR, WeightDecay: p.weightDecay},
	}, 0.9, 0.999, 1e-8)
	cfg := train.Config{
		Epochs: p.epochs, MaxSteps: o.MaxSteps, WarmupSteps: max(p.warmup, 0), WarmupRatio: p.warmupRatio, MaxGradNorm: o.MaxGradNorm,
		GradAccum: o.GradAccum, EvalEvery: o.EvalEvery, Seed: seed, Log: stderr,
		WarmupHint: "pass a smaller -warmup, or -warmup-ratio 0.06 for a fraction of the run",
	}
	if !o.Quiet {
		cfg.Progress = stderr
		fmt.Fprintf(stderr, "%s · %s · seed %d · %s\n", task, meth.Describe(), seed, b.info.Name)
	}
	setup := time.Since(started)
	hyper := map[string]any{
		"lr": p.lr, "head_lr": p.headLR, "epochs": p.epochs, "max_steps": o.MaxSteps, "batch": p.batch,
		"max_len": p.maxLen, "warmup_steps": p.warmup, "warmup_ratio": p.warmupRatio, "weight_decay": p.weightDecay,
		"max_grad_norm": o.MaxGradNorm, "grad_accum": o.GradAccum, "eval_every": o.EvalEvery,
		"adam_betas": []float64{0.9, 0.999}, "adam_eps": 1e-8,
		"schedule": "linear warm-up, linear decay", "max_train": o.MaxTrain,
	}
	for k, v := range p.extra {
		hyper[k] = v
	}
	res, err := train.Run(cfg, tt, opt, meth.Hooks()...)
	if err != nil {
		return reports.Record{}, err
	}
	per, summary, err := methods.Ranks(meth)
	if err != nil {
		return reports.Record{}, err
	}
	return reports.Record{
		Schema: reports.SchemaVersion, Suite: o.Suite, Task: task, Method: method,
		MethodDescription: meth.Describe(), MethodSettings: meth.Settings(), Seed: seed,
		Model: b.info, Data: prep.files(), Hyperparameters: hyper,
		Scores: res.Best.Scores.Values, MainScore: main, BestStep: res.Best.Step,
		History: history(res), Params: methods.Count(meth, b.model), Ranks: summary, MatrixRanks: per,
		Timing: reports.Timing{
			SetupSeconds: setup.Seconds(), TrainSeconds: res.TrainTime.Seconds(), EvalSeconds: res.EvalTime.Seconds(),
			StepSeconds: res.StepTime.Seconds(), Steps: res.Steps,
		},
		Schedule:     reports.Schedule{TotalSteps: res.TotalSteps, WarmupSteps: res.WarmupSteps, WarmupExceedsSteps: res.WarmupExceedsSteps},
		PeakRSSBytes: res.PeakRSS, Device: dev.Name, Code: codeVersion(), Command: typedCommand(os.Args),
		StartedAt: started, FinishedAt: time.Now(),
	}, nil
}

// typedCommand is the command line as the user typed it. `go run ./runner ...` runs a
// binary that the go command built in a temporary folder (<tmp>/go-build<N>/b001/exe/
// runner) and deletes afterwards; recording that path would tell a reader nothing, so
// an args[0] inside a go-build folder is recorded as "go run ./runner" (the package
// path as typed is not visible to the program; ./runner is how the README runs it).
func typedCommand(args []string) []string {
	if len(args) == 0 {
		return nil
	}
	for _, part := range strings.Split(filepath.ToSlash(filepath.Dir(args[0])), "/") {
		if strings.HasPrefix(part, "go-build") {
			return append([]string{"go", "run", "./runner"}, args[1:]...)
		}
	}
	return slices.Clone(args)
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

// hashFiles records the data files a task read.
func hashFiles(role string, paths []string, examples int) ([]reports.DataFile, error) {
	var out []reports.DataFile
	for _, f := range paths {
		sum, n, err := reports.FileSHA256(f)
		if err != nil {
			return nil, err
		}
		out = append(out, reports.DataFile{Role: role, Path: f, SHA256: sum, Bytes: n, Examples: examples})
	}
	return out, nil
}
