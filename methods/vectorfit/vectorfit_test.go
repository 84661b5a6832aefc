package vectorfit

import (
	"math"
	"runtime"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/linalg"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/train"
)

func apply(t *testing.T, m models.Model, cfg Config) *VectorFit {
	t.Helper()
	vf, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := vf.Apply(m); err != nil {
		t.Fatal(err)
	}
	return vf
}

// At step 0 the adapted model computes what the pre-trained model computes, with either
// forward strategy.
func TestInitialisationReproducesBaseModel(t *testing.T) {
	for _, fwd := range []string{Rebuild, Factored, Auto} {
		t.Run(fwd, func(t *testing.T) {
			m := testmodel.Tiny(t, 1)
			want := testmodel.Hidden(m)
			cfg := DefaultConfig()
			cfg.Forward = fwd
			apply(t, m, cfg)
			if e := testmodel.RelErr(testmodel.Hidden(m), want); e > 1e-5 {
				t.Errorf("relative error %g after Apply, want ≤ 1e-5", e)
			}
		})
	}
}

// Moving a chosen set of singular values by hand: ΔW equals the change of the weight the
// layer actually computes with, and its rank is the number of values moved.
func TestDeltaIsSingularValueChangeAndRankCountsMovedValues(t *testing.T) {
	m := testmodel.Tiny(t, 2)
	vf := apply(t, m, DefaultConfig())
	ly := vf.Layers()[4] // an FFN up projection: 128×64, r = 64
	before := ly.weight().MustDetach(true).MustTotype(gotch.Double, true)
	moved := []int64{0, 3, 17, 40, 63}
	models.NoGrad(func() {
		for _, i := range moved {
			v := ly.singularValues.MustNarrow(0, i, 1, false)
			v.MustAddScalar_(ts.FloatScalar(0.25 * float64(i+1)))
		}
	})
	after := ly.weight().MustDetach(true).MustTotype(gotch.Double, true)
	want := after.MustSub(before, true)
	deltas, err := vf.Deltas()
	if err != nil {
		t.Fatal(err)
	}
	got := deltas[4].W
	if e := testmodel.RelErr(got, want); e > 1e-5 {
		t.Errorf("ΔW differs from the change of U·diag(s)·Vᵀ by %g (relative)", e)
	}
	sv, _ := linalg.SingularValues(got)
	if r := linalg.Rank(sv, 128, 64); r != len(moved) {
		t.Errorf("rank(ΔW) = %d, want %d (the number of moved singular values)", r, len(moved))
	}
	_, summary, err := methods.Ranks(vf)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range summary {
		want := 0
		if s.Type == models.FFNUp {
			want = len(moved) // only layer 0's FFN up moved; layer 1's is 0
		}
		if s.Max != want {
			t.Errorf("%s: max rank %d, want %d", s.Type, s.Max, want)
		}
	}
}

// After real training every ΔW's rank is the number of its singular values that moved:
// VectorFit's update is full rank, unlike LoRA's.
func TestTrainedRankEqualsMovedSingularValues(t *testing.T) {
	m := testmodel.Tiny(t, 3)
	cfg := DefaultConfig()
	cfg.AVF.Mode = AVFNone
	vf := apply(t, m, cfg)
	testmodel.Train(t, m, vf, 5)
	per, _, err := methods.Ranks(vf)
	if err != nil {
		t.Fatal(err)
	}
	for i, ly := range vf.Layers() {
		d := ly.singularValues.MustSub(ly.s0, false).Float64Values()
		// ΔW = U diag(Δs) Vᵀ with orthonormal U, V: its singular values are |Δs|, so a
		// value "moved" when |Δs_i| clears the rank threshold relative to max |Δs|.
		biggest := 0.0
		for _, x := range d {
			biggest = max(biggest, math.Abs(x))
		}
		tol := biggest * float64(max(per[i].Out, per[i].In)) * linalg.Float32Eps
		movedCount := 0
		for _, x := range d {
			if math.Abs(x) > tol {
				movedCount++
			}
		}
		if per[i].Rank != movedCount {
			t.Errorf("%s: rank(ΔW) = %d, %d singular values moved", ly.linear.Name, per[i].Rank, movedCount)
		}
		if per[i].Rank < int(per[i].FullRank)-1 {
			t.Errorf("%s: rank %d of %d after training every singular value", ly.linear.Name, per[i].Rank, per[i].FullRank)
		}
	}
}

// The two forward strategies compute the same outputs and gradients.
func TestForwardStrategiesAgree(t *testing.T) {
	grads := map[string][]float64{}
	outs := map[string]*ts.Tensor{}
	for _, fwd := range []string{Rebuild, Factored} {
		m := testmodel.Tiny(t, 4)
		cfg := DefaultConfig()
		cfg.Forward = fwd
		vf := apply(t, m, cfg)
		out := m.Forward(testmodel.Batch())
		out.MustSum(gotch.Float, false).MustBackward()
		outs[fwd] = out.MustDetach(true)
		grads[fwd] = vf.Layers()[0].singularValues.MustGrad(false).Float64Values()
	}
	if e := testmodel.RelErr(outs[Factored], outs[Rebuild]); e > 1e-5 {
		t.Errorf("outputs differ by %g", e)
	}
	g1, g2 := grads[Rebuild], grads[Factored]
	for i := range g1 {
		if math.Abs(g1[i]-g2[i]) > 1e-4*(1+math.Abs(g1[i])) {
			t.Fatalf("ds[%d]: rebuild %g, factored %g", i, g1[i], g2[i])
		}
	}
}

// Trainable counts equal closed forms, for the tiny model (built) and for a
// bert-base-shaped configuration (counted from the configuration alone).
func TestTrainableCounts(t *testing.T) {
	m := testmodel.Tiny(t, 5)
	vf := apply(t, m, DefaultConfig())
	// Per tiny layer (hidden 64, FFN 128): q, k, v, o: 64 s + 64 b each; FFN up: 64 s +
	// 128 b; FFN down: 64 s + 64 b. Two layers. Head: 3×64 + 3.
	wantAdapter := int64(2 * (4*(64+64) + (64 + 128) + (64 + 64)))
	c := methods.Count(vf, m)
	if c.Adapter != wantAdapter || c.Head != 3*64+3 {
		t.Errorf("tiny: adapter %d head %d, want %d and %d", c.Adapter, c.Head, wantAdapter, 3*64+3)
	}
	if got := vf.CountAdapter(models.ShapeOf(m)); got != wantAdapter {
		t.Errorf("tiny: CountAdapter = %d, want %d", got, wantAdapter)
	}

	base := bert.ShapeOf(bert.BaseShape(), bert.Classification)
	tests := []struct {
		name string
		cfg  Config
		want int64
	}{
		// 12 × (4·(768+768) + (768+3072) + (768+768)) = 138,240 (0.13% of 109M)
		{"all with bias", DefaultConfig(), 12 * (4*(768+768) + (768 + 3072) + (768 + 768))},
		{"all, no bias", Config{Forward: Auto, AVF: DefaultAVF()}, 12 * 6 * 768},
		{"attention only", Config{Targets: []models.LayerType{models.Query, models.Key, models.Value, models.AttnOut}, TrainBias: true, Forward: Auto, AVF: DefaultAVF()}, 12 * 4 * (768 + 768)},
	}
	for _, tt := range tests {
		vf, err := New(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := vf.CountAdapter(base); got != tt.want {
			t.Errorf("bert-base %s: %d, want %d", tt.name, got, tt.want)
		}
	}
	if base.BaseParams != 109482240 { // bert-base-uncased with its pooler, as published
		t.Errorf("bert-base base parameters %d, want 109,482,240", base.BaseParams)
	}
}

// vectorsWithDrift makes AVF units whose L1 drifts are the given values spread over
// vectors of the given lengths.
func vectorsWithDrift(drift []float64, length []int64) []vector {
	var vs []vector
	for i := range drift {
		t0 := ts.MustZeros([]int64{length[i]}, gotch.Float, gotch.CPU)
		v := ts.MustOnes([]int64{length[i]}, gotch.Float, gotch.CPU).MustMulScalar(ts.FloatScalar(drift[i]/float64(length[i])), true)
		v.MustRequiresGrad_(true)
		vs = append(vs, vector{name: string(rune('a' + i)), t: v, t0: t0})
	}
	return vs
}

// AVF freezes the k strongest vectors at the interval, by L1 or size-normalised L1.
func TestAVFChoosesStrongest(t *testing.T) {
	drift := []float64{1, 8, 3, 6, 2}
	length := []int64{4, 64, 2, 8, 1}
	tests := []struct {
		strength string
		step     int
		want     []string
	}{
		{StrengthL1, 10, []string{"b", "d"}},
		{StrengthL1Size, 10, []string{"c", "e"}}, // per element: .25 .125 1.5 .75 2
		{StrengthL1, 9, nil},                     // not an interval step
	}
	for _, tt := range tests {
		a := newAVF(AVFConfig{Mode: AVFOn, K: 2, Interval: 10, Strength: tt.strength}, vectorsWithDrift(drift, length))
		if err := a.afterStep(tt.step); err != nil {
			t.Fatal(err)
		}
		got := a.frozenNames()
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s at step %d froze %v, want %v", tt.strength, tt.step, got, tt.want)
		}
		for i, v := range a.vectors {
			if v.t.MustRequiresGrad() == a.frozen[i] {
				t.Errorf("%s: requires_grad %v while frozen %v", v.name, v.t.MustRequiresGrad(), a.frozen[i])
			}
		}
	}
	a := newAVF(AVFConfig{Mode: AVFOn, K: 2, Interval: 10, Strength: StrengthL1, Stop: 20}, vectorsWithDrift(drift, length))
	_ = a.afterStep(10)
	_ = a.afterStep(20)
	if got := a.frozenNames(); len(got) != 0 {
		t.Errorf("after stop step, still frozen: %v", got)
	}
}

// With scripted gradients (loss = Σ g_v · Σ v), the frozen vector gets no update and
// keeps its optimizer state while frozen; once overtaken it is released and continues.
// Adam moves every element with a constant gradient by exactly lr per step, so a
// vector's L1 drift is lr · length · steps moved.
func TestAVFFreezesInOptimizer(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	vs := vectorsWithDrift([]float64{0, 0, 0}, []int64{6, 3, 3}) // a, b, c
	var params []train.Param
	for _, v := range vs {
		params = append(params, train.Param{Name: v.name, T: v.t, NoDecay: true})
	}
	opt := train.NewAdamW([]train.Group{{Name: "v", Params: params, LR: 0.1}}, 0.9, 0.999, 1e-8)
	a := newAVF(AVFConfig{Mode: AVFOn, K: 1, Interval: 3, Strength: StrengthL1}, vs)
	step := func(n int, grad ...float64) {
		loss := ts.MustZeros([]int64{1}, gotch.Float, gotch.CPU)
		for i, v := range vs {
			loss = loss.MustAdd(v.t.MustSum(gotch.Float, false).MustMulScalar(ts.FloatScalar(grad[i]), true), true)
		}
		loss.MustSum(gotch.Float, true).MustBackward()
		opt.Step(1)
		opt.ZeroGrad()
		if err := a.afterStep(n); err != nil {
			t.Fatal(err)
		}
	}
	for n := 1; n <= 3; n++ {
		step(n, 0, 1, 0) // b drifts 0.9
	}
	if got := a.frozenNames(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("frozen after step 3: %v, want [b]", got)
	}
	m0, v0, n0, _ := opt.State("b")
	m0v, v0v := m0.Float64Values(), v0.Float64Values()
	b0 := vs[1].t.Float64Values()

	step(4, 1, 1, 1) // b is frozen: no gradient, no update
	if got := vs[1].t.Float64Values(); !slices.Equal(got, b0) {
		t.Errorf("frozen vector moved: %v -> %v", b0, got)
	}
	if g := vs[1].t.MustGrad(false); g.MustDefined() && g.MustAbs(false).MustSum(gotch.Double, true).Float64Values()[0] != 0 {
		t.Errorf("frozen vector received a gradient")
	}
	m1, v1, n1, _ := opt.State("b")
	if n1 != n0 || !slices.Equal(m1.Float64Values(), m0v) || !slices.Equal(v1.Float64Values(), v0v) {
		t.Errorf("optimizer state of the frozen vector changed (step %d -> %d)", n0, n1)
	}

	step(5, 1, 0, 0)
	step(6, 1, 0, 0) // a drifts 3 · 0.6 = 1.8 > 0.9: a frozen, b released
	if got := a.frozenNames(); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("frozen after step 6: %v, want [a]", got)
	}
	before := vs[1].t.Float64Values()
	step(7, 0, 1, 0)
	if got := vs[1].t.Float64Values(); slices.Equal(got, before) {
		t.Errorf("released vector b did not move")
	}
	if _, _, n, _ := opt.State("b"); n != n0+1 {
		t.Errorf("b's step count is %d after release, want %d (continuing from %d)", n, n0+1, n0)
	}
}

// AVF with k = 0 is plain training, bit for bit.
func TestAVFWithKZeroIsPlainTraining(t *testing.T) {
	run := func(cfg AVFConfig) []float64 {
		m := testmodel.Tiny(t, 6)
		c := DefaultConfig()
		c.AVF = cfg
		vf := apply(t, m, c)
		testmodel.Train(t, m, vf, 6)
		var all []float64
		for _, ly := range vf.Layers() {
			all = append(all, ly.singularValues.Float64Values()...)
		}
		return all
	}
	plain := run(AVFConfig{Mode: AVFNone, Strength: StrengthL1})
	k0 := run(AVFConfig{Mode: AVFOn, K: 0, Interval: 2, Strength: StrengthL1})
	withAVF := run(AVFConfig{Mode: AVFOn, K: 3, Interval: 2, Strength: StrengthL1})
	if !slices.Equal(plain, k0) {
		t.Error("k = 0 differs from training without AVF")
	}
	if slices.Equal(plain, withAVF) {
		t.Error("k = 3 gives the same result as no AVF: freezing had no effect")
	}
}
