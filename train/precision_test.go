package train

import (
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
)

// poisonTask is logTask whose batch number poison (in epoch 0's order) adds a term with
// value exactly 0 and gradient 1e35 on every weight: finite in float32, but +Inf once a
// loss scale of 2¹⁶ multiplies it (float32's largest is 3.4e38), as a float16 gradient
// overflows. drop leaves that batch out instead (the reference run).
type poisonTask struct {
	*logTask
	poison int
	drop   bool
}

func (t *poisonTask) Batches(epoch int) ([]any, error) {
	b, err := t.logTask.Batches(epoch)
	if err != nil || !t.drop {
		return b, err
	}
	return slices.Delete(b, t.poison, t.poison+1), nil
}

func (t *poisonTask) Loss(batch any) (*ts.Tensor, error) {
	loss, err := t.logTask.Loss(batch)
	first, _ := t.logTask.Batches(0)
	if err != nil || t.drop || !slices.Equal(batch.([]int64), first[t.poison].([]int64)) {
		return loss, err
	}
	zero := t.w.MustSub(t.w.MustDetach(false), false).MustSum(gotch.Float, true) // value 0, gradient 1 per weight
	return loss.MustAdd(zero.MustMulScalar(ts.FloatScalar(1e35), true), true), nil
}

// GradScaler's algorithm with an injected overflow: the overflowing step is skipped (no
// update: the parameters end where a run without that batch ends, to the bit, since
// scaling by powers of two is exact), the scale halves there and doubles after every
// GrowthInterval finite steps: 2¹⁶ · ½ · 2 · 2 = 2¹⁷ with the overflow at step 3 of 16
// and an interval of 5 (finite steps 1-2, skip, then 13 finite: growth after 5 and 10).
func TestLossScalerSkipsOverflowingStep(t *testing.T) {
	try := func(drop bool, scaler *LossScaler) ([]float64, Result, error) {
		task := &poisonTask{logTask: newLogTask(0), poison: 2, drop: drop}
		cfg := Config{Epochs: 1, Schedule: ConstantSchedule, MaxGradNorm: 1, Seed: 1, LossScaler: scaler}
		res, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.05, WeightDecay: 0.01}}))
		return append(values(task.w), values(task.b)...), res, err
	}
	run := func(drop bool, scaler *LossScaler) ([]float64, Result) {
		p, res, err := try(drop, scaler)
		if err != nil {
			t.Fatal(err)
		}
		return p, res
	}
	s := NewLossScaler()
	s.GrowthInterval = 5
	got, res := run(false, s)
	want, ref := run(true, nil)
	if !slices.Equal(got, want) {
		t.Errorf("parameters with the overflowing step skipped:\n%v\nwithout that batch:\n%v", got, want)
	}
	ls := res.LossScaler
	if ls == nil || ls.Scale != 131072 || ls.Skipped != 1 || ls.GrowthTracker != 3 || res.Steps != 16 || ref.Steps != 15 {
		t.Errorf("scaler %+v after %d steps (reference %d); want scale 131072, 1 skipped, tracker 3, 16 steps", ls, res.Steps, ref.Steps)
	}
	if s.Scale != DefaultInitScale || s.Skipped != 0 {
		t.Errorf("Run changed the caller's scaler to %+v", *s)
	}
	// Without a scaler the same batch stops the run (its gradient norm overflows
	// float32): the control that shows the poison reaches the gradients.
	if _, _, err := try(false, nil); err == nil || !strings.Contains(err.Error(), "diverged at step 3: gradient norm is +Inf") {
		t.Errorf("without a scaler: %v, want divergence at step 3", err)
	}
}

func TestLossScalerDefaultsAndUpdate(t *testing.T) {
	s := NewLossScaler()
	if s.Scale != 65536 || s.GrowthFactor != 2 || s.BackoffFactor != 0.5 || s.GrowthInterval != 2000 {
		t.Fatalf("defaults %+v, want GradScaler's 2^16, 2, 0.5, 2000", *s)
	}
	for range 1999 {
		s.update(true)
	}
	if s.Scale != 65536 {
		t.Fatalf("scale %v after 1999 finite steps, want 65536", s.Scale)
	}
	s.update(true)
	if s.Scale != 131072 || s.GrowthTracker != 0 {
		t.Fatalf("after 2000 finite steps %+v, want scale 131072, tracker 0", *s)
	}
	s.update(false)
	s.update(false)
	if s.Scale != 32768 || s.Skipped != 2 {
		t.Fatalf("after two overflows %+v, want scale 32768, 2 skipped", *s)
	}
}

// probeTask records the dtype a float32 matmul gets in the training forward pass, in
// evaluation and in a hook, and the parameters' dtype after training.
type probeTask struct {
	*logTask
	inLoss, inEval gotch.DType
}

func matmulType(a *ts.Tensor) gotch.DType {
	m := a.MustView([]int64{1, logDim}, false)
	defer m.MustDrop()
	p := m.MustMatmul(m.MustT(false), false)
	defer p.MustDrop()
	return p.DType()
}

func (t *probeTask) Loss(b any) (*ts.Tensor, error) {
	t.inLoss = matmulType(t.w)
	return t.logTask.Loss(b)
}

func (t *probeTask) Evaluate() (Scores, error) {
	t.inEval = matmulType(t.w)
	return t.logTask.Evaluate()
}

// With Config.Autocast (CPU, bfloat16) the training and evaluation forward passes run
// under autocast, the hooks do not, and the master weights stay float32.
func TestRunAutocast(t *testing.T) {
	task := &probeTask{logTask: newLogTask(0)}
	var inHook gotch.DType
	hook := func(int) error { inHook = matmulType(task.w); return nil }
	cfg := Config{MaxSteps: 3, Seed: 1, Autocast: &Autocast{DType: gotch.BFloat16}}
	res, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.05}}), hook)
	if err != nil {
		t.Fatal(err)
	}
	if task.inLoss != gotch.BFloat16 || task.inEval != gotch.BFloat16 || inHook != gotch.Float || task.w.DType() != gotch.Float {
		t.Errorf("matmul in loss %v, evaluation %v, hook %v; weights %v; want bfloat16, bfloat16, float32, float32",
			task.inLoss, task.inEval, inHook, task.w.DType())
	}
	if torchx.AutocastEnabled(false) {
		t.Error("autocast is still on after Run")
	}
	if l := res.History[0].Loss; !(l > 0.3 && l < 0.8) {
		t.Errorf("training loss %v under bfloat16 autocast, want near ln 2 = 0.69 for a zero start", l)
	}
	// Without it, float32 throughout.
	plain := &probeTask{logTask: newLogTask(0)}
	cfg.Autocast = nil
	if _, err := Run(cfg, plain, cfg.AdamW([]Group{{Params: plain.params(), LR: 0.05}})); err != nil {
		t.Fatal(err)
	}
	if plain.inLoss != gotch.Float || plain.inEval != gotch.Float {
		t.Errorf("without autocast: loss %v, evaluation %v, want float32", plain.inLoss, plain.inEval)
	}
}

func TestRunRejectsFloat16OnCPU(t *testing.T) {
	task := newLogTask(0)
	cfg := Config{MaxSteps: 1, Autocast: &Autocast{DType: gotch.Half}}
	_, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.05}}))
	if err == nil || !strings.Contains(err.Error(), "autocast on the CPU runs in bfloat16 only") {
		t.Fatalf("float16 autocast on the CPU: %v", err)
	}
	bad := NewLossScaler()
	bad.BackoffFactor = 1
	cfg = Config{MaxSteps: 1, LossScaler: bad}
	if _, err := Run(cfg, task, cfg.AdamW([]Group{{Params: task.params(), LR: 0.05}})); err == nil || !strings.Contains(err.Error(), "0 < backoff < 1") {
		t.Fatalf("backoff 1: %v", err)
	}
}

// The scaler's state is part of a checkpoint: resuming after the skipped step ends with
// the uninterrupted run's parameters and scaler; a checkpoint with a scaler does not
// resume a run without one (another -dtype).
func TestLossScalerResumes(t *testing.T) {
	newScaler := func() *LossScaler { s := NewLossScaler(); s.GrowthInterval = 5; return s }
	cfg := func() Config {
		return Config{Epochs: 1, Schedule: ConstantSchedule, MaxGradNorm: 1, Seed: 1, LossScaler: newScaler()}
	}
	task := &poisonTask{logTask: newLogTask(0), poison: 2}
	c := cfg()
	c.CheckpointEvery = 4
	var saved []Checkpoint
	c.Checkpoint = func(cp Checkpoint) error { saved = append(saved, keep(cp)); return nil }
	want, err := Run(c, task, c.AdamW([]Group{{Params: task.params(), LR: 0.05, WeightDecay: 0.01}}))
	if err != nil || len(saved) == 0 || saved[0].Step != 4 || saved[0].LossScaler == nil || saved[0].LossScaler.Skipped != 1 {
		t.Fatalf("err %v, first checkpoint %+v", err, saved)
	}
	wantParams := append(values(task.w), values(task.b)...)
	again := &poisonTask{logTask: newLogTask(0), poison: 2}
	c = cfg()
	c.Resume = &saved[0]
	got, err := Run(c, again, c.AdamW([]Group{{Params: again.params(), LR: 0.05, WeightDecay: 0.01}}))
	if err != nil {
		t.Fatal(err)
	}
	if p := append(values(again.w), values(again.b)...); !slices.Equal(p, wantParams) || *got.LossScaler != *want.LossScaler {
		t.Errorf("resumed: parameters %v scaler %+v; uninterrupted %v %+v", p, *got.LossScaler, wantParams, *want.LossScaler)
	}
	plain := newLogTask(0)
	c = Config{Epochs: 1, Resume: &saved[0]}
	_, err = Run(c, plain, c.AdamW([]Group{{Params: plain.params(), LR: 0.05, WeightDecay: 0.01}}))
	if err == nil || !strings.Contains(err.Error(), "the checkpoint was made with a loss scaler (float16), this run has no loss scaler") {
		t.Errorf("resuming a scaled run without a scaler: %v", err)
	}
}
