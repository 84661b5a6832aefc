package adalora

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/models"
)

// allocator is PEFT's RankAllocator together with AdaLoraModel.update_and_allocate.
type allocator struct {
	cfg    *Config
	layers []*Layer
	// ema[i] holds, for layer i's A, E, B in that order, the smoothed sensitivity Ī
	// (exp_avg_ipt) and the smoothed uncertainty Ū (exp_avg_unc); zero at the start
	// and after the final allocation, as PEFT's empty dicts (reset_ipt).
	ipt, unc [][3]*ts.Tensor
	// pattern is the latest allocation (PEFT's rank_pattern): pattern[i][j] keeps
	// triplet j of layer i; nil before the first.
	pattern         [][]bool
	initBgt, tgtBgt int
	scores          []*ts.Tensor // the triplet scores of the latest allocation (for tests)
}

func newAllocator(cfg *Config, layers []*Layer) *allocator {
	a := &allocator{cfg: cfg, layers: layers, initBgt: cfg.InitR * len(layers), tgtBgt: cfg.TargetR * len(layers)}
	a.ipt = make([][3]*ts.Tensor, len(layers))
	a.unc = make([][3]*ts.Tensor, len(layers))
	for i, ly := range layers {
		for j, p := range ly.params() {
			a.ipt[i][j] = p.MustZerosLike(false)
			a.unc[i][j] = p.MustZerosLike(false)
		}
	}
	return a
}

// params are Q, Λ, P (lora_A, lora_E, lora_B).
func (ly *Layer) params() [3]*ts.Tensor { return [3]*ts.Tensor{ly.A, ly.E, ly.B} }

var paramNames = [3]string{"lora_A", "lora_E", "lora_B"}

// afterStep is the train.Hook: AdaLoraModel.update_and_allocate(global_step) with
// global_step = step − 1, PEFT's documented loop ("optimizer.step();
// update_and_allocate(global_step); zero_grad(); global_step += 1"); the engine's
// hooks run before the gradients are zeroed.
func (ad *AdaLoRA) afterStep(step int) error {
	c := ad.cfg
	if c.TotalStep <= 0 {
		return fmt.Errorf("adalora: total_step is not set: give the option total_step=<optimizer steps of the run> (PEFT's AdaLoraConfig.total_step)")
	}
	gs, end := step-1, c.TotalStep-c.Tfinal
	var err error
	models.NoGrad(func() {
		switch {
		case gs < end:
			if err = ad.alloc.updateImportance(); err != nil {
				return
			}
			if budget, mask := ad.alloc.budget(gs); mask {
				ad.alloc.maskToBudget(budget)
			}
		case gs == end: // the final allocation, from the scores as they are
			budget, _ := ad.alloc.budget(gs)
			ad.alloc.maskToBudget(budget)
			ad.alloc.reset()
		default:
			ad.alloc.applyPattern()
		}
	})
	return err
}

// budget is RankAllocator.budget_schedule: the total rank to keep after global step
// gs, and whether to re-allocate now. The budget stays init_r per matrix up to tinit,
// falls as (1 − t)³ to target_r at total_step − tfinal, and stays there.
func (a *allocator) budget(gs int) (int, bool) {
	c := a.cfg
	switch {
	case gs <= c.Tinit:
		return a.initBgt, false
	case gs > c.TotalStep-c.Tfinal:
		return a.tgtBgt, true
	}
	mul := 1 - float64(gs-c.Tinit)/float64(c.TotalStep-c.Tfinal-c.Tinit)
	b := int(float64(a.initBgt-a.tgtBgt)*math.Pow(mul, 3) + float64(a.tgtBgt))
	return b, gs%c.DeltaT == 0
}

// updateImportance is update_ipt: I = |θ ⊙ ∇θ| per entry, Ī ← β1·Ī + (1−β1)·I,
// Ū ← β2·Ū + (1−β2)·|I − Ī| (with the new Ī). Call under no-grad.
func (a *allocator) updateImportance() error {
	b1, b2 := a.cfg.Beta1, a.cfg.Beta2
	for i, ly := range a.layers {
		for j, p := range ly.params() {
			g := p.MustGrad(false)
			if !g.MustDefined() {
				return fmt.Errorf("adalora: %s.%s has no gradient after the step: the importance needs the step's gradients (hooks must run before zero_grad)", ly.linear.Name, paramNames[j])
			}
			ipt := p.MustMul(g, false).MustAbs(true)
			g.MustDrop()
			ea := a.ipt[i][j].MustMulScalar(ts.FloatScalar(b1), false)
			t := ipt.MustMulScalar(ts.FloatScalar(1-b1), false)
			ea = ea.MustAdd(t, true)
			t.MustDrop()
			d := ipt.MustSub(ea, true).MustAbs(true).MustMulScalar(ts.FloatScalar(1-b2), true)
			eu := a.unc[i][j].MustMulScalar(ts.FloatScalar(b2), false).MustAdd(d, true)
			d.MustDrop()
			a.ipt[i][j].MustDrop()
			a.unc[i][j].MustDrop()
			a.ipt[i][j], a.unc[i][j] = ea, eu
		}
	}
	return nil
}

// tripletScores are mask_to_budget's scores: S_i = s(λ_i) + mean_k s(Q_ik) +
// mean_k s(P_ki), with s = Ī·Ū per entry, one r-vector per layer.
func (a *allocator) tripletScores() []*ts.Tensor {
	out := make([]*ts.Tensor, len(a.layers))
	for i := range a.layers {
		s := func(j int) *ts.Tensor { return a.ipt[i][j].MustMul(a.unc[i][j], false) }
		sa, se, sb := s(0), s(1), s(2)
		ma := sa.MustMeanDim([]int64{1}, true, sa.DType(), true)                                 // r×1
		mb := sb.MustMeanDim([]int64{0}, false, sb.DType(), true).MustView([]int64{-1, 1}, true) // r×1
		ab := ts.MustCat([]*ts.Tensor{ma, mb}, 1).MustSumDimIntlist([]int64{1}, false, ma.DType(), true)
		ma.MustDrop()
		mb.MustDrop()
		out[i] = se.MustView([]int64{-1}, true).MustAdd(ab, true)
		ab.MustDrop()
	}
	return out
}

// maskToBudget is mask_to_budget: the threshold is the (init − budget)-th smallest
// score over all triplets; every λ_i whose score is ≤ it becomes 0 (ties may mask more).
func (a *allocator) maskToBudget(budget int) {
	scores := a.tripletScores()
	all := ts.MustCat(scores, 0)
	v, idx := all.MustKthvalue(int64(a.initBgt-budget), 0, false, true)
	idx.MustDrop()
	thr := v.Float64Values()[0]
	v.MustDrop()
	a.pattern = make([][]bool, len(a.layers))
	for i, ly := range a.layers {
		low := scores[i].MustLe(ts.FloatScalar(thr), false)
		keep := low.MustLogicalNot(false)
		a.pattern[i] = boolsOf(keep)
		keep.MustDrop()
		m := low.MustView([]int64{-1, 1}, true)
		torchx.InPlace(ly.E, func() { ly.E.MustMaskedFill_(m, ts.FloatScalar(0)) })
		m.MustDrop()
	}
	for _, s := range a.scores {
		s.MustDrop()
	}
	a.scores = scores
}

// applyPattern is mask_using_rank_pattern: zero the λ_i the final allocation dropped.
func (a *allocator) applyPattern() {
	for i, ly := range a.layers {
		drop := make([]bool, len(a.pattern[i]))
		for j, k := range a.pattern[i] {
			drop[j] = !k
		}
		m := ts.MustOfSlice(drop).MustView([]int64{-1, 1}, true).MustTo(ly.E.MustDevice(), true)
		torchx.InPlace(ly.E, func() { ly.E.MustMaskedFill_(m, ts.FloatScalar(0)) })
		m.MustDrop()
	}
}

// reset is reset_ipt: the EMAs start again from zero.
func (a *allocator) reset() {
	for i := range a.ipt {
		for j := range a.ipt[i] {
			a.ipt[i][j].MustZero_()
			a.unc[i][j].MustZero_()
		}
	}
}

func boolsOf(t *ts.Tensor) []bool {
	b := t.MustTotype(gotch.Int64, false)
	defer b.MustDrop()
	v := b.Int64Values()
	out := make([]bool, len(v))
	for i, x := range v {
		out[i] = x != 0
	}
	return out
}

// state is what a checkpoint keeps besides the tensors: the allocation.
type state struct {
	Pattern map[string][]bool `json:"rank_pattern,omitempty"`
}

const (
	iptPrefix = "adalora.exp_avg_ipt/"
	uncPrefix = "adalora.exp_avg_unc/"
)

// SaveState implements methods.Stateful: Ī and Ū of every Q, Λ, P, and the latest
// allocation (the masks the final phase re-applies).
func (ad *AdaLoRA) SaveState() (map[string]*ts.Tensor, json.RawMessage, error) {
	a := ad.alloc
	if a == nil {
		return nil, nil, fmt.Errorf("adalora: SaveState before Apply")
	}
	tensors := map[string]*ts.Tensor{}
	st := state{}
	for i, ly := range a.layers {
		for j, n := range paramNames {
			tensors[iptPrefix+ly.linear.Name+"."+n] = a.ipt[i][j]
			tensors[uncPrefix+ly.linear.Name+"."+n] = a.unc[i][j]
		}
		if a.pattern != nil {
			if st.Pattern == nil {
				st.Pattern = map[string][]bool{}
			}
			st.Pattern[ly.linear.Name] = a.pattern[i]
		}
	}
	meta, err := json.Marshal(st)
	return tensors, meta, err
}

// LoadState implements methods.Stateful; it runs after Apply.
func (ad *AdaLoRA) LoadState(tensors map[string]*ts.Tensor, meta json.RawMessage) error {
	a := ad.alloc
	if a == nil {
		return fmt.Errorf("adalora: LoadState before Apply")
	}
	var st state
	if err := json.Unmarshal(meta, &st); err != nil {
		return fmt.Errorf("adalora: checkpoint's AdaLoRA state: %w", err)
	}
	for i, ly := range a.layers {
		for j, n := range paramNames {
			for _, pre := range []string{iptPrefix, uncPrefix} {
				key := pre + ly.linear.Name + "." + n
				t, ok := tensors[key]
				if !ok {
					return fmt.Errorf("adalora: checkpoint has no tensor %q", key)
				}
				dst := a.ipt[i][j]
				if pre == uncPrefix {
					dst = a.unc[i][j]
				}
				if got, want := t.MustSize(), dst.MustSize(); fmt.Sprint(got) != fmt.Sprint(want) {
					return fmt.Errorf("adalora: checkpoint tensor %q has shape %v, want %v (other init_r or model?)", key, got, want)
				}
				models.NoGrad(func() { dst.Copy_(t) })
			}
		}
	}
	if st.Pattern == nil {
		a.pattern = nil
		return nil
	}
	if len(st.Pattern) != len(a.layers) {
		return fmt.Errorf("adalora: checkpoint's rank_pattern has %d matrices, want %d", len(st.Pattern), len(a.layers))
	}
	a.pattern = make([][]bool, len(a.layers))
	for i, ly := range a.layers {
		p, ok := st.Pattern[ly.linear.Name]
		if !ok || len(p) != ad.cfg.InitR {
			return fmt.Errorf("adalora: checkpoint's rank_pattern for %s has %d entries, want init_r = %d", ly.linear.Name, len(p), ad.cfg.InitR)
		}
		a.pattern[i] = p
	}
	return nil
}
