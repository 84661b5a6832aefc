package plan

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Run is one (suite, task, method, seed) of a plan, in plan order.
type Run struct {
	Index  int // position in the expanded plan, from 0
	Group  int // index into Plan.Groups
	Suite  string
	Task   string
	Method string
	Seed   int64
	File   string  // the record's file name in -out
	Hash   string  // the settings hash; "" when it cannot be computed here (the reason in HashNote)
	Cost   float64 // estimated cost, in relative units (see Cost)
	// HashNote says why Hash is empty (model or data not on this machine).
	HashNote string
}

// CostInput is what the cost model reads of a run's settings: only the plan's own
// values (never files), so that every worker computes the same costs and so the same
// shards, whatever it has on disk.
type CostInput struct {
	Suite, Task, Model, Data string
	MaxSteps, Epochs, Batch  int
	GradAccum, MaxTrain      int
	SyntheticTrain, MaxLen   int
}

// Cost estimates a run's cost in relative units: optimizer steps × cost of a step.
//
//	steps     = max-steps when set, else epochs × ceil(train examples / (batch × grad-accum)),
//	            capped by max-steps; epochs and batch default to the suite's protocol
//	            (protocolDefaults), train examples to max-train, synthetic-train on
//	            synthetic data, else the dataset's size (trainSize), else 10,000
//	step cost = suite weight (glue 1, squad 3, vision 1, nlg 4, diffusion 8: sequence
//	            length, generation and the UNet's denoising steps) × model weight
//	            (tiny 0.01, else the checkpoint's parameters in units of 100M, by name;
//	            an unknown folder 1) × max-len / 128 for text suites when set
//	+ 50 steps' worth for evaluation and setup.
//
// Only ratios between runs matter: they balance shards (Shard).
func Cost(in CostInput) float64 {
	def := protocolDefaults[in.Suite]
	epochs, batch := def.epochs, def.batch
	if in.Epochs > 0 {
		epochs = in.Epochs
	}
	if in.Batch > 0 {
		batch = in.Batch
	}
	batch *= max(in.GradAccum, 1)
	n := trainSize[in.Suite+"/"+in.Task]
	switch {
	case in.MaxTrain > 0 && (n == 0 || in.MaxTrain < n):
		n = in.MaxTrain
	case in.Data == "synthetic":
		n = max(in.SyntheticTrain, 1)
	case n == 0:
		n = 10000
	}
	steps := float64(epochs) * math.Ceil(float64(n)/float64(max(batch, 1)))
	if in.Suite == "diffusion" {
		steps = def.steps
	}
	if in.MaxSteps > 0 && (steps == 0 || float64(in.MaxSteps) < steps) {
		steps = float64(in.MaxSteps)
	}
	step := suiteWeight[in.Suite] * modelWeight(in.Model)
	if in.MaxLen > 0 && in.Suite != "vision" && in.Suite != "diffusion" {
		step *= float64(in.MaxLen) / 128
	}
	if step == 0 {
		step = 1
	}
	return (steps + 50) * step
}

var suiteWeight = map[string]float64{"glue": 1, "squad": 3, "vision": 1, "nlg": 4, "diffusion": 8}

// protocolDefaults are rough SPEC §4 values, for costs only (the runner applies the
// exact protocol).
var protocolDefaults = map[string]struct {
	epochs, batch int
	steps         float64
}{
	"glue": {10, 32, 0}, "squad": {3, 16, 0}, "vision": {10, 64, 0}, "nlg": {10, 32, 0}, "diffusion": {0, 1, 800},
}

// trainSize is the training set size of the datasets the paper uses.
var trainSize = map[string]int{
	"glue/cola": 8551, "glue/sst2": 67349, "glue/mrpc": 3668, "glue/qqp": 363846, "glue/stsb": 5749,
	"glue/mnli": 392702, "glue/qnli": 104743, "glue/rte": 2490,
	"squad/squad": 87599, "squad/squad_v2": 130319,
	"vision/cifar10": 50000, "vision/gtsrb": 26640, "vision/mnist": 60000, "vision/resisc45": 18900,
	"nlg/xsum": 204045, "nlg/cnn_dailymail": 287113,
}

// modelWeight is a model's step cost, by name: parameters / 100M.
func modelWeight(model string) float64 {
	switch {
	case model == "tiny":
		return 0.01
	case strings.Contains(model, "MiniLM-L6"):
		return 0.23
	case strings.Contains(model, "deberta-v3-base"):
		return 1.84
	case strings.Contains(model, "vit-base"):
		return 0.86
	case strings.Contains(model, "bart-large"):
		return 4.06
	case strings.Contains(model, "stable-diffusion"):
		return 10
	}
	return 1
}

// ParseShard reads "i/n" (1 ≤ i ≤ n).
func ParseShard(s string) (i, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return 0, 0, fmt.Errorf("-shard %q: want i/n with 1 ≤ i ≤ n, e.g. 1/4", s)
	}
	return i, n, nil
}

// Shard assigns runs to n shards by greedy longest-processing-time: runs by cost,
// largest first (ties by plan order), each to the shard with the least cost so far
// (ties to the lowest shard). It returns shard i's runs (1-based) in plan order. The
// assignment depends only on the costs and order, so n workers agree on it without
// talking; LPT is within 4/3 of the best makespan.
func Shard(runs []Run, i, n int) []Run {
	order := make([]int, len(runs))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case runs[a].Cost > runs[b].Cost:
			return -1
		case runs[a].Cost < runs[b].Cost:
			return 1
		}
		return a - b
	})
	load := make([]float64, n)
	owner := make([]int, len(runs))
	for _, k := range order {
		best := 0
		for s := 1; s < n; s++ {
			if load[s] < load[best] {
				best = s
			}
		}
		load[best] += runs[k].Cost
		owner[k] = best
	}
	var out []Run
	for k, r := range runs {
		if owner[k] == i-1 {
			out = append(out, r)
		}
	}
	return out
}
