package vectorfit

import (
	"cmp"
	"encoding/json"
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
	pcg     *rand.PCG // rng's source, kept to checkpoint its state
	rng     *rand.Rand
}

func newAVF(cfg AVFConfig, vs []vector) *avf {
	pcg := rand.NewPCG(cfg.Seed, 7)
	return &avf{cfg: cfg, vectors: vs, frozen: make([]bool, len(vs)), pcg: pcg, rng: rand.New(pcg)}
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

// avfState is what a checkpoint keeps of AVF besides the vectors themselves.
type avfState struct {
	Frozen []string `json:"frozen"`
	RNG    []byte   `json:"rng"` // the random ablation's PCG state
}

// t0Prefix names a vector's initial value in a checkpoint.
const t0Prefix = "avf.initial/"

// saveState returns the frozen set, the RNG and the initial vectors v_0.
func (a *avf) saveState() (map[string]*ts.Tensor, json.RawMessage, error) {
	rng, err := a.pcg.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	meta, err := json.Marshal(avfState{Frozen: a.frozenNames(), RNG: rng})
	if err != nil {
		return nil, nil, err
	}
	tensors := map[string]*ts.Tensor{}
	for _, v := range a.vectors {
		tensors[t0Prefix+v.name] = v.t0
	}
	return tensors, meta, nil
}

// loadState restores the frozen set and the RNG. The initial vectors come from the
// SVD that Apply ran again; they must equal the checkpoint's to the bit, or strengths
// (and ΔW) would drift from the interrupted run's, so a difference is an error.
func (a *avf) loadState(tensors map[string]*ts.Tensor, meta json.RawMessage) error {
	var st avfState
	if err := json.Unmarshal(meta, &st); err != nil {
		return fmt.Errorf("vectorfit: checkpoint's AVF state: %w", err)
	}
	for _, v := range a.vectors {
		saved, ok := tensors[t0Prefix+v.name]
		if !ok {
			return fmt.Errorf("vectorfit: checkpoint has no initial vector %q", t0Prefix+v.name)
		}
		if !saved.MustEqual(v.t0, false) {
			return fmt.Errorf("vectorfit: the SVD of %s gives other singular values than the checkpoint's (other libtorch, threads or device?): resuming would not continue the same run", v.name)
		}
	}
	byName := map[string]int{}
	for i, v := range a.vectors {
		byName[v.name] = i
	}
	var idx []int
	for _, name := range st.Frozen {
		i, ok := byName[name]
		if !ok {
			return fmt.Errorf("vectorfit: checkpoint freezes %q, which this model has no vector of", name)
		}
		idx = append(idx, i)
	}
	if err := a.pcg.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("vectorfit: checkpoint's AVF RNG state: %w", err)
	}
	a.freeze(idx)
	return nil
}
