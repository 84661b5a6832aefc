package svft

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/train"
)

const bertFixtures = "../../models/testdata/bert"

func mustNew(t *testing.T, cfg Config) *SVFT {
	t.Helper()
	sv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// The official SVFT (scripts/fixtures/gen_svft.py: svft_layers.py's layer on the tiny
// HF BERT, all 12 encoder linears) at non-zero M and gate: our positions for the
// deterministic patterns, the logits, ΔW, and one AdamW step (values, gates, logits).
func TestMatchesOfficial(t *testing.T) {
	io, err := safetensors.Load(filepath.Join(bertFixtures, "inputs_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b := models.Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], TokenTypeIDs: io["token_type_ids"]}
	labels := ts.MustOfSlice([]int64{0, 2, 1})
	cases := []struct {
		name, pattern string
		d             int64
	}{{"plain", Plain, 0}, {"banded", Banded, 2}, {"top_k", TopK, 2}, {"random", Random, 1}}
	for _, c := range cases {
		for _, fwd := range []string{Sparse, Dense} {
			t.Run(c.name+"/"+fwd, func(t *testing.T) {
				ref, err := safetensors.Load(filepath.Join("testdata", "official", "svft_"+c.name+".safetensors"))
				if err != nil {
					t.Fatal(err)
				}
				m, _, err := bert.Load(bertFixtures, bert.Classification, 0, 1)
				if err != nil {
					t.Fatal(err)
				}
				m.SetTraining(false)
				sv := mustNew(t, Config{Pattern: c.pattern, OffDiag: c.d, Init: Kaiming, Forward: fwd})
				if err := sv.Apply(m); err != nil {
					t.Fatal(err)
				}
				if len(sv.Layers()) != 12 {
					t.Fatalf("%d layers adapted, want 12", len(sv.Layers()))
				}
				for _, ly := range sv.Layers() {
					name := ly.linear.Name
					rows, cols := ref[name+".rows"].Int64Values(), ref[name+".cols"].Int64Values()
					if c.pattern == Random {
						ly.setPattern(rows, cols) // the official draws come from torch's RNG
					} else if r, cl := ly.Positions(); !slices.Equal(r, rows) || !slices.Equal(cl, cols) {
						t.Fatalf("%s: positions\n rows %v\n cols %v\nwant\n rows %v\n cols %v", name, r, cl, rows, cols)
					}
					models.NoGrad(func() {
						ts.Copy_(ly.s, ref[name+".s"])
						ts.Copy_(ly.gate, ref[name+".gate"])
					})
				}
				var logits *ts.Tensor
				models.NoGrad(func() { logits = m.Forward(b) })
				if e := testmodel.RelErr(logits, ref["logits"]); e > 1e-5 {
					t.Errorf("logits: relative error %g against the official SVFT", e)
				}
				if e := testmodel.RelErr(logits, io["logits"]); e < 1e-2 {
					t.Errorf("logits equal the base model's (%g): the adapter did nothing", e)
				}
				deltas, err := sv.Deltas()
				if err != nil {
					t.Fatal(err)
				}
				checked := 0
				for _, d := range deltas {
					if want, ok := ref["delta."+d.Name]; ok {
						checked++
						if e := testmodel.RelErr(d.W, want); e > 1e-6 || d.W.DType() != gotch.Double {
							t.Errorf("ΔW of %s: relative error %g (dtype %v)", d.Name, e, d.W.DType())
						}
					}
					d.W.MustDrop()
				}
				if checked != 2 {
					t.Errorf("%d ΔW compared, want 2", checked)
				}

				adapter, _ := sv.Trainable()
				opt := train.NewAdamW([]train.Group{{Name: "adapter", Params: adapter, LR: 1e-2, WeightDecay: 0.1}}, 0, 0, 0)
				out := m.Forward(b)
				loss := out.CrossEntropyForLogits(labels)
				loss.MustBackward()
				opt.Step(1)
				var worst float64
				for _, ly := range sv.Layers() {
					name := ly.linear.Name
					for _, p := range []struct {
						got  *ts.Tensor
						want string
					}{{ly.s, ".s_after"}, {ly.gate, ".gate_after"}} {
						if e := maxAbsDiff(p.got, ref[name+p.want]); e > worst {
							worst = e
						}
					}
				}
				// One AdamW step moves each entry by ≈ lr·sign(g) = ±1e-2 (plus decay); an
				// entry whose |g| is near ε = 1e-8 moves by less, and there float32 rounding
				// of g shows: 1e-5 is 0.1% of the step.
				if worst > 1e-5 {
					t.Errorf("after one AdamW step: max |Δ| %g against the official SVFT", worst)
				}
				models.NoGrad(func() { logits = m.Forward(b) })
				if e := testmodel.RelErr(logits, ref["logits_after"]); e > 1e-5 {
					t.Errorf("logits after one step: relative error %g", e)
				}
				t.Logf("max |s, gate − official| after one step: %.3g", worst)
			})
		}
	}
}

func maxAbsDiff(a, b *ts.Tensor) float64 {
	av, bv := a.Float64Values(), b.Float64Values()
	var m float64
	for i := range av {
		m = math.Max(m, math.Abs(av[i]-bv[i]))
	}
	return m
}

// With init=zero the model is exactly the pre-trained one at step 0; with the official
// kaiming init (M ≠ 0, gate ½) it is not.
func TestInitialisation(t *testing.T) {
	base := testmodel.Hidden(testmodel.Tiny(t, 1))
	for _, p := range []struct {
		pattern string
		d       int64
	}{{Plain, 0}, {Banded, 1}, {Random, 2}, {TopK, 1}} {
		for _, init := range []string{Zero, Kaiming} {
			m := testmodel.Tiny(t, 1)
			sv := mustNew(t, Config{Pattern: p.pattern, OffDiag: p.d, Init: init, Forward: Auto})
			if err := sv.Apply(m); err != nil {
				t.Fatal(err)
			}
			e := testmodel.RelErr(testmodel.Hidden(m), base)
			if init == Zero && e != 0 {
				t.Errorf("%s init=zero: relative error %g after Apply, want 0", p.pattern, e)
			}
			if init == Kaiming && e < 1e-3 {
				t.Errorf("%s init=kaiming: relative error %g, want the official non-zero start", p.pattern, e)
			}
		}
	}
}

// The kaiming values have the official std √(2/k) (k = 64·5 − 6 = 314 per tiny layer).
func TestKaimingStd(t *testing.T) {
	m := testmodel.Tiny(t, 1)
	sv := mustNew(t, Config{Pattern: Banded, OffDiag: 2, Init: Kaiming, Forward: Auto})
	if err := sv.Apply(m); err != nil {
		t.Fatal(err)
	}
	var sum2 float64
	var n int
	for _, ly := range sv.Layers() {
		for _, v := range ly.s.Float64Values() {
			sum2 += v * v
			n++
		}
	}
	std, want := math.Sqrt(sum2/float64(n)), math.Sqrt(2.0/314)
	if math.Abs(std/want-1) > 0.05 {
		t.Errorf("std of M's values %g, want √(2/314) = %g", std, want)
	}
}

// Hand-checked patterns and band sizes.
func TestPositions(t *testing.T) {
	rows, cols := positions(Banded, 4, 1, nil, nil)
	if !slices.Equal(rows, []int64{0, 0, 1, 1, 1, 2, 2, 2, 3, 3}) || !slices.Equal(cols, []int64{0, 1, 0, 1, 2, 1, 2, 3, 2, 3}) {
		t.Errorf("banded n=4 d=1: rows %v cols %v", rows, cols)
	}
	rows, cols = positions(Plain, 3, 0, nil, nil)
	if !slices.Equal(rows, []int64{0, 1, 2}) || !slices.Equal(cols, []int64{0, 1, 2}) {
		t.Errorf("plain n=3: rows %v cols %v", rows, cols)
	}
	for _, c := range []struct{ n, d, want int64 }{{768, 0, 768}, {768, 2, 3834}, {32, 2, 154}, {4, 1, 10}, {4, 3, 16}, {4, 9, 16}, {1, 0, 1}} {
		if got := nonzeros(c.n, c.d); got != c.want {
			t.Errorf("nonzeros(%d, %d) = %d, want %d", c.n, c.d, got, c.want)
		}
		if got, _ := positions(Banded, c.n, c.d, nil, nil); int64(len(got)) != c.want {
			t.Errorf("banded n=%d d=%d: %d positions, want %d", c.n, c.d, len(got), c.want)
		}
	}
	a, _ := positions(Random, 50, 2, models.NewRNG(1, 21), nil)
	b, _ := positions(Random, 50, 2, models.NewRNG(1, 21), nil)
	c, _ := positions(Random, 50, 2, models.NewRNG(2, 21), nil)
	if len(a) != 244 || !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Errorf("random: %d positions, same seed same draws %v, other seed other draws %v", len(a), slices.Equal(a, b), !slices.Equal(a, c))
	}
	if slices.Min(a) < 0 || slices.Max(a) >= 50 {
		t.Errorf("random rows outside [0, 50): %d..%d", slices.Min(a), slices.Max(a))
	}
}

// oneLinear is a models.Model with a single 3×3 linear.
type oneLinear struct{ l *models.Linear }

func (o oneLinear) Params() []models.Param {
	ps := []models.Param{{Name: "w", T: o.l.Weight}}
	if o.l.Bias != nil {
		ps = append(ps, models.Param{Name: "b", T: o.l.Bias})
	}
	return ps
}
func (o oneLinear) Linears() []*models.Linear { return []*models.Linear{o.l} }
func (oneLinear) SetTraining(bool)            {}

// W0 = diag(3, 2, 1): U and V are ±I with u_i, v_i of the same sign, so ΔW = g·M on the
// diagonal and |ΔW| = g·|M| off it, by hand; the rank report counts M's non-zero rows.
func TestDeltasHandChecked(t *testing.T) {
	for _, c := range []struct {
		pattern  string
		d        int64
		s        []float32
		wantAbs  [][]float64 // |ΔW| with gate 0 (g = ½)
		wantRank int
	}{
		{Plain, 0, []float32{0.5, 0, -1}, [][]float64{{0.25, 0, 0}, {0, 0, 0}, {0, 0, 0.5}}, 2},
		// band positions (0,0) (0,1) (1,0) (1,1) (1,2) (2,1) (2,2)
		{Banded, 1, []float32{1, 2, 0, 0, 0, 0, 0}, [][]float64{{0.5, 1, 0}, {0, 0, 0}, {0, 0, 0}}, 1},
		{Banded, 1, []float32{1, 0, 0, 1, 0, 0, 1}, [][]float64{{0.5, 0, 0}, {0, 0.5, 0}, {0, 0, 0.5}}, 3},
	} {
		w := ts.MustOfSlice([]float32{3, 0, 0, 0, 2, 0, 0, 0, 1}).MustView([]int64{3, 3}, true)
		l := &models.Linear{Name: "lin", Type: models.Query, Weight: w, Bias: ts.MustZeros([]int64{3}, gotch.Float, gotch.CPU)}
		sv := mustNew(t, Config{Pattern: c.pattern, OffDiag: c.d, Init: Zero, Forward: Auto})
		if err := sv.Apply(oneLinear{l}); err != nil {
			t.Fatal(err)
		}
		models.NoGrad(func() { ts.Copy_(sv.layers[0].s, ts.MustOfSlice(c.s)) })
		deltas, err := sv.Deltas()
		if err != nil {
			t.Fatal(err)
		}
		got := deltas[0].W.Float64Values()
		for i := range 3 {
			for j := range 3 {
				if math.Abs(math.Abs(got[3*i+j])-c.wantAbs[i][j]) > 1e-7 {
					t.Errorf("%s %v: |ΔW[%d,%d]| = %g, want %g", c.pattern, c.s, i, j, math.Abs(got[3*i+j]), c.wantAbs[i][j])
				}
			}
		}
		if c.pattern == Plain && (got[0] != 0.25 || got[8] != -0.5) {
			t.Errorf("plain: ΔW diagonal %v, want exactly 0.25, 0, −0.5", []float64{got[0], got[4], got[8]})
		}
		deltas[0].W.MustDrop()
		per, _, err := methods.Ranks(sv)
		if err != nil || per[0].Rank != c.wantRank {
			t.Errorf("%s %v: rank %v (%v), want %d", c.pattern, c.s, per, err, c.wantRank)
		}
		// The forward pass is x·(W0 + ΔW)ᵀ + b.
		x := ts.MustOfSlice([]float32{1, -2, 0.5, 0.3, 0.1, -1}).MustView([]int64{2, 3}, true)
		var y *ts.Tensor
		models.NoGrad(func() { y = l.Forward(x, false) })
		d, _ := sv.Deltas()
		w64 := w.MustTotype(gotch.Double, false).MustAdd(d[0].W, true)
		want := x.MustTotype(gotch.Double, false).MustMatmul(w64.MustT(true), true)
		if e := testmodel.RelErr(y, want); e > 1e-6 {
			t.Errorf("%s %v: forward relative error %g against x·(W0+ΔW)ᵀ", c.pattern, c.s, e)
		}
	}
}

// The sparse and dense forward paths agree, values and gradients.
func TestSparseEqualsDense(t *testing.T) {
	var grads [2][]float64
	var outs [2]*ts.Tensor
	for i, fwd := range []string{Sparse, Dense} {
		m := testmodel.Tiny(t, 3)
		sv := mustNew(t, Config{Pattern: Random, OffDiag: 3, Seed: 7, Init: Kaiming, Forward: fwd})
		if err := sv.Apply(m); err != nil {
			t.Fatal(err)
		}
		// Cross-entropy of the logits: (the sum of a LayerNorm output would have a zero
		// gradient, leaving only rounding noise to compare).
		outs[i] = m.Forward(testmodel.Batch())
		outs[i].CrossEntropyForLogits(ts.MustOfSlice([]int64{0, 2})).MustBackward()
		grads[i] = sv.layers[3].s.MustGrad(false).Float64Values()
	}
	if e := testmodel.RelErr(outs[0], outs[1]); e > 1e-5 {
		t.Errorf("sparse vs dense forward: relative error %g", e)
	}
	ga := ts.MustOfSlice(grads[0])
	gb := ts.MustOfSlice(grads[1])
	if e := testmodel.RelErr(ga, gb); e > 1e-4 {
		t.Errorf("sparse vs dense gradient of s: relative error %g", e)
	}
}

// Parameter counts from the shape alone, by hand, for BERT-base and DeBERTaV3-base
// (12 layers; q, k, v, o 768×768, FFN 3072×768 and 768×3072: n = 768 for all 72).
func TestCounts(t *testing.T) {
	m := testmodel.Tiny(t, 5)
	sv := mustNew(t, Config{Pattern: Banded, OffDiag: 2, Init: Kaiming, Forward: Auto})
	if err := sv.Apply(m); err != nil {
		t.Fatal(err)
	}
	if c := methods.Count(sv, m); c.Adapter != 12*(314+1) || sv.CountAdapter(models.ShapeOf(m)) != c.Adapter {
		t.Errorf("tiny: adapter %d, CountAdapter %d, want 12·(64·5−6+1) = %d", c.Adapter, sv.CountAdapter(models.ShapeOf(m)), 12*(314+1))
	}
	shapes := map[string]models.Shape{
		"bert-base":       bert.ShapeOf(bert.BaseShape(), bert.Classification),
		"deberta-v3-base": deberta.ShapeOf(deberta.BaseShape(), deberta.Classification),
	}
	tests := []struct {
		cfg  Config
		want int64
	}{
		{Config{Pattern: Plain}, 72*768 + 72},                      // 55,368
		{Config{Pattern: Banded, OffDiag: 2}, 72*3834 + 72},        // 276,120
		{Config{Pattern: Random, OffDiag: 2}, 72*3834 + 72},        // same k for every pattern
		{Config{Pattern: TopK, OffDiag: 16}, 72*(768*33-272) + 72}, // 1,805,328
		{Config{Pattern: Plain, TrainBias: true}, 72*768 + 72 + 12*(4*768+3072+768)},
		{Config{Pattern: Plain, Targets: []models.LayerType{models.Query, models.Value}}, 24*768 + 24},
	}
	for name, s := range shapes {
		for _, tt := range tests {
			tt.cfg.Init, tt.cfg.Forward = Kaiming, Auto
			sv := mustNew(t, tt.cfg)
			got := sv.CountAdapter(s)
			if got != tt.want {
				t.Errorf("%s %s: %d, want %d", name, sv.Describe(), got, tt.want)
			}
			t.Logf("%s %s: %d (%.4f%% of %d)", name, sv.Describe(), got, 100*float64(got)/float64(s.BaseParams), s.BaseParams)
		}
	}
}

func TestOptions(t *testing.T) {
	m, err := Factory(methods.NewOptions("svft", map[string]string{"pattern": "random", "off_diag": "4", "seed": "3", "targets": "query+value", "init": "zero", "train_bias": "true", "forward": "dense"}))
	if err != nil {
		t.Fatal(err)
	}
	want := "svft(pattern=random, off_diag=4, init=zero, targets=query+value, bias)"
	if m.Describe() != want {
		t.Errorf("Describe() = %q, want %q", m.Describe(), want)
	}
	d, _ := Factory(methods.NewOptions("svft", nil))
	if got := d.Describe(); got != "svft(pattern=plain, off_diag=0, init=kaiming, targets=all, no bias)" {
		t.Errorf("defaults: %s", got)
	}
	if s := d.Settings(); s["pattern"] != Plain || s["init"] != Kaiming || s["train_bias"] != false {
		t.Errorf("Settings() = %v", s)
	}
}

// Every guard, with its exact message.
func TestBadInput(t *testing.T) {
	for _, c := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{"pattern": "diag"}, `svft: pattern "diag", want plain, banded, random or top_k`},
		{map[string]string{"off_diag": "2"}, "svft: pattern plain with off_diag=2: plain is the diagonal (off_diag=0); use pattern=banded for a band"},
		{map[string]string{"pattern": "banded", "off_diag": "-1"}, "svft: off_diag=-1, want ≥ 0"},
		{map[string]string{"init": "normal"}, `svft: init "normal", want kaiming or zero`},
		{map[string]string{"forward": "fast"}, `svft: forward "fast", want auto, sparse or dense`},
		{map[string]string{"seed": "-4"}, "svft: seed=-4, want ≥ 0"},
		{map[string]string{"off_diag": "x"}, `svft option off_diag="x": want an integer`},
		{map[string]string{"rank": "8"}, "svft has no option rank (it has forward, init, off_diag, pattern, seed, targets, train_bias)"},
	} {
		_, err := Factory(methods.NewOptions("svft", c.opts))
		if err == nil || err.Error() != c.want {
			t.Errorf("%v: error %v, want %q", c.opts, err, c.want)
		}
	}
	m := testmodel.Tiny(t, 1)
	sv := mustNew(t, DefaultConfig())
	if err := sv.Apply(m); err != nil {
		t.Fatal(err)
	}
	if err := sv.Apply(m); err == nil || err.Error() != "svft: Apply called twice" {
		t.Errorf("second Apply: %v", err)
	}
	none := mustNew(t, Config{Pattern: Plain, Init: Zero, Forward: Auto, Targets: []models.LayerType{"nope"}})
	err := none.Apply(testmodel.Tiny(t, 1))
	if want := fmt.Sprintf("svft: the model has no linear layer of types %v", []models.LayerType{"nope"}); err == nil || err.Error() != want {
		t.Errorf("no targets: %v, want %q", err, want)
	}
}
