package train

import (
	"math"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// refAdamW is AdamW written out from the paper's / torch docs' formula, in plain Go:
//
//	p ← p − lr·wd·p
//	m ← β1·m + (1−β1)·g
//	v ← β2·v + (1−β2)·g²
//	p ← p − lr · (m/(1−β1ᵗ)) / (√(v/(1−β2ᵗ)) + ε)
type refAdamW struct {
	m, v []float64
	t    int
}

func (r *refAdamW) step(p, g []float64, lr, wd, b1, b2, eps float64) {
	if r.m == nil {
		r.m, r.v = make([]float64, len(p)), make([]float64, len(p))
	}
	r.t++
	for i := range p {
		p[i] -= lr * wd * p[i]
		r.m[i] = b1*r.m[i] + (1-b1)*g[i]
		r.v[i] = b2*r.v[i] + (1-b2)*g[i]*g[i]
		mHat := r.m[i] / (1 - math.Pow(b1, float64(r.t)))
		vHat := r.v[i] / (1 - math.Pow(b2, float64(r.t)))
		p[i] -= lr * mHat / (math.Sqrt(vHat) + eps)
	}
}

type paramSpec struct {
	init    []float64
	noDecay bool
	group   int
}

type groupSpec struct{ lr, wd float64 }

func TestAdamWMatchesFormula(t *testing.T) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	cases := []struct {
		name    string
		groups  []groupSpec
		params  []paramSpec
		grads   [][][]float64 // [step][param]
		lrScale float64
	}{
		{
			name:    "one step with decay",
			groups:  []groupSpec{{lr: 0.01, wd: 0.1}},
			params:  []paramSpec{{init: []float64{1, -2, 0.5}}},
			grads:   [][][]float64{{{0.1, -0.3, 2}}},
			lrScale: 1,
		},
		{
			name:   "three steps with decay and bias correction",
			groups: []groupSpec{{lr: 0.05, wd: 0.01}},
			params: []paramSpec{{init: []float64{1, -2, 0.5, 3}}},
			grads: [][][]float64{
				{{0.1, -0.3, 2, 0}},
				{{-0.2, 0.4, 1, 1e-3}},
				{{0.3, 0.3, -5, -1}},
			},
			lrScale: 1,
		},
		{
			name:   "NoDecay param gets no decay",
			groups: []groupSpec{{lr: 0.1, wd: 0.5}},
			params: []paramSpec{
				{init: []float64{2, -1}},
				{init: []float64{2, -1}, noDecay: true},
			},
			grads:   [][][]float64{{{0.5, 0.5}, {0.5, 0.5}}, {{-1, 2}, {-1, 2}}},
			lrScale: 1,
		},
		{
			name:   "two groups with different learning rates",
			groups: []groupSpec{{lr: 1e-3, wd: 0.01}, {lr: 1e-1, wd: 0}},
			params: []paramSpec{
				{init: []float64{1, 2}, group: 0},
				{init: []float64{1, 2}, group: 1},
			},
			grads:   [][][]float64{{{1, -1}, {1, -1}}, {{0.5, 3}, {0.5, 3}}, {{2, 2}, {2, 2}}},
			lrScale: 1,
		},
		{
			name:    "lrScale multiplies every group's rate",
			groups:  []groupSpec{{lr: 0.02, wd: 0.1}, {lr: 0.2, wd: 0.1}},
			params:  []paramSpec{{init: []float64{1}, group: 0}, {init: []float64{-1}, group: 1}},
			grads:   [][][]float64{{{1}, {1}}, {{-1}, {2}}},
			lrScale: 0.25,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tensors := make([]*ts.Tensor, len(c.params))
			groups := make([]Group, len(c.groups))
			for i, g := range c.groups {
				groups[i] = Group{Name: "g", LR: g.lr, WeightDecay: g.wd}
			}
			for i, p := range c.params {
				tensors[i] = leaf(p.init)
				gi := p.group
				groups[gi].Params = append(groups[gi].Params, Param{Name: string(rune('a' + i)), T: tensors[i], NoDecay: p.noDecay})
			}
			opt := NewAdamW(groups, b1, b2, eps)

			want := make([][]float64, len(c.params))
			refs := make([]refAdamW, len(c.params))
			for i, p := range c.params {
				want[i] = append([]float64(nil), p.init...)
			}
			for _, grads := range c.grads {
				setGrads(t, tensors, grads)
				opt.Step(c.lrScale)
				opt.ZeroGrad()
				for i, p := range c.params {
					g := c.groups[p.group]
					wd := g.wd
					if p.noDecay {
						wd = 0
					}
					refs[i].step(want[i], grads[i], g.lr*c.lrScale, wd, b1, b2, eps)
				}
			}
			for i := range c.params {
				if got := values(tensors[i]); !closeSlices(got, want[i], 1e-12) {
					t.Errorf("param %d = %v, want %v", i, got, want[i])
				}
				name := string(rune('a' + i))
				m, v, step, ok := opt.State(name)
				if !ok || step != len(c.grads) {
					t.Fatalf("state of %s: step %d ok %v, want step %d", name, step, ok, len(c.grads))
				}
				if !closeSlices(values(m), refs[i].m, 1e-12) || !closeSlices(values(v), refs[i].v, 1e-12) {
					t.Errorf("state of %s: m %v v %v, want m %v v %v", name, values(m), values(v), refs[i].m, refs[i].v)
				}
			}
		})
	}
}

// The first Adam step moves each coordinate by lr·sign(g) (m̂/√v̂ = g/|g|): a check
// with numbers, independent of any formula written in Go.
func TestAdamWFirstStepIsSignStep(t *testing.T) {
	p := leaf([]float64{1, 1})
	opt := NewAdamW([]Group{{Params: []Param{{Name: "p", T: p}}, LR: 0.1}}, 0, 0, 0)
	setGrads(t, []*ts.Tensor{p}, [][]float64{{0.5, -3}})
	opt.Step(1)
	if got := values(p); !closeSlices(got, []float64{0.9, 1.1}, 1e-7) {
		t.Fatalf("after one step p = %v, want [0.9 1.1]", got)
	}
}

// A frozen parameter (requires_grad false, as AVF sets it) is neither updated nor
// decayed, keeps m, v and its step count, and continues from them once released.
func TestAdamWSkipsFrozenParam(t *testing.T) {
	const lr, wd, b1, b2, eps = 0.1, 0.2, 0.9, 0.999, 1e-8
	frozen, other := leaf([]float64{1, -1}), leaf([]float64{3})
	opt := NewAdamW([]Group{{Params: []Param{{Name: "frozen", T: frozen}, {Name: "other", T: other}}, LR: lr, WeightDecay: wd}}, b1, b2, eps)
	both := []*ts.Tensor{frozen, other}
	ref := refAdamW{}
	want := []float64{1, -1}

	// Step 1: both train.
	g1 := []float64{0.5, 2}
	setGrads(t, both, [][]float64{g1, {1}})
	opt.Step(1)
	opt.ZeroGrad()
	ref.step(want, g1, lr, wd, b1, b2, eps)

	// Steps 2-3: frozen. Its grad stays zero and undefined-equivalent; nothing moves.
	frozen.MustRequiresGrad_(false)
	m0, v0, _, _ := opt.State("frozen")
	mBefore, vBefore := values(m0), values(v0)
	for range 2 {
		setGrads(t, both, [][]float64{{7, 7}, {1}})
		opt.Step(1)
		opt.ZeroGrad()
	}
	m, v, step, _ := opt.State("frozen")
	if got := values(frozen); !closeSlices(got, want, 0) {
		t.Errorf("frozen param moved: %v, want %v", got, want)
	}
	if step != 1 || !closeSlices(values(m), mBefore, 0) || !closeSlices(values(v), vBefore, 0) {
		t.Errorf("frozen state changed: step %d m %v v %v, want step 1 m %v v %v", step, values(m), values(v), mBefore, vBefore)
	}
	if _, _, s, _ := opt.State("other"); s != 3 {
		t.Errorf("other param step = %d, want 3", s)
	}

	// Step 4: released; its own step count continues at 2.
	frozen.MustRequiresGrad_(true)
	g2 := []float64{-1, 0.25}
	setGrads(t, both, [][]float64{g2, {1}})
	opt.Step(1)
	ref.step(want, g2, lr, wd, b1, b2, eps)
	if _, _, s, _ := opt.State("frozen"); s != 2 {
		t.Errorf("released param step = %d, want 2", s)
	}
	if got := values(frozen); !closeSlices(got, want, 1e-12) {
		t.Errorf("released param = %v, want %v", got, want)
	}
}

// A parameter never reached by backward has no grad: no update, no decay, no state.
func TestAdamWSkipsParamWithoutGrad(t *testing.T) {
	used, unused := leaf([]float64{1}), leaf([]float64{5})
	opt := NewAdamW([]Group{{Params: []Param{{Name: "used", T: used}, {Name: "unused", T: unused}}, LR: 0.1, WeightDecay: 0.5}}, 0, 0, 0)
	setGrads(t, []*ts.Tensor{used, unused}, [][]float64{{1}, nil})
	opt.Step(1)
	if got := values(unused)[0]; got != 5 {
		t.Errorf("param without grad = %v, want 5", got)
	}
	if _, _, _, ok := opt.State("unused"); ok {
		t.Error("param without grad has optimizer state")
	}
}

func TestNewAdamWRejectsDuplicateNames(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic on a duplicate parameter name")
		}
	}()
	p := leaf([]float64{1})
	NewAdamW([]Group{{Params: []Param{{Name: "x", T: p}}}, {Params: []Param{{Name: "x", T: p}}}}, 0, 0, 0)
}

// BenchmarkAdamWStep times one optimizer step over ~1M float32 parameters (a
// 1000×1000 weight and its bias), the size of a small model's adapted part.
func BenchmarkAdamWStep(b *testing.B) {
	w := ts.MustRandn([]int64{1000, 1000}, gotch.Float, gotch.CPU)
	w.MustRequiresGrad_(true)
	bias := ts.MustZeros([]int64{1000}, gotch.Float, gotch.CPU)
	bias.MustRequiresGrad_(true)
	loss := w.MustSum(gotch.Float, false).MustAdd(bias.MustSum(gotch.Float, false), true)
	loss.MustBackward()
	opt := NewAdamW([]Group{{Params: []Param{{Name: "w", T: w}, {Name: "b", T: bias, NoDecay: true}}, LR: 1e-3, WeightDecay: 0.01}}, 0, 0, 0)
	opt.Step(1) // allocate the state outside the timing
	b.ResetTimer()
	for b.Loop() {
		opt.Step(1)
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/step")
	b.ReportMetric(1001000, "params")
}
