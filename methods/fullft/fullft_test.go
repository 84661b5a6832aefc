package fullft

import (
	"testing"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
)

// Full fine-tuning's ΔW of a small layer is full rank after training (unlike LoRA's),
// and it trains every parameter.
func TestFullRankUpdateAndCounts(t *testing.T) {
	m := testmodel.Tiny(t, 1)
	f := New()
	if err := f.Apply(m); err != nil {
		t.Fatal(err)
	}
	testmodel.Train(t, m, f, 10)
	per, _, err := methods.Ranks(f)
	if err != nil {
		t.Fatal(err)
	}
	// Ten steps on 12 tokens: the FFN updates are full rank; an attention projection that
	// only a few directions of this tiny batch reach may fall a little short.
	for _, r := range per {
		full := r.Type == models.FFNUp || r.Type == models.FFNDown
		if full && int64(r.Rank) != r.FullRank || float64(r.Rank) < 0.9*float64(r.FullRank) {
			t.Errorf("%s: rank(ΔW) = %d of %d", r.Name, r.Rank, r.FullRank)
		}
	}
	c := methods.Count(f, m)
	if c.Adapter != c.Base || c.AdapterPercent != 100 {
		t.Errorf("counts %+v: full fine-tuning trains the whole base model", c)
	}
	if got := f.CountAdapter(models.ShapeOf(m)); got != c.Base {
		t.Errorf("CountAdapter = %d, want %d", got, c.Base)
	}
	if got := f.CountAdapter(bert.ShapeOf(bert.BaseShape(), bert.Classification)); got != 109482240 {
		t.Errorf("bert-base: %d, want 109,482,240", got)
	}
}
