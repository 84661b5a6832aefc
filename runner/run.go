package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/internal/torchx"
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

// logger is a prepared task that reports progress of its own (class images).
type logger interface{ setLog(io.Writer) }

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
	maxSteps, evalEvery           int  // 0: none, every epoch (the flags win)
	constantLR                    bool // diffusers' constant schedule, else transformers' linear decay
	lr, headLR, weightDecay       float64
	warmupRatio                   float64        // used when warmup < 0
	groupByLength                 bool           // -group-by-length (glue, squad)
	extra                         map[string]any // suite-specific settings, recorded as they are
}

var suites = map[string]suite{"glue": glueSuite{}, "squad": squadSuite{}, "vision": visionSuite{}, "nlg": nlgSuite{}, "diffusion": diffusionSuite{}}

// runAll trains every (task, method, seed), writing one record each as it finishes: a
// run that dies leaves the finished records intact, a rerun skips them and resumes the
// unfinished one from its checkpoint.
func runAll(o Options, stderr io.Writer) ([]reports.Record, error) {
	// libtorch's thread count is per OS thread (OpenMP's and MKL's settings are
	// thread-local; a thread keeps the count it first saw), so the whole command,
	// model building and SVDs included, runs on one OS thread whose count it sets.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c, err := newCommand(o, stderr)
	if err != nil {
		return nil, err
	}
	defer c.close()
	return c.runAll()
}

// withSuiteDefaults fills -model and -data left empty with the paper's model and the
// suite's Hugging Face dataset.
func withSuiteDefaults(o Options, tasks []string) Options {
	if o.Model == "" {
		o.Model = map[string]string{"glue": "microsoft/deberta-v3-base", "squad": "microsoft/deberta-v3-base",
			"vision": "google/vit-base-patch16-224", "nlg": "facebook/bart-large", "diffusion": "CompVis/stable-diffusion-v1-4"}[o.Suite]
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
			return gotch.CPU, noCUDA(s)
		}
		n := 0
		if _, err := fmt.Sscanf(s, "cuda:%d", &n); s != "cuda" && err != nil {
			return gotch.CPU, fmt.Errorf("-device %q: want cuda or cuda:N", s)
		}
		return gotch.CudaBuilder(uint(n)), nil
	}
	return gotch.CPU, fmt.Errorf("-device %q: want auto, cpu, cuda or cuda:N", s)
}

// noCUDA says in one line why -device cuda cannot run here: a CPU-only build, no NVIDIA
// driver, or a driver that sees no device.
func noCUDA(flag string) error {
	switch {
	case !torchx.CUDALinked():
		return fmt.Errorf("-device %s: this binary links the CPU-only libtorch; build a CUDA one with CUDA=1 make setup (README: CUDA), or use -device cpu", flag)
	case !torchx.HasNVIDIADriver():
		return fmt.Errorf("-device %s: no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded); use -device cpu, or -device auto to take a GPU when there is one", flag)
	}
	return fmt.Errorf("-device %s: the NVIDIA driver sees no CUDA device (CUDA_VISIBLE_DEVICES=%q); use -device cpu, or -device auto", flag, os.Getenv("CUDA_VISIBLE_DEVICES"))
}

// baseProtocol applies the flags over a task's defaults.
func baseProtocol(o Options, def protocol, method string) protocol {
	p := def
	p.lr = methodLR(o, method, def.lr)
	if o.Epochs > 0 {
		p.epochs = o.Epochs
	}
	if o.MaxSteps > 0 {
		p.maxSteps = o.MaxSteps
	}
	if o.EvalEvery > 0 {
		p.evalEvery = o.EvalEvery
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
	p.groupByLength = o.GroupByLength
	p.headLR = p.lr
	if o.HeadLR > 0 {
		p.headLR = o.HeadLR
	}
	return p
}

// lrRatio is a method's default learning rate relative to the task's LoRA-family rate
// (SPEC §4 gives the LoRA-family rate; the others are ours, documented in the README):
// vectors of singular values and SVFT's few coefficients move 10× faster, full
// fine-tuning 20× slower; the rest train at the LoRA-family rate.
var lrRatio = map[string]float64{"vectorfit": 10, "svft": 10, "fullft": 1.0 / 20}

// lrDefault says a method's default rate in words, for -help.
func lrDefault(method string) string {
	if r, ok := lrRatio[method]; ok && r != 1 {
		if r > 1 {
			return fmt.Sprintf("%g × the task's protocol rate", r)
		}
		return fmt.Sprintf("the task's protocol rate / %g", 1/r)
	}
	return "the task's protocol rate"
}

// methodLR is the learning rate of a method: -lr if set, else its own flag, else its
// default relative to the task's LoRA-family rate. An ablation of VectorFit takes
// VectorFit's.
func methodLR(o Options, method string, taskLR float64) float64 {
	if o.LR > 0 {
		return o.LR
	}
	method = registry.Base(method)
	own := map[string]float64{"vectorfit": o.LRVectorFit, "lora": o.LRLoRA, "fullft": o.LRFullFT}[method]
	if v := o.MethodLR[method]; v > 0 {
		own = v
	}
	if own > 0 {
		return own
	}
	if r, ok := lrRatio[method]; ok {
		return r * taskLR
	}
	return taskLR
}

func newMethod(o Options, name string, seed int64) (methods.Method, error) {
	base := registry.Base(name)
	raw := o.MethodOpts[base]
	switch base {
	case "vectorfit":
		raw = o.VectorFitOpt
	case "lora":
		raw = o.LoRAOpt
	}
	kv, err := methodOptions(base, raw)
	if err != nil {
		return nil, err
	}
	if _, ok := kv["seed"]; !ok {
		kv["seed"] = fmt.Sprint(seed)
	}
	return registry.New(name, kv)
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
