package train

import (
	"errors"
	"fmt"
	"math"
	"time"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// Checkpoint is a run's state after an optimizer step: with it, Run continues as if it
// had never stopped, to the bit. What it does not hold is recomputed the same way:
// libtorch's RNG is re-seeded before every optimizer step from (Seed, step), and a
// task's batches are a function of the epoch (Task.Batches), so the position is enough
// to restore the data order. A method's own state (AVF's frozen set) is the caller's.
type Checkpoint struct {
	Step      int `json:"step"`       // optimizer steps taken
	Epoch     int `json:"epoch"`      // epoch of the latest step
	NextBatch int `json:"next_batch"` // index in Batches(Epoch) of the next step's first micro-batch
	LastEval  int `json:"last_eval"`  // step of the latest evaluation (-1: none yet)
	// LossSum and LossSteps are the running mean of the training loss since LastEval.
	LossSum   float64 `json:"loss_sum"`
	LossSteps int     `json:"loss_steps"`
	History   []Eval  `json:"history"`
	Best      Eval    `json:"best"`
	// TrainTime and EvalTime so far, so that a resumed run's timings cover both parts.
	TrainTime time.Duration `json:"train_ns"`
	EvalTime  time.Duration `json:"eval_ns"`
	// AdamSteps is each parameter's AdamW step count (parameters never updated yet are
	// absent, as in torch's state).
	AdamSteps map[string]int `json:"adam_steps"`
	// Tensors are the trainable parameters ("param/NAME") and AdamW's moments
	// ("exp_avg/NAME", "exp_avg_sq/NAME"). When Run hands out a Checkpoint they are the
	// live tensors: write them before returning, don't keep or drop them.
	Tensors map[string]*ts.Tensor `json:"-"`
	// LossScaler is the loss scaler's state (nil without one).
	LossScaler *LossScaler `json:"loss_scaler,omitempty"`
}

// Tensor-name prefixes of a Checkpoint.
const (
	paramPrefix    = "param/"
	expAvgPrefix   = "exp_avg/"
	expAvgSqPrefix = "exp_avg_sq/"
)

// ErrStopped is returned (wrapped, with the step) when Config.Stop asked Run to stop;
// the latest state was handed to Config.Checkpoint first.
var ErrStopped = errors.New("stopped on request")

// DivergedError stops a run whose loss or gradient norm is not finite. The step it
// names was not applied: the parameters are those after the step before.
type DivergedError struct {
	Step   int    // 1-based optimizer step whose loss or gradient was not finite
	Reason string // "loss is NaN", "gradient norm is +Inf", ...
}

func (e *DivergedError) Error() string {
	return fmt.Sprintf("train: diverged at step %d: %s", e.Step, e.Reason)
}

// checkFinite returns a DivergedError when v, the named quantity of the coming step, is
// NaN or infinite.
func (r *runner) checkFinite(what string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &DivergedError{Step: r.step + 1, Reason: fmt.Sprintf("%s is %v", what, v)}
	}
	return nil
}

// snapshot is the current state; next is the index of the next micro-batch in the
// current epoch's batches.
func (r *runner) snapshot(next int) Checkpoint {
	c := Checkpoint{
		Step: r.step, Epoch: r.epoch, NextBatch: next, LastEval: r.lastEval,
		LossSum: r.lossSum, LossSteps: r.lossSteps,
		History: append([]Eval(nil), r.res.History...), Best: r.res.Best,
		TrainTime: r.res.TrainTime, EvalTime: r.res.EvalTime,
		AdamSteps: map[string]int{}, Tensors: map[string]*ts.Tensor{},
	}
	if r.scaler != nil {
		s := *r.scaler
		c.LossScaler = &s
	}
	for _, p := range r.params {
		c.Tensors[paramPrefix+p.Name] = p.T
		if m, v, step, ok := r.opt.State(p.Name); ok {
			c.Tensors[expAvgPrefix+p.Name], c.Tensors[expAvgSqPrefix+p.Name] = m, v
			c.AdamSteps[p.Name] = step
		}
	}
	return c
}

// restore loads c into the parameters, the optimizer and the loop's counters.
func (r *runner) restore(c Checkpoint) error {
	if c.Step > r.total {
		return fmt.Errorf("train: checkpoint at step %d is beyond this run's %d steps", c.Step, r.total)
	}
	for _, p := range r.params {
		saved, ok := c.Tensors[paramPrefix+p.Name]
		if !ok {
			return fmt.Errorf("train: checkpoint has no parameter %q", p.Name)
		}
		if err := copyInto(p.T, saved, paramPrefix+p.Name); err != nil {
			return err
		}
		if step, ok := c.AdamSteps[p.Name]; ok {
			m, v := c.Tensors[expAvgPrefix+p.Name], c.Tensors[expAvgSqPrefix+p.Name]
			if m == nil || v == nil {
				return fmt.Errorf("train: checkpoint has AdamW's step of %q but not its moments", p.Name)
			}
			if err := r.opt.restoreState(p, m, v, step); err != nil {
				return err
			}
		}
	}
	if n := len(c.Tensors) - len(r.params) - 2*len(c.AdamSteps); n != 0 {
		return fmt.Errorf("train: checkpoint has %d tensors that are not this run's parameters or their AdamW moments", n)
	}
	r.step, r.epoch, r.lastEval = c.Step, c.Epoch, c.LastEval
	r.lossSum, r.lossSteps = c.LossSum, c.LossSteps
	r.res.History, r.res.Best = append([]Eval(nil), c.History...), c.Best
	r.res.TrainTime, r.res.EvalTime = c.TrainTime, c.EvalTime
	r.startBatch = c.NextBatch
	if (c.LossScaler == nil) != (r.scaler == nil) {
		has := map[bool]string{true: "a loss scaler (float16)", false: "no loss scaler"}
		return fmt.Errorf("train: the checkpoint was made with %s, this run has %s", has[c.LossScaler != nil], has[r.scaler != nil])
	}
	if r.scaler != nil {
		*r.scaler = *c.LossScaler
	}
	return nil
}

// copyInto copies src's values into dst in place (no graph), after checking that they
// have the same shape and dtype.
func copyInto(dst, src *ts.Tensor, name string) error {
	ds, ss := dst.MustSize(), src.MustSize()
	if fmt.Sprint(ds) != fmt.Sprint(ss) || dst.DType() != src.DType() {
		return fmt.Errorf("train: checkpoint's %q is %v %v, the run's %v %v", name, src.DType(), ss, dst.DType(), ds)
	}
	noGrad(func() { lib.AtCopy_(handle(dst), handle(src)) })
	return ts.TorchErr()
}

// restoreState sets p's AdamW state to copies of m and v (on p's device and dtype).
func (o *AdamW) restoreState(p Param, m, v *ts.Tensor, step int) error {
	s := &adamState{m: p.T.MustZerosLike(false), v: p.T.MustZerosLike(false), step: step}
	if err := copyInto(s.m, m, expAvgPrefix+p.Name); err != nil {
		return err
	}
	if err := copyInto(s.v, v, expAvgSqPrefix+p.Name); err != nil {
		return err
	}
	if old, ok := o.state[p.Name]; ok {
		old.m.MustDrop()
		old.v.MustDrop()
	}
	o.state[p.Name] = s
	return nil
}
