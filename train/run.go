package train

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"time"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
)

// Task is what a suite gives the engine.
type Task interface {
	// Batches returns the training batches of one epoch (0-based), in order (the suite
	// shuffles with the seed it was given). Run asks for epoch 0 once up front, to size
	// the schedule, and assumes later epochs have as many batches.
	Batches(epoch int) ([]any, error)
	// Loss computes the scalar training loss of one batch, with the graph attached. Run
	// owns the returned tensor and drops it after the backward pass.
	Loss(batch any) (*ts.Tensor, error)
	// Evaluate scores the model on the dev data; Main names the score used to pick the
	// best evaluation (higher is better). Run calls it in eval mode and under no-grad.
	Evaluate() (Scores, error)
	// SetTraining switches the model's dropout.
	SetTraining(bool)
}

// Scores are one evaluation's metrics; Values[Main] picks the best evaluation.
type Scores struct {
	Main   string
	Values map[string]float64
}

// Hook is called after every optimizer step (1-based count), before the next forward
// pass and before the gradients are zeroed: a hook sees the step's (clipped) gradients
// in .grad, as PEFT's AdaLoRA update_and_allocate must ("after optimizer.step(), before
// zero_grad()"). Methods use it, e.g. Adaptive Vector Freezing re-ranks and freezes vectors.
type Hook func(step int) error

// Config is the loop's hyperparameters (SPEC §4).
type Config struct {
	Epochs int
	// Schedule is the learning-rate multiplier per optimizer step; nil is
	// LinearSchedule (transformers' default), ConstantSchedule is diffusers'.
	Schedule func(step, warmup, total int) float64
	MaxSteps int // > 0: train exactly this many optimizer steps, over as many epochs as it takes (HF's max_steps), and size the schedule with it
	// WarmupSteps wins when > 0; else warm-up is ceil(WarmupRatio · total steps).
	WarmupSteps int
	WarmupRatio float64
	MaxGradNorm float64 // 0 = no clipping
	GradAccum   int     // micro-batches per optimizer step; 0 means 1
	EvalEvery   int     // evaluate every N optimizer steps; 0 = at the end of each epoch. Always after the last step.
	Seed        int64   // with the step, seeds libtorch's RNG (dropout) before every optimizer step
	// Progress receives a one-line progress bar rewritten with \r, and a final newline.
	Progress io.Writer
	// Log receives warnings about the run's settings before training starts, e.g. a
	// warm-up at or beyond the run's total optimizer steps (nil: none are written;
	// Result reports them either way).
	Log io.Writer
	// WarmupHint says, in the caller's terms, how to shorten the warm-up (the runner
	// names its flags); empty: a generic hint.
	WarmupHint string
	// CheckpointEvery > 0 hands the state to Checkpoint every that many optimizer
	// steps; Checkpoint (when set) also gets it after every evaluation and on Stop.
	// CheckpointInterval > 0 does the same when that much wall time has passed since
	// the last checkpoint (or the start), so that a checkpoint costs a bounded share of
	// the run on any hardware.
	CheckpointEvery    int
	CheckpointInterval time.Duration
	Checkpoint         func(Checkpoint) error
	// Resume continues the run from a checkpoint that Run handed out for the same
	// settings (the caller checks that they are the same).
	Resume *Checkpoint
	// Stop is polled after every optimizer step; true makes Run hand its state to
	// Checkpoint and return ErrStopped.
	Stop func() bool
	// OnBest is called after an evaluation that is the best so far, with the model in
	// that state (e.g. to save the trainable parameters).
	OnBest func(Eval) error
	// Regularization, when set, is added to every micro-batch's training loss (before
	// the division by the micro-batches in the step), e.g. AdaLoRA's orthogonality
	// penalty; the caller sets it from a method that is a methods.Regularizer.
	Regularization func() (*ts.Tensor, error)
	// EvalMode, when set, is called with true before every evaluation (under no-grad,
	// in eval mode) and with false after it, e.g. so that a method builds its adapted
	// weights once per evaluation (methods.EvalCacher); it must not change what
	// training computes.
	EvalMode func(on bool)
	// AdamW's β1, β2, ε; zero means 0.9, 0.999, 1e-8. Run checks that the optimizer it
	// is given uses these, so that a run's record cannot disagree with its training.
	Beta1, Beta2, Eps float64
	// Autocast, when set, runs the training and evaluation forward passes in mixed
	// precision (the parameters, optimizer and hooks stay float32).
	Autocast *Autocast
	// LossScaler, when set (float16), scales the loss and skips the steps whose
	// gradients overflow; Run updates it and reports its final state in Result.
	LossScaler *LossScaler
}

// AdamW builds the optimizer this config describes.
func (c Config) AdamW(groups []Group) *AdamW { return NewAdamW(groups, c.Beta1, c.Beta2, c.Eps) }

// Eval is one evaluation: after Step optimizer steps, during Epoch (0-based, as passed
// to Batches). Loss is the mean training loss per step since the previous evaluation.
type Eval struct {
	Step   int
	Epoch  int
	Scores Scores
	Loss   float64
}

// Result is what a run reports (SPEC §5's timings and memory among it).
type Result struct {
	Best    Eval   // highest Scores.Values[Scores.Main]; the earliest on ties
	History []Eval // every evaluation, in order
	Steps   int    // optimizer steps taken
	// FinalLoss is the mean training loss per step over the last evaluation interval.
	FinalLoss float64
	// SetupTime is Run's own preparation (seeding, epoch 0's batches); callers add their
	// model and method setup (e.g. VectorFit's SVD). TrainTime excludes evaluation;
	// StepTime = TrainTime/Steps.
	SetupTime, TrainTime, EvalTime, StepTime time.Duration
	CheckpointTime                           time.Duration // writing checkpoints, in neither of the above
	PeakRSS                                  int64         // bytes, VmHWM (0 where unavailable)
	// TotalSteps and WarmupSteps are the schedule's, resolved from MaxSteps or Epochs ×
	// optimizer steps per epoch, and WarmupSteps or WarmupRatio. WarmupExceedsSteps is
	// WarmupSteps ≥ TotalSteps: the learning rate never reaches its peak (and never
	// decays), which a warm-up meant for a full run does to a shortened one.
	TotalSteps, WarmupSteps int
	WarmupExceedsSteps      bool
	// LossScaler is the loss scaler's state at the end (final scale, skipped steps);
	// nil without one.
	LossScaler *LossScaler
}

// gcEvery is how often (in optimizer steps) Run forces a Go GC. Tensors are freed by
// finalizers, and the Go GC cannot see libtorch's memory, so without this a task that
// leaves intermediates to the finalizers could grow resident memory for a long time.
const gcEvery = 50

// Run trains task with opt: for each epoch, for each batch, loss ÷ (micro-batches in
// the step) and backward; every GradAccum micro-batches clip, opt.Step with the linear
// schedule, the hooks in order and ZeroGrad; evaluation as configured, in eval mode and
// under no-grad. An epoch whose batch count is not a multiple of GradAccum ends with a
// shorter step (as Hugging Face's Trainer), whose loss is divided by its own length so
// that it still averages its micro-batches. Errors stop the run; they carry the step,
// and the Result so far is returned with them.
func Run(cfg Config, task Task, opt *AdamW, hooks ...Hook) (Result, error) {
	// Grad mode is thread-local in libtorch: keep the whole run on one OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := time.Now()
	cfg, err := cfg.resolve(opt)
	if err != nil {
		return Result{}, err
	}
	prev := torchx.SetGradEnabled(true) // not ts.MustGradSetEnabled: it misreports the previous mode
	defer torchx.SetGradEnabled(prev)

	first, err := batchesOf(task, 0, 0)
	if err != nil {
		return Result{}, err
	}
	r := newRunner(cfg, task, opt, hooks, len(first))
	r.checkSchedule()
	if cfg.Resume != nil {
		if err := r.restore(*cfg.Resume); err != nil {
			return Result{}, err
		}
	}
	r.res.SetupTime = time.Since(start)
	err = r.train(first)
	r.finish()
	return r.res, err
}

// resolve fills Config's zero values and rejects inconsistent settings.
func (c Config) resolve(opt *AdamW) (Config, error) {
	if c.GradAccum == 0 {
		c.GradAccum = 1
	}
	switch {
	case opt == nil:
		return c, errors.New("train: no optimizer")
	case c.GradAccum < 0 || c.EvalEvery < 0 || c.MaxSteps < 0 || c.WarmupSteps < 0 || c.CheckpointEvery < 0 || c.CheckpointInterval < 0 ||
		!(c.MaxGradNorm >= 0) || math.IsInf(c.MaxGradNorm, 0):
		return c, fmt.Errorf("train: negative setting in %+v", c)
	case c.Epochs <= 0 && c.MaxSteps <= 0:
		return c, errors.New("train: need Epochs > 0 or MaxSteps > 0")
	}
	if c.Autocast != nil {
		if err := torchx.CheckAutocast(c.Autocast.CUDA, c.Autocast.DType); err != nil {
			return c, err
		}
	}
	if c.LossScaler != nil {
		if err := c.LossScaler.check(); err != nil {
			return c, err
		}
	}
	b1, b2, eps := opt.Hyper()
	if orDefault(c.Beta1, DefaultBeta1) != b1 || orDefault(c.Beta2, DefaultBeta2) != b2 || orDefault(c.Eps, DefaultEps) != eps {
		return c, fmt.Errorf("train: config has AdamW β1=%g β2=%g ε=%g, the optimizer β1=%g β2=%g ε=%g",
			orDefault(c.Beta1, DefaultBeta1), orDefault(c.Beta2, DefaultBeta2), orDefault(c.Eps, DefaultEps), b1, b2, eps)
	}
	return c, nil
}

// batchesOf gets one epoch's batches; an empty epoch would make the loop spin.
func batchesOf(task Task, epoch, step int) ([]any, error) {
	b, err := task.Batches(epoch)
	if err != nil {
		return nil, fmt.Errorf("train: batches of epoch %d (after step %d): %w", epoch, step, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("train: epoch %d has no batches", epoch)
	}
	return b, nil
}

// runner is one Run's state.
type runner struct {
	cfg           Config
	task          Task
	opt           *AdamW
	hooks         []Hook
	params        []Param
	total, warmup int // optimizer steps of the schedule

	step, epoch    int
	startBatch     int // index of the first micro-batch to run in the first epoch (resume)
	lastCheckpoint time.Time
	lastEval       int     // step of the latest evaluation (-1: none yet)
	lossSum        float64 // sum of per-step losses since the latest evaluation
	lossSteps      int
	bar            *progress
	res            Result
	scaler         *LossScaler // nil: no loss scaling
}

// TotalSteps is the number of optimizer steps Run makes with cfg on a task of
// batchesPerEpoch batches per epoch (what a method that schedules itself, AdaLoRA's
// budget, needs before training).
func TotalSteps(cfg Config, batchesPerEpoch int) int {
	if cfg.MaxSteps > 0 {
		return cfg.MaxSteps
	}
	accum := max(cfg.GradAccum, 1)
	return cfg.Epochs * ((batchesPerEpoch + accum - 1) / accum)
}

func newRunner(cfg Config, task Task, opt *AdamW, hooks []Hook, batchesPerEpoch int) *runner {
	total := TotalSteps(cfg, batchesPerEpoch)
	var scaler *LossScaler
	if cfg.LossScaler != nil {
		s := *cfg.LossScaler // the caller's is the starting state; Result reports the end
		scaler = &s
	}
	return &runner{
		cfg: cfg, task: task, opt: opt, hooks: hooks, scaler: scaler,
		params:   allParams(opt.Groups()),
		total:    total,
		warmup:   warmupSteps(cfg.WarmupSteps, cfg.WarmupRatio, total),
		lastEval: -1, lastCheckpoint: time.Now(),
		bar: newProgress(cfg.Progress, total),
	}
}

// checkSchedule records the schedule and warns when the warm-up is as long as the run.
// With warm-up w ≥ total steps T, the last update runs at (T−1)/w of the peak learning
// rate (LinearSchedule), so a run shortened by a smaller data set or a step cap may
// barely train; nothing else would say so.
func (r *runner) checkSchedule() {
	r.res.TotalSteps, r.res.WarmupSteps = r.total, r.warmup
	r.res.WarmupExceedsSteps = r.warmup > 0 && r.warmup >= r.total
	if r.res.WarmupExceedsSteps && r.cfg.Log != nil {
		hint := r.cfg.WarmupHint
		if hint == "" {
			hint = "set a smaller warm-up or a warm-up ratio"
		}
		fmt.Fprintf(r.cfg.Log, "warning: warm-up of %d optimizer steps ≥ this run's %d optimizer steps: the learning rate rises to only %.3g of its peak and never decays (warm-up counts optimizer steps and is not scaled to a shortened run; %s)\n",
			r.warmup, r.total, r.schedule()(r.total-1, r.warmup, r.total), hint)
	}
}

// schedule is the configured learning-rate schedule.
func (r *runner) schedule() func(step, warmup, total int) float64 {
	if r.cfg.Schedule != nil {
		return r.cfg.Schedule
	}
	return LinearSchedule
}

// train runs the epochs, then the final evaluation unless the last step just had one.
func (r *runner) train(first []any) error {
	r.task.SetTraining(true)
	batches := first
	for epoch := r.epoch; !r.finished(epoch); epoch++ {
		r.epoch = epoch
		if epoch > 0 {
			t0 := time.Now()
			var err error
			if batches, err = batchesOf(r.task, epoch, r.step); err != nil {
				return err
			}
			r.res.TrainTime += time.Since(t0)
		}
		if err := r.runEpoch(batches); err != nil {
			return err
		}
	}
	if r.lastEval != r.step {
		if err := r.evaluate(); err != nil {
			return err
		}
		return r.checkpoint(len(batches))
	}
	return nil
}

// finished says whether training is over before epoch starts: MaxSteps counts steps,
// otherwise Epochs counts epochs.
func (r *runner) finished(epoch int) bool {
	if r.cfg.MaxSteps > 0 {
		return r.step >= r.cfg.MaxSteps
	}
	return epoch >= r.cfg.Epochs
}

func (r *runner) runEpoch(batches []any) error {
	ga := r.cfg.GradAccum
	start := r.startBatch
	r.startBatch = 0
	for i := start; i < len(batches); i += ga {
		if r.cfg.MaxSteps > 0 && r.step >= r.cfg.MaxSteps {
			return nil
		}
		if err := r.optimizerStep(batches[i:min(i+ga, len(batches))]); err != nil {
			return err
		}
		next := min(i+ga, len(batches))
		evaluated := r.evalDue(next == len(batches))
		if evaluated {
			if err := r.evaluate(); err != nil {
				return err
			}
		}
		stop := r.cfg.Stop != nil && r.cfg.Stop()
		if evaluated || stop || r.checkpointDue() {
			if err := r.checkpoint(next); err != nil {
				return err
			}
		}
		if stop {
			return fmt.Errorf("train: after step %d: %w", r.step, ErrStopped)
		}
	}
	return nil
}

func (r *runner) checkpointDue() bool {
	every, interval := r.cfg.CheckpointEvery, r.cfg.CheckpointInterval
	return (every > 0 && r.step%every == 0) || (interval > 0 && time.Since(r.lastCheckpoint) >= interval)
}

// checkpoint hands the state to Config.Checkpoint, if set.
func (r *runner) checkpoint(next int) error {
	r.lastCheckpoint = time.Now()
	if r.cfg.Checkpoint == nil {
		return nil
	}
	err := r.cfg.Checkpoint(r.snapshot(next))
	r.res.CheckpointTime += time.Since(r.lastCheckpoint)
	if err != nil {
		return fmt.Errorf("train: checkpoint after step %d: %w", r.step, err)
	}
	return nil
}

func (r *runner) evalDue(endOfEpoch bool) bool {
	if r.cfg.EvalEvery > 0 {
		return r.step%r.cfg.EvalEvery == 0
	}
	return endOfEpoch
}

// optimizerStep is one update from the given micro-batches, then the hooks.
func (r *runner) optimizerStep(micro []any) error {
	t0 := time.Now()
	// Dropout draws from a generator seeded per step, so that a resumed run draws what
	// an uninterrupted one would without saving libtorch's generator state.
	torchx.ManualSeed(stepSeed(r.cfg.Seed, r.step))
	loss, err := r.accumulate(micro)
	if err != nil {
		return err
	}
	if err := r.checkFinite("loss", loss); err != nil {
		return err
	}
	if r.scaler != nil {
		r.scaler.unscale(r.params) // before the norm and the clipping, as GradScaler.unscale_
	}
	gradNorm := GradNorm(r.params)
	if r.scaler != nil && (math.IsNaN(gradNorm) || math.IsInf(gradNorm, 0)) {
		return r.skipStep(loss, t0)
	}
	// A non-finite gradient stops the run before it reaches the parameters.
	if err := r.checkFinite("gradient norm", gradNorm); err != nil {
		return err
	}
	if r.cfg.MaxGradNorm > 0 {
		clipTo(r.params, r.cfg.MaxGradNorm, gradNorm)
	}
	r.opt.Step(r.schedule()(r.step-r.skipped(), r.warmup, r.total))
	if r.scaler != nil {
		r.scaler.update(true)
	}
	r.step++
	r.lossSum += loss
	r.lossSteps++
	for _, h := range r.hooks {
		if err := h(r.step); err != nil {
			return fmt.Errorf("train: hook after step %d: %w", r.step, err)
		}
	}
	r.opt.ZeroGrad() // after the hooks, which may read the gradients
	if r.step%gcEvery == 0 {
		runtime.GC()
	}
	r.res.TrainTime += time.Since(t0)
	r.bar.show(r.step, r.meanLoss(), r.res.TrainTime)
	return nil
}

// accumulate runs forward and backward on each micro-batch, the loss divided by their
// number so that the gradients add up to those of the mean loss. It returns that mean.
func (r *runner) accumulate(micro []any) (float64, error) {
	var sum float64
	for _, b := range micro {
		loss, err := r.loss(b)
		if err != nil {
			return 0, fmt.Errorf("train: loss at step %d: %w", r.step+1, err)
		}
		scale := 1.0
		if r.scaler != nil {
			scale = r.scaler.Scale
		}
		v, err := backward(loss, len(micro), scale)
		if err != nil {
			return 0, fmt.Errorf("train: backward at step %d: %w", r.step+1, err)
		}
		sum += v
	}
	return sum, nil
}

// loss is the task's loss of one batch plus Config.Regularization, if set, under
// autocast when configured (the forward pass only: backward runs outside it, as
// torch.autocast's documentation prescribes).
func (r *runner) loss(b any) (loss *ts.Tensor, err error) {
	if aerr := r.cfg.Autocast.run(func() { loss, err = r.forward(b) }); aerr != nil {
		return nil, aerr
	}
	return loss, err
}

func (r *runner) forward(b any) (*ts.Tensor, error) {
	loss, err := r.task.Loss(b)
	if err != nil || r.cfg.Regularization == nil {
		return loss, err
	}
	reg, err := r.cfg.Regularization()
	if err != nil {
		loss.MustDrop()
		return nil, fmt.Errorf("regularization: %w", err)
	}
	defer reg.MustDrop()
	return loss.MustAdd(reg, true), nil
}

// backward back-propagates (loss/n)·scale, drops the loss (and so its graph), and
// returns loss/n. scale is the loss scaler's (1 without one).
func backward(loss *ts.Tensor, n int, scale float64) (float64, error) {
	defer loss.MustDrop()
	if k := loss.Numel(); k != 1 {
		return 0, fmt.Errorf("loss has %d elements, want a scalar", k)
	}
	h := handle(loss)
	if n > 1 {
		h = divScalar(h, float64(n))
		defer lib.AtFree(h)
	}
	scaled := h
	if scale != 1 {
		scaled = mulScalar(h, scale)
		defer lib.AtFree(scaled)
	}
	lib.AtBackward(scaled, 0, 0)
	if err := ts.TorchErr(); err != nil {
		return 0, errors.New(firstLine(err.Error()))
	}
	return item(h), nil
}

// firstLine keeps the message of a libtorch error, without the C++ and Go traces
// gotch appends.
func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// evaluate scores the model in eval mode under no-grad and keeps the best evaluation.
func (r *runner) evaluate() error {
	t0 := time.Now()
	r.task.SetTraining(false)
	var scores Scores
	var err error
	noGrad(func() {
		if r.cfg.EvalMode != nil { // outside autocast: the cache keeps the parameters' dtype
			r.cfg.EvalMode(true)
			defer r.cfg.EvalMode(false)
		}
		if aerr := r.cfg.Autocast.run(func() { scores, err = r.task.Evaluate() }); aerr != nil {
			err = aerr
		}
	})
	r.task.SetTraining(true)
	r.lastEval = r.step
	runtime.GC() // evaluation leaves many intermediates to the finalizers
	r.res.EvalTime += time.Since(t0)
	if err != nil {
		return fmt.Errorf("train: evaluation after step %d: %w", r.step, err)
	}
	v, ok := scores.Values[scores.Main]
	if !ok {
		return fmt.Errorf("train: evaluation after step %d has no main score %q in %v", r.step, scores.Main, scores.Values)
	}
	ev := Eval{Step: r.step, Epoch: r.epoch, Scores: scores, Loss: r.meanLoss()}
	r.res.History = append(r.res.History, ev)
	if len(r.res.History) == 1 || better(v, r.res.Best.Scores.Values[r.res.Best.Scores.Main]) {
		r.res.Best = ev
		if r.cfg.OnBest != nil {
			if err := r.cfg.OnBest(ev); err != nil {
				return fmt.Errorf("train: saving the best evaluation (step %d): %w", r.step, err)
			}
		}
	}
	r.lossSum, r.lossSteps = 0, 0
	r.bar.setDev(scores.Main, v, r.res.Best.Scores.Values[r.res.Best.Scores.Main])
	return nil
}

// better is v > best, with NaN (a diverged evaluation) below every number.
func better(v, best float64) bool {
	return v > best || (math.IsNaN(best) && !math.IsNaN(v))
}

func (r *runner) meanLoss() float64 {
	if r.lossSteps == 0 {
		return math.NaN()
	}
	return r.lossSum / float64(r.lossSteps)
}

// finish fills the summary fields of the result.
func (r *runner) finish() {
	r.bar.done()
	r.res.Steps = r.step
	if n := len(r.res.History); n > 0 {
		r.res.FinalLoss = r.res.History[n-1].Loss
	}
	if r.step > 0 {
		r.res.StepTime = r.res.TrainTime / time.Duration(r.step)
	}
	r.res.PeakRSS = PeakRSS()
	if r.scaler != nil {
		s := *r.scaler
		r.res.LossScaler = &s
	}
}

// skipped is the number of steps the loss scaler skipped so far. The learning-rate
// schedule counts only the steps that updated the parameters, as Hugging Face's Trainer
// does not step its scheduler after a skipped optimizer step.
func (r *runner) skipped() int {
	if r.scaler == nil {
		return 0
	}
	return r.scaler.Skipped
}

// skipStep ends a step whose (unscaled) gradients overflowed: no update, the scale
// backs off, the gradients are zeroed. The step still counts (as Hugging Face's
// global_step) and its loss enters the mean; the hooks are not called, since they would
// read Inf/NaN gradients (AVF's ranking, AdaLoRA's sensitivities).
func (r *runner) skipStep(loss float64, t0 time.Time) error {
	r.scaler.update(false)
	r.step++
	r.lossSum += loss
	r.lossSteps++
	r.opt.ZeroGrad()
	r.res.TrainTime += time.Since(t0)
	r.bar.show(r.step, r.meanLoss(), r.res.TrainTime)
	return nil
}

// stepSeed is libtorch's seed for optimizer step `step` (0-based) of a run seeded with
// seed: SplitMix64's finaliser of the pair, so that neighbouring steps and seeds get
// unrelated streams.
func stepSeed(seed int64, step int) int64 {
	z := uint64(seed)*0x9e3779b97f4a7c15 + uint64(step) + 1
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return int64((z ^ (z >> 31)) >> 1) // non-negative: torch.manual_seed takes any int64, but logs read better
}
