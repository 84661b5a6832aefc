package methods

import (
	"fmt"
	"math"

	"github.com/vectorfit/harness/linalg"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Counts are the trainable parameters of a method on a model (SPEC §5).
type Counts struct {
	Adapter int64 `json:"adapter"` // the method's own trainable parameters
	Head    int64 `json:"head"`    // the task head, trained fully by every method
	Total   int64 `json:"total"`   // Adapter + Head
	Base    int64 `json:"base"`    // parameters of the base model, head excluded
	// AdapterPercent is Adapter as % of Base: the paper's "% trainable" column.
	AdapterPercent float64 `json:"adapter_percent"`
}

// Count counts what m actually trains after Apply.
func Count(m Method, model models.Model) Counts {
	adapter, head := m.Trainable()
	return newCounts(numel(adapter), numel(head), models.BaseNumel(model))
}

func newCounts(adapter, head, base int64) Counts {
	c := Counts{Adapter: adapter, Head: head, Total: adapter + head, Base: base}
	if base > 0 {
		c.AdapterPercent = 100 * float64(adapter) / float64(base)
	}
	return c
}

func numel(ps []train.Param) int64 {
	var n int64
	for _, p := range ps {
		n += models.Param{T: p.T}.Numel()
	}
	return n
}

// MatrixRank is the rank of one ΔW (SPEC §5).
type MatrixRank struct {
	Name          string           `json:"name"`
	Type          models.LayerType `json:"type"`
	Out           int64            `json:"out"`
	In            int64            `json:"in"`
	Rank          int              `json:"rank"`
	FullRank      int64            `json:"full_rank"` // min(out, in)
	EffectiveRank float64          `json:"effective_rank"`
}

// RankSummary summarises the ranks of one layer type.
type RankSummary struct {
	Type     models.LayerType `json:"type"`
	Matrices int              `json:"matrices"`
	Mean     float64          `json:"mean"`
	Min      int              `json:"min"`
	Max      int              `json:"max"`
	// FractionOfFull is the mean of rank / min(out, in).
	FractionOfFull    float64 `json:"fraction_of_full"`
	MeanEffectiveRank float64 `json:"mean_effective_rank"`
}

// Ranks measures every ΔW of m (and frees them): numerical rank and effective rank from
// float64 singular values, per matrix and summarised per layer type in block order.
func Ranks(m Method) ([]MatrixRank, []RankSummary, error) {
	deltas, err := m.Deltas()
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		for _, d := range deltas {
			d.W.MustDrop()
		}
	}()
	var per []MatrixRank
	for _, d := range deltas {
		size := d.W.MustSize()
		sv, err := linalg.SingularValues(d.W)
		if err != nil {
			return nil, nil, fmt.Errorf("ΔW of %s: %w", d.Name, err)
		}
		per = append(per, MatrixRank{
			Name: d.Name, Type: d.Type, Out: size[0], In: size[1],
			Rank: linalg.Rank(sv, int(size[0]), int(size[1])), FullRank: min(size[0], size[1]),
			EffectiveRank: linalg.EffectiveRank(sv),
		})
	}
	return per, Summarise(per), nil
}

// Summarise groups matrix ranks by layer type, in models.LayerTypes order.
func Summarise(per []MatrixRank) []RankSummary {
	var out []RankSummary
	for _, t := range models.LayerTypes {
		s := RankSummary{Type: t, Min: math.MaxInt}
		var frac, eff float64
		for _, r := range per {
			if r.Type != t {
				continue
			}
			s.Matrices++
			s.Mean += float64(r.Rank)
			s.Min = min(s.Min, r.Rank)
			s.Max = max(s.Max, r.Rank)
			frac += float64(r.Rank) / float64(r.FullRank)
			eff += r.EffectiveRank
		}
		if s.Matrices == 0 {
			continue
		}
		n := float64(s.Matrices)
		s.Mean /= n
		s.FractionOfFull = frac / n
		s.MeanEffectiveRank = eff / n
		out = append(out, s)
	}
	return out
}
