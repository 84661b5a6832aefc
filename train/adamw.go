// Package train is the training engine every suite shares: AdamW with parameter groups,
// Hugging Face's linear warm-up schedule, gradient clipping, and Run, the loop that
// trains a Task and keeps its best evaluation (SPEC §4: "the reported number is the best
// dev score over evaluations").
package train

import (
	"fmt"
	"math"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
)

// Param is one tensor to optimise. NoDecay excludes it from weight decay (biases,
// LayerNorm, singular values).
type Param struct {
	Name    string
	T       *ts.Tensor
	NoDecay bool
}

// Group is a parameter group with its own peak learning rate and weight decay, as a
// torch.optim param_group: methods train e.g. singular values and the head at
// different rates.
type Group struct {
	Name        string
	Params      []Param
	LR          float64
	WeightDecay float64
}

// The defaults of torch.optim.AdamW, used where NewAdamW or Config is given zero.
const (
	DefaultBeta1 = 0.9
	DefaultBeta2 = 0.999
	DefaultEps   = 1e-8
)

// adamState is torch's per-parameter state: exp_avg, exp_avg_sq and step.
type adamState struct {
	m, v *ts.Tensor
	step int
}

// AdamW is torch.optim.AdamW (amsgrad off, maximize off, the single-tensor CPU path),
// with one difference asked for by Adaptive Vector Freezing: a parameter whose tensor
// has requires_grad == false is skipped like one without a gradient, its state kept.
type AdamW struct {
	groups            []Group
	beta1, beta2, eps float64
	state             map[string]*adamState // by Param.Name, created at a param's first update
}

// NewAdamW builds the optimizer. Zero beta1, beta2 or eps mean torch's defaults (0.9,
// 0.999, 1e-8), so that a zero Config means the default optimizer; a beta of exactly 0
// is therefore not expressible (use e.g. 1e-12). Parameter names must be unique across
// groups, since state is looked up by name; a duplicate is a programming error and
// panics.
func NewAdamW(groups []Group, beta1, beta2, eps float64) *AdamW {
	seen := map[string]bool{}
	for _, g := range groups {
		for _, p := range g.Params {
			if seen[p.Name] {
				panic(fmt.Sprintf("train: parameter %q appears twice in the optimizer's groups", p.Name))
			}
			seen[p.Name] = true
		}
	}
	return &AdamW{
		groups: append([]Group(nil), groups...),
		beta1:  orDefault(beta1, DefaultBeta1),
		beta2:  orDefault(beta2, DefaultBeta2),
		eps:    orDefault(eps, DefaultEps),
		state:  map[string]*adamState{},
	}
}

func orDefault(x, def float64) float64 {
	if x == 0 {
		return def
	}
	return x
}

// Groups returns the parameter groups (a copy of the slice; the tensors are shared).
func (o *AdamW) Groups() []Group { return append([]Group(nil), o.groups...) }

// Hyper returns β1, β2 and ε as used (after defaults).
func (o *AdamW) Hyper() (beta1, beta2, eps float64) { return o.beta1, o.beta2, o.eps }

// State returns a parameter's exp_avg (m), exp_avg_sq (v) and step count. ok is false
// before the parameter's first update. m and v belong to the optimizer: read, don't drop.
func (o *AdamW) State(name string) (m, v *ts.Tensor, step int, ok bool) {
	s, ok := o.state[name]
	if !ok {
		return nil, nil, 0, false
	}
	return s.m, s.v, s.step, true
}

// Step applies one update to every parameter that has a gradient and requires one.
// Each group's learning rate is group.LR * lrScale (the schedule's multiplier).
func (o *AdamW) Step(lrScale float64) {
	noGrad(func() {
		for _, g := range o.groups {
			lr := g.LR * lrScale
			for _, p := range g.Params {
				wd := g.WeightDecay
				if p.NoDecay {
					wd = 0
				}
				o.update(p, lr, wd)
			}
		}
	})
}

// update is the body of torch.optim.adamw._single_tensor_adamw for one parameter, with
// torch's kernels in torch's order (addcmul_ is v + (value·g)·g, addcdiv_ is
// p + (value·m)/denom), so the result matches torch's to the bit. Its one temporary is
// torch's own, denom; addcmul_ and addcdiv_ take their value argument through torchx,
// since gotch's versions drop it and would need a scaled copy of g and of m.
func (o *AdamW) update(p Param, lr, wd float64) {
	g, ok := trainedGrad(p.T)
	if !ok {
		return
	}
	defer lib.AtFree(g)
	s := o.stateOf(p)
	s.step++
	param, m, v := handle(p.T), handle(s.m), handle(s.v)

	if wd != 0 {
		mulScalar_(param, 1-lr*wd) // param.mul_(1 - lr * weight_decay)
	}
	lerp_(m, g, 1-o.beta1)              // exp_avg.lerp_(grad, 1 - beta1) == β1·m + (1−β1)·g
	mulScalar_(v, o.beta2)              // exp_avg_sq.mul_(beta2)
	torchx.Addcmul_(v, g, g, 1-o.beta2) //   .addcmul_(grad, grad, value=1 - beta2)

	bias1 := 1 - math.Pow(o.beta1, float64(s.step))
	bias2 := 1 - math.Pow(o.beta2, float64(s.step))
	stepSize := lr / bias1
	denom := sqrt(v) // (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps)
	divScalar_(denom, math.Sqrt(bias2))
	addScalar_(denom, o.eps)
	torchx.Addcdiv_(param, m, denom, -stepSize) // param.addcdiv_(exp_avg, denom, value=-step_size)
	lib.AtFree(denom)
}

// stateOf returns p's state, creating zero moments at its first update as torch does.
func (o *AdamW) stateOf(p Param) *adamState {
	s, ok := o.state[p.Name]
	if !ok {
		s = &adamState{m: p.T.MustZerosLike(false), v: p.T.MustZerosLike(false)}
		o.state[p.Name] = s
	}
	return s
}

// ZeroGrad zeroes every parameter's gradient in place (torch's zero_grad with
// set_to_none=False: gotch cannot reset a grad to None). Frozen parameters are zeroed
// too, so a vector released by AVF starts from a clean gradient.
func (o *AdamW) ZeroGrad() {
	for _, g := range o.groups {
		for _, p := range g.Params {
			zeroGrad(p.T)
		}
	}
}
