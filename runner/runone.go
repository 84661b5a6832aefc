package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/train"
)

// runOrSkip runs one (task, method, seed), or skips it when -out holds its record with
// the same settings hash. A record of other settings is not replaced without -force.
func (c *command) runOrSkip(task, method string, seed int64, prep prepared) (reports.Record, error) {
	rec, p, meth, err := c.planRun(task, method, seed, prep)
	if err != nil {
		return reports.Record{}, err
	}
	name := rec.FileName()
	ck := filepath.Join(c.o.Out, checkpointsDir, strings.TrimSuffix(name, ".json"))
	if old, ok := c.existing[name]; ok && !c.o.Force {
		if old.SettingsHash == rec.SettingsHash {
			code := ""
			if !sameCode(old.Code, rec.Code) { // settings alone decide, but a reader should know
				code = fmt.Sprintf(", though by other code (%s, now %s)", old.Code.Version, rec.Code.Version)
			}
			fmt.Fprintf(c.stderr, "%s %s seed %d: done, skipped (%s has these settings, hash %.12s%s; -force redoes it)\n",
				task, method, seed, filepath.Join(c.o.Out, name), rec.SettingsHash, code)
			return old, nil
		}
		return reports.Record{}, fmt.Errorf("%s holds this run's record with other settings (hash %.12s, now %.12s; %s): use another -out, or -force to replace it",
			filepath.Join(c.o.Out, name), old.SettingsHash, rec.SettingsHash, orNone(reports.Differences(old, rec)))
	}
	if c.o.Force {
		if err := os.RemoveAll(ck); err != nil {
			return reports.Record{}, err
		}
	}
	if err := c.train(&rec, prep, p, meth, ck); err != nil {
		return reports.Record{}, err
	}
	path, err := reports.Write(c.o.Out, rec)
	if err != nil {
		return reports.Record{}, err
	}
	if !c.o.KeepCheckpoints {
		if err := os.RemoveAll(ck); err != nil {
			fmt.Fprintf(c.stderr, "warning: the record is written but its checkpoint %s could not be removed: %v\n", ck, err)
		}
	}
	fmt.Fprintf(c.stderr, "%s %s seed %d: %s -> %s\n", task, method, seed, outcome(rec), path)
	return rec, nil
}

// planRun is a run's protocol, method and record header (with its settings hash),
// before anything is trained.
func (c *command) planRun(task, method string, seed int64, prep prepared) (reports.Record, protocol, methods.Method, error) {
	p := prep.protocol(c.o, method)
	if err := checkLen(fmt.Sprintf("%s's max length", task), int64(p.maxLen), c.src, c.o.Suite); err != nil {
		return reports.Record{}, p, nil, err
	}
	meth, err := newMethod(c.o, method, seed)
	if err != nil {
		return reports.Record{}, p, nil, err
	}
	rec, err := c.header(task, method, seed, prep, p, meth)
	return rec, p, meth, err
}

// outcome is a run's result in a few words.
func outcome(r reports.Record) string {
	best := fmt.Sprintf("%s %.4f", r.MainScore, r.Scores[r.MainScore])
	if !r.Diverged() {
		return best
	}
	if len(r.Scores) == 0 {
		return fmt.Sprintf("diverged at step %d, before its first evaluation", r.Divergence.Step)
	}
	return fmt.Sprintf("diverged at step %d; best before it %s at step %d", r.Divergence.Step, best, r.BestStep)
}

// header is a run's record before training: its identity, settings and settings hash.
func (c *command) header(task, method string, seed int64, prep prepared, p protocol, meth methods.Method) (reports.Record, error) {
	rec := reports.Record{
		Schema: reports.SchemaVersion, Suite: c.o.Suite, Task: task, Method: method,
		MethodDescription: meth.Describe(), MethodSettings: meth.Settings(), Seed: seed,
		Model: c.src.info, Data: prep.files(), Hyperparameters: hyperparameters(c.o, p),
		Device: c.dev.Name, Code: c.code, Environment: c.env, Command: typedCommand(os.Args),
	}
	rec.Precision = precisionRecord(c.o, c.dev, rec.Hyperparameters)
	var err error
	rec.SettingsHash, err = reports.SettingsHash(rec)
	return rec, err
}

func hyperparameters(o Options, p protocol) map[string]any {
	hyper := map[string]any{
		"lr": p.lr, "head_lr": p.headLR, "epochs": p.epochs, "max_steps": p.maxSteps, "batch": p.batch,
		"max_len": p.maxLen, "warmup_steps": p.warmup, "warmup_ratio": p.warmupRatio, "weight_decay": p.weightDecay,
		"max_grad_norm": o.MaxGradNorm, "grad_accum": o.GradAccum, "eval_every": p.evalEvery,
		"adam_betas": []float64{0.9, 0.999}, "adam_eps": 1e-8,
		"schedule": "linear warm-up, linear decay", "max_train": o.MaxTrain,
	}
	if p.constantLR {
		hyper["schedule"] = "linear warm-up, constant"
	}
	if p.groupByLength { // absent when off, so records without the flag keep their settings hash
		hyper["group_by_length"] = true
	}
	for k, v := range p.extra {
		hyper[k] = v
	}
	return hyper
}

// train builds the model, applies the method, trains (resuming from ck when a
// checkpoint of the same run is there) and fills rec with the results.
func (c *command) train(rec *reports.Record, prep prepared, p protocol, meth methods.Method, ck string) error {
	started := time.Now()
	mem := newGPUMemory(c.dev, func(err error) { fmt.Fprintf(c.stderr, "warning: peak GPU memory: %v\n", err) })
	b, err := prep.model(c.src, c.o, rec.Seed)
	if err != nil {
		return err
	}
	b.to(c.dev)
	if err := meth.Apply(b.model); err != nil {
		return err
	}
	predDir := filepath.Join(c.o.Out, "predictions", strings.TrimSuffix(rec.FileName(), ".json"))
	tt, main, err := prep.newTask(b, p, rec.Seed, predDir)
	if err != nil {
		return err
	}
	adapter, head := meth.Trainable()
	opt := train.NewAdamW([]train.Group{
		{Name: "adapter", Params: adapter, LR: p.lr, WeightDecay: p.weightDecay},
		{Name: "head", Params: head, LR: p.headLR, WeightDecay: p.weightDecay},
	}, 0.9, 0.999, 1e-8)
	cfg := train.Config{
		Epochs: p.epochs, MaxSteps: p.maxSteps, WarmupSteps: max(p.warmup, 0), WarmupRatio: p.warmupRatio, MaxGradNorm: c.o.MaxGradNorm,
		GradAccum: c.o.GradAccum, EvalEvery: p.evalEvery, Seed: rec.Seed, Log: c.stderr,
		WarmupHint: "pass a smaller -warmup, or -warmup-ratio 0.06 for a fraction of the run",
		Stop:       c.stop.Load,
	}
	if p.constantLR {
		cfg.Schedule = train.ConstantSchedule
	}
	cfg.Autocast, cfg.LossScaler = precision(c.o, c.dev)
	if err := scheduleMethod(meth, tt, &cfg); err != nil {
		return err
	}
	cfg.CheckpointEvery, cfg.CheckpointInterval, _ = c.o.checkpointEvery()
	id := identityOf(*rec)
	cfg.Checkpoint = func(cp train.Checkpoint) error { return saveCheckpoint(ck, id, cp, meth) }
	if c.o.SaveBest {
		cfg.OnBest = c.saveBest(meth, *rec)
	}
	if !c.o.Quiet {
		cfg.Progress = c.stderr
		fmt.Fprintf(c.stderr, "%s · %s · seed %d · %s\n", rec.Task, meth.Describe(), rec.Seed, b.info.Name)
	}
	resumed, err := resume(ck, id, meth, &cfg)
	if err != nil {
		return err
	}
	if resumed != nil {
		defer resumed.Drop()
		fmt.Fprintf(c.stderr, "resuming from step %d (checkpoint %s)\n", resumed.Loop.Step, ck)
	}
	setup := time.Since(started)
	c.training.Store(true)
	res, err := train.Run(cfg, tt, opt, mem.hooks(meth.Hooks())...)
	c.training.Store(false)
	var div *train.DivergedError
	switch {
	case errors.Is(err, train.ErrStopped):
		return &interruptedError{fmt.Sprintf("interrupted after step %d of %s %s seed %d: checkpoint saved in %s; rerun the same command to resume (finished records are kept)",
			res.Steps, rec.Task, rec.Method, rec.Seed, ck)}
	case errors.As(err, &div):
		rec.Status, rec.Divergence = reports.StatusDiverged, &reports.Divergence{Step: div.Step, Reason: div.Reason}
	case err != nil:
		return err
	default:
		rec.Status = reports.StatusFinished
	}
	per, summary, err := methods.Ranks(meth)
	if err != nil && !rec.Diverged() { // a diverged update may have no finite SVD
		return err
	}
	rec.Scores, rec.MainScore, rec.BestStep = res.Best.Scores.Values, main, res.Best.Step
	rec.History, rec.Params, rec.Ranks, rec.MatrixRanks = history(res), methods.Count(meth, b.model), summary, per
	rec.Timing = reports.Timing{
		SetupSeconds: setup.Seconds(), TrainSeconds: res.TrainTime.Seconds(), EvalSeconds: res.EvalTime.Seconds(),
		StepSeconds: res.StepTime.Seconds(), Steps: res.Steps, CheckpointSeconds: res.CheckpointTime.Seconds(),
	}
	rec.Schedule = reports.Schedule{TotalSteps: res.TotalSteps, WarmupSteps: res.WarmupSteps, WarmupExceedsSteps: res.WarmupExceedsSteps}
	rec.PeakRSSBytes, rec.StartedAt, rec.FinishedAt = res.PeakRSS, started, time.Now()
	rec.Precision.LossScale, rec.PeakGPUMemory = lossScale(res.LossScaler), mem.record()
	return nil
}

func orNone(diff string) string {
	if diff == "" {
		return "no setting differs by value: an older record without a settings hash?"
	}
	return diff
}

// scheduleMethod gives a method what it needs of the run beyond its layers: a loss
// term of its own (AdaLoRA's orthogonality penalty) and the run's length (AdaLoRA's
// budget schedule, when total_step is not given).
func scheduleMethod(meth methods.Method, tt train.Task, cfg *train.Config) error {
	if rg, ok := meth.(methods.Regularizer); ok {
		cfg.Regularization = rg.Regularization
	}
	if ec, ok := meth.(methods.EvalCacher); ok {
		cfg.EvalMode = ec.EvalMode
	}
	sized, ok := meth.(interface {
		TotalStep() int
		SetTotalStep(int) error
	})
	if !ok || sized.TotalStep() > 0 {
		return nil
	}
	batches, err := tt.Batches(0)
	if err != nil {
		return err
	}
	return sized.SetTotalStep(train.TotalSteps(*cfg, len(batches)))
}
