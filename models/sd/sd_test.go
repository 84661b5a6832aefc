package sd

import (
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// The built-in tiny pipeline runs end to end: prompts to 77×32 conditioning, 32×32
// images to 4×16×16 latents, a guided-free sampling run and the decoder back to
// 3×32×32 images.
func TestTinyPipelineShapes(t *testing.T) {
	p, err := Tiny(0, 3)
	if err != nil {
		t.Fatal(err)
	}
	cond, err := p.EncodePrompts([]string{"a photo of sks ring", ""})
	if err != nil {
		t.Fatal(err)
	}
	if got := cond.MustSize(); !slices.Equal(got, []int64{2, 77, 32}) {
		t.Errorf("conditioning %v", got)
	}
	img := ts.MustZeros([]int64{1, 3, 32, 32}, gotch.Float, gotch.CPU)
	mean, std, err := p.LatentDistribution(img)
	if err != nil {
		t.Fatal(err)
	}
	if got := mean.MustSize(); !slices.Equal(got, []int64{1, 4, 16, 16}) || !slices.Equal(std.MustSize(), got) || p.LatentFactor() != 2 {
		t.Errorf("latents %v, factor %d", got, p.LatentFactor())
	}
	calls := 0
	out, err := p.Sample(mean, func(x *ts.Tensor, step int64) (*ts.Tensor, error) {
		calls++
		t := ts.MustOfSlice([]int64{step})
		defer t.MustDrop()
		c := cond.MustNarrow(0, 0, 1, false)
		defer c.MustDrop()
		return p.Predict(x, t, c)
	})
	if err != nil {
		t.Fatal(err)
	}
	// PNDM with skip_prk_steps makes one more model call than steps (its second step
	// repeats the first timestep).
	if calls != 4 {
		t.Errorf("%d model calls for 3 PNDM steps, want 4", calls)
	}
	pixels, err := p.DecodeLatents(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := pixels.MustSize(); !slices.Equal(got, []int64{1, 3, 32, 32}) {
		t.Errorf("decoded %v", got)
	}
}
