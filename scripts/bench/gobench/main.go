// Command gobench times one (model, method, phase) of the harness for `make
// bench-compare` (scripts/bench/compare.py), which runs it interleaved with
// scripts/bench/bench_torch.py, the same measurement in PyTorch + PEFT. It prints one
// JSON line: the wall seconds of every timed sample and the process's CPU seconds per
// sample.
//
//	go run ./scripts/bench/gobench -model minilm -method lora -phase train -threads 1 -samples 5
//
// Phases: train is one optimizer step (forward, backward, AdamW) on a batch × seq batch
// of random tokens; eval is one evaluation of -eval-batches such batches in eval mode
// under no-grad, with the method's evaluation cache (methods.EvalCacher) built and
// dropped as train.Run does, reported per batch; svd is the method's Apply (VectorFit's
// float64 SVDs), one sample per process.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/realmodel"
	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
)

var useCache = true

type result struct {
	Stack      string    `json:"stack"`
	Model      string    `json:"model"`
	Method     string    `json:"method"`
	Phase      string    `json:"phase"`
	Threads    int       `json:"threads"`
	Samples    []float64 `json:"samples_s"`
	CPUPerStep float64   `json:"cpu_s_per_sample"`
}

func main() {
	model := flag.String("model", "tiny", "tiny, minilm, bert-base or deberta-v3-base")
	method := flag.String("method", "vectorfit", "a registry method name")
	phase := flag.String("phase", "train", "train, eval or svd")
	threads := flag.Int("threads", 1, "libtorch intra-op threads")
	samples := flag.Int("samples", 5, "timed samples after one warm-up")
	batch := flag.Int64("batch", 8, "sequences per batch")
	seq := flag.Int64("seq", 128, "tokens per sequence")
	evalBatches := flag.Int("eval-batches", 4, "batches per evaluation (eval phase)")
	noCache := flag.Bool("no-cache", false, "evaluate without the method's evaluation cache (to measure what it saves)")
	flag.Parse()
	useCache = !*noCache
	if err := run(*model, *method, *phase, *threads, *samples, *batch, *seq, *evalBatches); err != nil {
		fmt.Fprintln(os.Stderr, "gobench:", err)
		os.Exit(1)
	}
}

// benchModel is what the phases need of a model.
type benchModel interface {
	models.Model
	Forward(models.Batch) *ts.Tensor
}

func newModel(name string) (benchModel, error) {
	switch name {
	case "tiny":
		return bert.New(bert.Tiny(1000), bert.Classification, 1)
	case "bert-base":
		return bert.New(bert.BaseShape(), bert.Classification, 1)
	case "deberta-v3-base":
		return deberta.New(deberta.BaseShape(), deberta.Classification, 1)
	case "minilm":
		dir, err := realmodel.MiniLMDir()
		if err != nil {
			return nil, err
		}
		m, _, err := bert.Load(dir, bert.Classification, 2, 1)
		return m, err
	}
	return nil, fmt.Errorf("model %q, want tiny, minilm, bert-base or deberta-v3-base", name)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func run(modelName, method, phase string, threads, samples int, batch, seq int64, evalBatches int) error {
	runtime.LockOSThread()
	torchx.SetNumThreads(threads)
	m, err := newModel(modelName)
	if err != nil {
		return err
	}
	meth, err := registry.New(method, nil)
	if err != nil {
		return err
	}
	res := result{Stack: "go", Model: modelName, Method: method, Phase: phase, Threads: threads}
	c0, t0 := cpuSeconds(), time.Now()
	if err := meth.Apply(m); err != nil {
		return err
	}
	if phase == "svd" {
		res.Samples, res.CPUPerStep = []float64{time.Since(t0).Seconds()}, cpuSeconds()-c0
		return json.NewEncoder(os.Stdout).Encode(res)
	}
	torchx.ManualSeed(1)
	vocab := int64(1000)
	ids := ts.MustRandint(vocab, []int64{batch, seq}, gotch.Int64, gotch.CPU)
	in := models.Batch{InputIDs: ids, AttentionMask: ts.MustOnes([]int64{batch, seq}, gotch.Int64, gotch.CPU)}
	labels := ts.MustZeros([]int64{batch}, gotch.Int64, gotch.CPU)
	var sample func()
	switch phase {
	case "train":
		m.SetTraining(true)
		adapter, head := meth.Trainable()
		step, _ := testmodel.Step(adapter, head, 1e-4, func() *ts.Tensor { return m.Forward(in) }, labels)
		sample = step
	case "eval":
		m.SetTraining(false)
		ec, _ := meth.(methods.EvalCacher)
		if !useCache {
			ec = nil
		}
		sample = func() {
			models.NoGrad(func() {
				if ec != nil {
					ec.EvalMode(true)
					defer ec.EvalMode(false)
				}
				for range evalBatches {
					m.Forward(in).MustDrop()
				}
			})
		}
	default:
		return fmt.Errorf("phase %q, want train, eval or svd", phase)
	}
	sample() // warm-up: allocator, optimizer state
	runtime.GC()
	per := 1.0
	if phase == "eval" {
		per = float64(evalBatches)
	}
	c0 = cpuSeconds()
	for range samples {
		t := time.Now()
		sample()
		res.Samples = append(res.Samples, time.Since(t).Seconds()/per)
	}
	res.CPUPerStep = (cpuSeconds() - c0) / float64(samples) / per
	return json.NewEncoder(os.Stdout).Encode(res)
}
