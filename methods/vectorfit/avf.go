package vectorfit

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// AVF modes: the method and its two ablations (SPEC §1).
const (
	AVFOn     = "avf"    // freeze the k most-trained vectors
	AVFNone   = "none"   // plain training
	AVFRandom = "random" // freeze k vectors chosen at random (ablation)
)

// Training strength measures.
const (
	StrengthL1     = "l1"      // ‖v_t − v_0‖₁
	StrengthL1Size = "l1-size" // ‖v_t − v_0‖₁ / len(v)
)

// AVFConfig configures Adaptive Vector Freezing.
type AVFConfig struct {
	Mode string
	// K vectors are frozen at each re-ranking; 0 disables AVF.
	K int
	// Interval t_i: re-rank every Interval optimizer steps.
	Interval int
	Strength string
	// Start is the first re-ranking step; 0 means Interval (a warm-up of t_i steps).
	Start int
	// Stop releases every vector at this step and ends AVF; 0 means never.
	Stop int
	// Seed drives the random ablation.
	Seed uint64
}

// DefaultAVF is our choice (the paper gives none): with a BERT-base model's 144 vectors
// (12 layers × 6 linears × s and b), freezing 4 every 100 steps holds back the few that
// dominate without stalling training.
func DefaultAVF() AVFConfig {
	return AVFConfig{Mode: AVFOn, K: 4, Interval: 100, Strength: StrengthL1}
}

func (c AVFConfig) start() int {
	if c.Start > 0 {
		return c.Start
	}
	return c.Interval
}

func (c AVFConfig) validate() error {
	switch c.Mode {
	case AVFOn, AVFNone, AVFRandom:
	default:
		return fmt.Errorf("vectorfit: avf mode %q, want %s, %s or %s", c.Mode, AVFOn, AVFNone, AVFRandom)
	}
	switch c.Strength {
	case StrengthL1, StrengthL1Size:
	default:
		return fmt.Errorf("vectorfit: avf strength %q, want %s or %s", c.Strength, StrengthL1, StrengthL1Size)
	}
	if c.K < 0 || c.Interval < 0 || c.Start < 0 || c.Stop < 0 {
		return fmt.Errorf("vectorfit: avf k, interval, start and stop must be ≥ 0 (got %d, %d, %d, %d)", c.K, c.Interval, c.Start, c.Stop)
	}
	if c.Mode != AVFNone && c.K > 0 && c.Interval == 0 {
		return fmt.Errorf("vectorfit: avf k = %d needs an interval > 0", c.K)
	}
	return nil
}

func (c AVFConfig) String() string {
	if c.Mode == AVFNone || c.K == 0 {
		return "no avf"
	}
	return fmt.Sprintf("%s k=%d every %d (%s)", c.Mode, c.K, c.Interval, c.Strength)
}

// vector is one unit of AVF: a trainable singular-value or bias vector.
type vector struct {
	name  string
	t, t0 *ts.Tensor
}

type avf struct {
	cfg     AVFConfig
	vectors []vector
	frozen  []bool
	rng     *rand.Rand
}

func newAVF(cfg AVFConfig, vs []vector) *avf {
	return &avf{cfg: cfg, vectors: vs, frozen: make([]bool, len(vs)), rng: rand.New(rand.NewPCG(cfg.Seed, 7))}
}

func (a *avf) enabled() bool { return a.cfg.Mode != AVFNone && a.cfg.K > 0 }

// afterStep is the train.Hook: at Start, Start+Interval, ... re-rank and freeze; at
// Stop release everything for good.
func (a *avf) afterStep(step int) error {
	if a.cfg.Stop > 0 && step >= a.cfg.Stop {
		a.freeze(nil)
		return nil
	}
	start := a.cfg.start()
	if step < start || (step-start)%a.cfg.Interval != 0 {
		return nil
	}
	a.freeze(a.choose())
	return nil
}

// choose returns the indices of the vectors to freeze for the next interval.
func (a *avf) choose() []int {
	k := min(a.cfg.K, len(a.vectors))
	idx := make([]int, len(a.vectors))
	for i := range idx {
		idx[i] = i
	}
	if a.cfg.Mode == AVFRandom {
		a.rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		return idx[:k]
	}
	strength := a.strengths()
	// Highest strength first; ties by position, so the choice is deterministic.
	slices.SortStableFunc(idx, func(i, j int) int { return cmp.Compare(strength[j], strength[i]) })
	return idx[:k]
}

// strengths is S(v) = ‖v_t − v_0‖₁ (divided by len(v) for StrengthL1Size).
func (a *avf) strengths() []float64 {
	out := make([]float64, len(a.vectors))
	models.NoGrad(func() {
		for i, v := range a.vectors {
			d := v.t.MustSub(v.t0, false).MustAbs(true).MustSum(gotch.Double, true)
			out[i] = d.Float64Values()[0]
			d.MustDrop()
			if a.cfg.Strength == StrengthL1Size {
				out[i] /= float64(v.t0.MustSize()[0])
			}
		}
	})
	return out
}

// freeze makes exactly the vectors at idx untrainable: no gradient, and the optimizer
// skips them (keeping their state) until a later re-ranking releases them.
func (a *avf) freeze(idx []int) {
	for i := range a.frozen {
		a.frozen[i] = false
	}
	for _, i := range idx {
		a.frozen[i] = true
	}
	for i, v := range a.vectors {
		v.t.MustRequiresGrad_(!a.frozen[i])
	}
}

func (a *avf) frozenNames() []string {
	var out []string
	for i, f := range a.frozen {
		if f {
			out = append(out, a.vectors[i].name)
		}
	}
	return out
}
