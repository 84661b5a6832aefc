package train

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/vectorfit/harness/internal/torchx"
)

// The toy task learns: training loss falls and dev accuracy ends high.
func TestRunLearnsLogisticRegression(t *testing.T) {
	task := newLogTask(0.1)
	cfg := Config{Epochs: 5, WarmupRatio: 0.1, MaxGradNorm: 1, Seed: 1}
	res, err := Run(cfg, task, cfg.AdamW([]Group{{Name: "all", Params: task.params(), LR: 0.05, WeightDecay: 0.01}}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 5*16 || len(res.History) != 5 {
		t.Fatalf("steps %d, evaluations %d; want 80 and 5", res.Steps, len(res.History))
	}
	first, last := res.History[0].Loss, res.History[4].Loss
	t.Logf("training loss %.4f → %.4f, best dev accuracy %.3f at step %d", first, last, res.Best.Scores.Values["accuracy"], res.Best.Step)
	if !(last < 0.7*first) {
		t.Errorf("training loss went from %.4f (epoch 1) to %.4f (epoch 5), want a clear drop", first, last)
	}
	if acc := res.Best.Scores.Values["accuracy"]; acc < 0.9 {
		t.Errorf("best dev accuracy %.3f, want ≥ 0.9", acc)
	}
	if res.FinalLoss != last {
		t.Errorf("FinalLoss %v, want the last interval's mean %v", res.FinalLoss, last)
	}
	if res.TrainTime <= 0 || res.EvalTime <= 0 || res.StepTime != res.TrainTime/80 || res.PeakRSS <= 0 {
		t.Errorf("timings/memory not filled: %+v", res)
	}
}

// Same seed, same dropout masks, same parameters to the bit; another seed differs.
func TestRunSameSeedIsBitIdentical(t *testing.T) {
	run := func(seed int64) []float64 {
		task := newLogTask(0.3)
		cfg := Config{Epochs: 2, Seed: seed}
		if _, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.05, WeightDecay: 0.01}})); err != nil {
			t.Fatal(err)
		}
		return append(values(task.w), values(task.b)...)
	}
	a, b, c := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Errorf("seed 7 twice gave different parameters:\n%v\n%v", a, b)
	}
	if slices.Equal(a, c) {
		t.Error("seeds 7 and 8 gave the same parameters: the seed does not reach dropout")
	}
}

// GradAccum=2 over two halves equals one step on the whole batch (mean loss).
func TestGradAccumMatchesConcatenatedBatch(t *testing.T) {
	cases := []struct {
		name        string
		maxGradNorm float64
		weightDecay float64
		micro       [][]int64
	}{
		{"two halves", 0, 0, [][]int64{{0, 1, 2, 3}, {4, 5, 6, 7}}},
		{"two halves, clipped, decayed", 0.05, 0.1, [][]int64{{0, 1, 2, 3}, {4, 5, 6, 7}}},
		{"four quarters", 0, 0, [][]int64{{0, 1}, {2, 3}, {4, 5}, {6, 7}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			train := func(accum int, batches ...[]int64) ([]float64, Result) {
				task := newRegTask(batches...)
				cfg := Config{Epochs: 1, GradAccum: accum, MaxGradNorm: c.maxGradNorm}
				opt := cfg.AdamW([]Group{{Params: []Param{{Name: "w", T: task.w}}, LR: 0.1, WeightDecay: c.weightDecay}})
				res, err := Run(cfg, task, opt)
				if err != nil {
					t.Fatal(err)
				}
				return values(task.w), res
			}
			split, resSplit := train(len(c.micro), c.micro...)
			whole, resWhole := train(1, slices.Concat(c.micro...))
			if resSplit.Steps != 1 || resWhole.Steps != 1 {
				t.Fatalf("steps %d and %d, want 1", resSplit.Steps, resWhole.Steps)
			}
			if !closeSlices(split, whole, 1e-6) {
				t.Errorf("accumulated %v, whole batch %v", split, whole)
			}
			if math.Abs(resSplit.FinalLoss-resWhole.FinalLoss) > 1e-6 {
				t.Errorf("reported loss %v accumulated, %v whole", resSplit.FinalLoss, resWhole.FinalLoss)
			}
		})
	}
}

// Evaluation points, step counts, epochs and the schedule's total and warm-up, read
// back from the parameter's path (see scriptTask).
func TestRunStepsEvaluationsAndSchedule(t *testing.T) {
	cases := []struct {
		name                 string
		cfg                  Config
		batches              int
		wantSteps, wantTotal int
		wantWarmup           int
		wantEvals            []int // steps
		wantEpochs           []int // epoch of each evaluation
	}{
		{"eval each epoch", Config{Epochs: 2}, 4, 8, 8, 0, []int{4, 8}, []int{0, 1}},
		{"accumulation with a short last step", Config{Epochs: 2, GradAccum: 2}, 5, 6, 6, 0, []int{3, 6}, []int{0, 1}},
		{"every 3 steps", Config{Epochs: 3, EvalEvery: 3}, 4, 12, 12, 0, []int{3, 6, 9, 12}, []int{0, 1, 2, 2}},
		{"every 5 steps plus the last", Config{Epochs: 3, EvalEvery: 5}, 4, 12, 12, 0, []int{5, 10, 12}, []int{1, 2, 2}},
		{"MaxSteps caps", Config{Epochs: 5, MaxSteps: 6}, 4, 6, 6, 0, []int{4, 6}, []int{0, 1}},
		{"MaxSteps beyond Epochs runs on", Config{Epochs: 1, MaxSteps: 10}, 4, 10, 10, 0, []int{4, 8, 10}, []int{0, 1, 2}},
		{"warm-up steps", Config{Epochs: 2, WarmupSteps: 3}, 4, 8, 8, 3, []int{4, 8}, []int{0, 1}},
		{"warm-up ratio", Config{Epochs: 2, WarmupRatio: 0.25}, 4, 8, 8, 2, []int{4, 8}, []int{0, 1}},
		{"warm-up steps win over ratio", Config{Epochs: 2, WarmupSteps: 1, WarmupRatio: 0.5}, 4, 8, 8, 1, []int{4, 8}, []int{0, 1}},
	}
	const lr = 0.01
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task := newScriptTask(c.batches, 1)
			var path []float64
			record := func(int) error { path = append(path, task.value()); return nil }
			res, err := Run(c.cfg, task, c.cfg.AdamW([]Group{{Params: task.params(), LR: lr}}), record)
			if err != nil {
				t.Fatal(err)
			}
			if res.Steps != c.wantSteps {
				t.Errorf("Steps = %d, want %d", res.Steps, c.wantSteps)
			}
			var steps, epochs []int
			for _, e := range res.History {
				steps, epochs = append(steps, e.Step), append(epochs, e.Epoch)
			}
			if !slices.Equal(steps, c.wantEvals) || !slices.Equal(epochs, c.wantEpochs) {
				t.Errorf("evaluations at steps %v epochs %v, want %v %v", steps, epochs, c.wantEvals, c.wantEpochs)
			}
			prev := 0.0
			for k, p := range path {
				got := (prev - p) / lr
				if want := LinearSchedule(k, c.wantWarmup, c.wantTotal); math.Abs(got-want) > 1e-6 {
					t.Errorf("update %d used multiplier %.6f, want %.6f (warm-up %d, total %d)", k, got, want, c.wantWarmup, c.wantTotal)
				}
				prev = p
			}
			for i := range task.evalModes {
				if task.evalModes[i] || task.evalGrad[i] {
					t.Errorf("evaluation %d ran with training=%v grad=%v, want eval mode under no-grad", i, task.evalModes[i], task.evalGrad[i])
				}
			}
			if !task.training {
				t.Error("task left in eval mode after the run")
			}
		})
	}
}

// The best evaluation is kept, not the last; ties keep the earliest; NaN never wins.
func TestRunKeepsBestEvaluation(t *testing.T) {
	cases := []struct {
		scores   []float64
		wantStep int
	}{
		{[]float64{0.5, 0.9, 0.7, 0.8}, 2},
		{[]float64{0.5, 0.9, 0.9, 0.1}, 2},
		{[]float64{math.NaN(), 0.3, 0.2, 0.1}, 2},
		// An undefined score (NaN: STS-B correlation of constant predictions) never
		// beats a defined one, even a negative one, whichever comes first.
		{[]float64{-0.2, math.NaN(), math.NaN(), -0.3}, 1},
		{[]float64{math.NaN(), math.NaN(), -0.9, math.NaN()}, 3},
		{[]float64{0.1, 0.2, 0.3, 0.4}, 4},
	}
	for _, c := range cases {
		task := newScriptTask(4, c.scores...)
		cfg := Config{Epochs: 1, EvalEvery: 1}
		res, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.01}}))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.History) != 4 || res.Best.Step != c.wantStep {
			t.Errorf("scores %v: best at step %d of %d evaluations, want step %d", c.scores, res.Best.Step, len(res.History), c.wantStep)
		}
	}
}

// Hooks run after every step, in order, with the 1-based step, after the update.
func TestRunHooks(t *testing.T) {
	task := newScriptTask(3)
	var log []string
	hook := func(name string) Hook {
		return func(step int) error {
			log = append(log, fmt.Sprintf("%s%d", name, step))
			if task.value() >= 0 {
				return fmt.Errorf("hook %s at step %d sees p = %v: update not applied", name, step, task.value())
			}
			return nil
		}
	}
	cfg := Config{Epochs: 1}
	if _, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.01}}), hook("a"), hook("b")); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a1", "b1", "a2", "b2", "a3", "b3"}; !slices.Equal(log, want) {
		t.Errorf("hook calls %v, want %v", log, want)
	}
}

// Errors stop the run and name the step.
func TestRunErrors(t *testing.T) {
	failingHook := func(step int) error {
		if step == 2 {
			return fmt.Errorf("scripted hook failure")
		}
		return nil
	}
	cases := []struct {
		name      string
		setup     func(*scriptTask)
		hooks     []Hook
		want      string
		wantSteps int
	}{
		{"loss", func(s *scriptTask) { s.failLossAt = 3 }, nil, "loss at step 3", 2},
		{"hook", func(*scriptTask) {}, []Hook{failingHook}, "hook after step 2", 2},
		{"evaluation", func(s *scriptTask) { s.failEvalAt = 1 }, nil, "evaluation after step 4", 4},
		{"non-scalar loss", func(s *scriptTask) { s.scalarLoss = false }, nil, "backward at step 1", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task := newScriptTask(4, 1)
			c.setup(task)
			cfg := Config{Epochs: 2}
			res, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.01}}), c.hooks...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if res.Steps != c.wantSteps {
				t.Errorf("Steps = %d, want %d", res.Steps, c.wantSteps)
			}
		})
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	task := newScriptTask(2, 1)
	groups := []Group{{Params: task.params(), LR: 0.01}}
	cases := []struct {
		name string
		cfg  Config
		opt  *AdamW
	}{
		{"no epochs or steps", Config{}, NewAdamW(groups, 0, 0, 0)},
		{"negative accumulation", Config{Epochs: 1, GradAccum: -1}, NewAdamW(groups, 0, 0, 0)},
		{"optimizer betas differ from the config", Config{Epochs: 1}, NewAdamW(groups, 0.9, 0.98, 1e-6)},
		{"no optimizer", Config{Epochs: 1}, nil},
	}
	for _, c := range cases {
		if _, err := Run(c.cfg, task, c.opt); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}

func TestRunProgress(t *testing.T) {
	task := newScriptTask(4, 0.5)
	var out bytes.Buffer
	cfg := Config{Epochs: 2, Progress: &out}
	if _, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.01}})); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "\r") || !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Errorf("progress is not one \\r-rewritten line ending in a newline: %q", s)
	}
	lines := strings.Split(strings.TrimSpace(s), "\r")
	last := lines[len(lines)-1]
	for _, want := range []string{"step 8/8", "loss ", "steps/s", "ETA 0s", "dev score 0.5000"} {
		if !strings.Contains(last, want) {
			t.Errorf("last progress line %q lacks %q", last, want)
		}
	}
}

// The last line shows the final evaluation, not the one before it: scores 0.5, 0.9, 0.7
// over three epochs end on "dev score 0.7000 (best 0.9000)".
func TestRunProgressEndsOnFinalEvaluation(t *testing.T) {
	task := newScriptTask(4, 0.5, 0.9, 0.7)
	var out bytes.Buffer
	cfg := Config{Epochs: 3, Progress: &out}
	if _, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.01}})); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\r")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "step 12/12") || !strings.Contains(last, "dev score 0.7000 (best 0.9000)") {
		t.Errorf("last progress line %q, want step 12/12 and dev score 0.7000 (best 0.9000)", last)
	}
}

// A warm-up at or beyond the run's optimizer steps (counted after epochs, a step cap and
// gradient accumulation) is reported in Result and warned about on Log before the first
// step; a shorter one is not.
func TestRunWarnsWhenWarmupCoversTheRun(t *testing.T) {
	for _, c := range []struct {
		cfg          Config
		batches      int
		total, warm  int
		exceeds      bool
		wantWarnPart string
	}{
		{Config{Epochs: 2, WarmupSteps: 8}, 4, 8, 8, true, "warm-up of 8 optimizer steps ≥ this run's 8"},
		{Config{Epochs: 2, WarmupSteps: 7}, 4, 8, 7, false, ""},
		{Config{Epochs: 3, MaxSteps: 5, WarmupSteps: 10}, 4, 5, 10, true, "only 0.4 of its peak"},
		{Config{Epochs: 2, GradAccum: 3, WarmupSteps: 4}, 5, 4, 4, true, "this run's 4 optimizer steps"},
		{Config{Epochs: 2, WarmupRatio: 0.5}, 4, 8, 4, false, ""},
	} {
		task := newScriptTask(c.batches, 0.5)
		var log bytes.Buffer
		c.cfg.Log = &log
		res, err := Run(c.cfg, task, c.cfg.AdamW([]Group{{Params: task.params(), LR: 0.01}}))
		if err != nil {
			t.Fatal(err)
		}
		if res.TotalSteps != c.total || res.WarmupSteps != c.warm || res.WarmupExceedsSteps != c.exceeds {
			t.Errorf("%+v: total %d warm-up %d exceeds %v, want %d %d %v", c.cfg, res.TotalSteps, res.WarmupSteps, res.WarmupExceedsSteps, c.total, c.warm, c.exceeds)
		}
		if got := log.String(); (c.wantWarnPart == "") != (got == "") || !strings.Contains(got, c.wantWarnPart) {
			t.Errorf("%+v: log %q, want a warning containing %q", c.cfg, got, c.wantWarnPart)
		}
	}
}

// noGrad turns grad mode off and restores it (gotch's GradSetEnabled misreports the
// previous mode, so restoring with it would leave autograd off).
func TestNoGradRestoresGradMode(t *testing.T) {
	noGrad(func() {
		if torchx.SetGradEnabled(false) {
			t.Error("grad mode on inside noGrad")
		}
	})
	// Pin the thread: the mode is thread-local.
	var before, after bool
	noGrad(func() {
		before = torchx.SetGradEnabled(true)
		noGrad(func() {})
		after = torchx.SetGradEnabled(false)
	})
	if before || !after {
		t.Errorf("grad mode before %v, after nested noGrad %v; want false, true", before, after)
	}
}
