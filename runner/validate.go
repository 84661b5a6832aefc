package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// check validates every setting before anything slow, one error per problem, each
// naming the flag (or -config key) and what is expected. Zero means "the task's
// protocol" for the protocol's numbers, and -1 for the three whose zero is a value.
func (o Options) check() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, f := range []struct {
		name string
		v    int
		min  int
		want string
	}{
		{"epochs", o.Epochs, 0, "≥ 1, or 0 for the task's protocol"},
		{"max-steps", o.MaxSteps, 0, "≥ 1, or 0 for no cap"},
		{"batch", o.Batch, 0, "≥ 1, or 0 for the task's protocol"},
		{"max-len", o.MaxLen, 0, "≥ 1, or 0 for the task's protocol"},
		{"warmup", o.Warmup, -1, "≥ 0 steps, or -1 for the task's protocol"},
		{"grad-accum", o.GradAccum, 1, "≥ 1"},
		{"eval-every", o.EvalEvery, 0, "≥ 1 steps, or 0 for every epoch"},
		{"max-train", o.MaxTrain, 0, "≥ 1, or 0 for all"},
		{"max-dev", o.MaxDev, 0, "≥ 1, or 0 for all"},
		{"doc-stride", o.DocStride, 0, "≥ 1, or 0 for 128"},
		{"synthetic-train", o.SyntheticN, 1, "≥ 1"},
		{"synthetic-dev", o.SyntheticDev, 1, "≥ 1"},
		{"threads", o.Threads, 0, "≥ 1, or 0 for libtorch's default"},
		{"target-len", o.TargetLen, 0, "≥ 2 tokens, or 0 for the task's protocol"},
		{"beams", o.Beams, 0, "≥ 1 (1: greedy), or 0 for the task's protocol"},
	} {
		if f.v < f.min {
			bad("-%s %d: want %s", f.name, f.v, f.want)
		}
	}
	if o.MaxPixels < 1 {
		bad("-max-pixels %d: want ≥ 1", o.MaxPixels)
	}
	for _, f := range []struct {
		name     string
		v        float64
		lo, hi   float64 // [lo, hi)
		sentinel float64 // also allowed (NaN: none)
		want     string
	}{
		{"lr", o.LR, 0, math.Inf(1), math.NaN(), "> 0, or 0 for each method's rate"},
		{"head-lr", o.HeadLR, 0, math.Inf(1), math.NaN(), "> 0, or 0 for the method's rate"},
		{"lr-vectorfit", o.LRVectorFit, 0, math.Inf(1), math.NaN(), "> 0, or 0 for the default"},
		{"lr-lora", o.LRLoRA, 0, math.Inf(1), math.NaN(), "> 0, or 0 for the default"},
		{"lr-fullft", o.LRFullFT, 0, math.Inf(1), math.NaN(), "> 0, or 0 for the default"},
		{"weight-decay", o.WeightDecay, 0, math.Inf(1), -1, "≥ 0, or -1 for the task's protocol"},
		{"cls-dropout", o.ClsDropout, 0, 1, -1, "a probability in [0, 1), or -1 for the task's protocol"},
		{"warmup-ratio", o.WarmupRatio, 0, 1, math.NaN(), "a fraction in [0, 1)"},
		{"max-grad-norm", o.MaxGradNorm, 0, math.Inf(1), math.NaN(), "> 0, or 0 for no clipping"},
		{"label-smoothing", o.LabelSmoothing, 0, 1, math.NaN(), "a fraction in [0, 1)"},
		{"dev-fraction", o.DevFraction, 0, 1, math.NaN(), "a fraction in [0, 1), 0 for the data's own dev split"},
	} {
		switch {
		case math.IsNaN(f.v) || math.IsInf(f.v, 0):
			bad("-%s %v: want a finite number, %s", f.name, f.v, f.want)
		case f.v == f.sentinel:
		case f.v < f.lo || f.v >= f.hi:
			bad("-%s %v: want %s", f.name, f.v, f.want)
		}
	}
	if o.GroupByLength && o.Suite != "glue" && o.Suite != "squad" {
		bad("-group-by-length with -suite %s: only the glue and squad suites group training batches by length", o.Suite)
	}
	if o.WarmupRatio > 0 && o.Warmup >= 0 {
		bad("-warmup %d and -warmup-ratio %g: set one", o.Warmup, o.WarmupRatio)
	}
	if _, _, err := o.checkpointEvery(); err != nil {
		errs = append(errs, err)
	}
	if _, err := o.seeds(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkpointEvery parses -checkpoint-every: a step count or a duration; "0" (either)
// checkpoints only at evaluations.
func (o Options) checkpointEvery() (steps int, interval time.Duration, err error) {
	if n, err := strconv.Atoi(o.CheckpointEvery); err == nil && n >= 0 {
		return n, 0, nil
	}
	if d, err := time.ParseDuration(o.CheckpointEvery); err == nil && d >= 0 {
		return 0, d, nil
	}
	return 0, 0, fmt.Errorf("-checkpoint-every %q: want optimizer steps (500) or a wall-clock duration (5m, 90s), 0 for evaluations only", o.CheckpointEvery)
}
