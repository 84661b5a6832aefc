package train

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"
)

// keep deep-copies a checkpoint Run handed out (its tensors are live).
func keep(c Checkpoint) Checkpoint {
	out := c
	out.Tensors = map[string]*ts.Tensor{}
	for k, t := range c.Tensors {
		out.Tensors[k] = t.MustDetachCopy(false)
	}
	return out
}

// resumeConfig trains the logistic task with dropout (so the RNG matters), gradient
// accumulation over an epoch of odd length, clipping, weight decay, and evaluations
// both mid-epoch and at epoch ends.
func resumeConfig() Config {
	return Config{Epochs: 3, GradAccum: 3, EvalEvery: 4, MaxGradNorm: 0.5, WarmupSteps: 2, Seed: 11}
}

func resumeOpt(cfg Config, task *logTask) *AdamW {
	return cfg.AdamW([]Group{{Name: "all", Params: task.params(), LR: 0.05, WeightDecay: 0.01}})
}

// A run resumed from any of its checkpoints ends with the same parameters, history and
// best evaluation, to the bit, as the run that was never interrupted.
func TestResumeFromEveryCheckpointIsBitIdentical(t *testing.T) {
	task := newLogTask(0.3)
	cfg := resumeConfig()
	cfg.CheckpointEvery = 1
	var saved []Checkpoint
	cfg.Checkpoint = func(c Checkpoint) error { saved = append(saved, keep(c)); return nil }
	want, err := Run(cfg, task, resumeOpt(cfg, task))
	if err != nil {
		t.Fatal(err)
	}
	wantParams := append(values(task.w), values(task.b)...)
	if want.Steps != 3*6 || len(saved) < want.Steps {
		t.Fatalf("%d steps and %d checkpoints; want 18 steps (16 batches in groups of 3 per epoch) and a checkpoint per step", want.Steps, len(saved))
	}
	for _, c := range saved {
		task := newLogTask(0.3)
		cfg := resumeConfig()
		cfg.Resume = &c
		got, err := Run(cfg, task, resumeOpt(cfg, task))
		if err != nil {
			t.Fatalf("resume from step %d: %v", c.Step, err)
		}
		if p := append(values(task.w), values(task.b)...); !slices.Equal(p, wantParams) {
			t.Errorf("resume from step %d (epoch %d, batch %d): parameters %v, uninterrupted %v", c.Step, c.Epoch, c.NextBatch, p, wantParams)
		}
		if !reflect.DeepEqual(got.History, want.History) || !reflect.DeepEqual(got.Best, want.Best) || got.Steps != want.Steps {
			t.Errorf("resume from step %d: history %+v best %+v steps %d; uninterrupted %+v %+v %d",
				c.Step, got.History, got.Best, got.Steps, want.History, want.Best, want.Steps)
		}
	}
}

// Stop makes Run checkpoint and return ErrStopped; resuming finishes the run exactly.
func TestStopCheckpointsAndResumes(t *testing.T) {
	task := newLogTask(0.3)
	cfg := resumeConfig()
	want, err := Run(cfg, task, resumeOpt(cfg, task))
	if err != nil {
		t.Fatal(err)
	}
	wantParams := append(values(task.w), values(task.b)...)

	task = newLogTask(0.3)
	var last *Checkpoint
	steps := 0
	cfg.Stop = func() bool { steps++; return steps == 7 }
	cfg.Checkpoint = func(c Checkpoint) error { k := keep(c); last = &k; return nil }
	res, err := Run(cfg, task, resumeOpt(cfg, task))
	if !errors.Is(err, ErrStopped) || res.Steps != 7 || last == nil || last.Step != 7 {
		t.Fatalf("stop after step 7: err %v, steps %d, checkpoint %v", err, res.Steps, last)
	}
	task = newLogTask(0.3)
	cfg = resumeConfig()
	cfg.Resume = last
	got, err := Run(cfg, task, resumeOpt(cfg, task))
	if err != nil {
		t.Fatal(err)
	}
	if p := append(values(task.w), values(task.b)...); !slices.Equal(p, wantParams) || !reflect.DeepEqual(got.History, want.History) {
		t.Errorf("stopped and resumed: parameters %v history %v; uninterrupted %v %v", p, got.History, wantParams, want.History)
	}
}

// A checkpoint of other parameters is refused.
func TestResumeRefusesOtherParameters(t *testing.T) {
	task := newLogTask(0)
	cfg := Config{Epochs: 1, MaxSteps: 2}
	var last Checkpoint
	cfg.Checkpoint = func(c Checkpoint) error { last = keep(c); return nil }
	cfg.CheckpointEvery = 1
	if _, err := Run(cfg, task, resumeOpt(cfg, task)); err != nil {
		t.Fatal(err)
	}
	bad := last
	bad.Tensors = map[string]*ts.Tensor{}
	for k, v := range last.Tensors {
		bad.Tensors[k] = v
	}
	bad.Tensors["param/w"] = ts.MustOnes([]int64{3}, task.w.DType(), task.w.MustDevice())
	task = newLogTask(0)
	cfg = Config{Epochs: 1, MaxSteps: 2, Resume: &bad}
	_, err := Run(cfg, task, resumeOpt(cfg, task))
	if err == nil || !containsAll(err.Error(), `"param/w"`, "[3]", "[8]") {
		t.Errorf("checkpoint with a [3] w for an [8] w: err %v, want one naming the tensor and both shapes", err)
	}
}

// A learning rate that blows up stops the run at the first non-finite loss or
// gradient, before that step reaches the parameters, and keeps what was reached.
func TestDivergenceStopsBeforeTheBadStep(t *testing.T) {
	for _, lr := range []float64{1e38, math.Inf(1)} {
		task := newLogTask(0)
		cfg := Config{Epochs: 3, EvalEvery: 1}
		res, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: lr}}))
		var d *DivergedError
		if !errors.As(err, &d) {
			t.Fatalf("lr %g: err %v, want a DivergedError", lr, err)
		}
		if d.Step != res.Steps+1 || len(res.History) != res.Steps {
			t.Errorf("lr %g: diverged at step %d after %d steps and %d evaluations; want the step after the last one taken, evaluated each step", lr, d.Step, res.Steps, len(res.History))
		}
		t.Logf("lr %g: %v after %d steps", lr, err, res.Steps)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
