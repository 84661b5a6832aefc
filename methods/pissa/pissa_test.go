package pissa

import (
	"math"
	"runtime"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/linalg"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
	"github.com/vectorfit/harness/models/safetensors"
)

const fixtures = "../../models/testdata/bert"

// signAligned returns got with each singular component k (row k of A, column k of B)
// negated where it points against the reference: an SVD fixes each (u_k, v_k) pair only
// up to a common sign, which B·A, the residual and the forward do not see.
func signAligned(gotA, gotB, refA *ts.Tensor) (a, b *ts.Tensor) {
	dot := gotA.MustMul(refA, false).MustSumDimIntlist([]int64{1}, true, gotch.Float, true) // r × 1
	sign := dot.MustSign(true)
	a = gotA.MustMul(sign, false)
	b = gotB.MustMul(sign.MustT(false), false)
	return a, b
}

// PiSSA on the tiny BERT equals PEFT 0.12.0's (scripts/fixtures/gen_pissa.py): the
// residual weights and A, B after init, the logits at init (= the base model's), the
// logits with A, B set to random values, and one AdamW step from there.
func TestMatchesPEFT(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ref, err := safetensors.Load("testdata/pissa.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	in, err := safetensors.Load(fixtures + "/inputs_outputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	b := models.Batch{InputIDs: in["input_ids"], AttentionMask: in["attention_mask"], TokenTypeIDs: in["token_type_ids"]}
	m, _, err := bert.Load(fixtures, bert.Classification, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	p, err := New(Config{R: 4, Alpha: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(m); err != nil {
		t.Fatal(err)
	}
	worst := 0.0 // the largest relative error of any comparison
	defer func() { t.Logf("worst relative error against PEFT: %.2g", worst) }()
	check := func(what string, got, want *ts.Tensor, tol float64) {
		t.Helper()
		if want == nil {
			t.Fatalf("%s: not in the fixture", what)
		}
		e := testmodel.RelErr(got, want)
		worst = max(worst, e)
		if e > tol {
			t.Errorf("%s: relative error %g against PEFT", what, e)
		}
	}
	logits := func(what, key string) {
		t.Helper()
		models.NoGrad(func() { check(what, m.Forward(b), ref[key], 1e-5) })
	}
	if len(p.Layers()) != 12 {
		t.Fatalf("%d layers adapted, want 12", len(p.Layers()))
	}
	flipped, identical := 0, 0
	for _, ly := range p.Layers() {
		name := ly.Linear().Name
		check(name+" residual weight", ly.Linear().Weight, ref["init/"+name+".weight"], 1e-5)
		if ly.Linear().Weight.MustEqual(ref["init/"+name+".weight"], false) {
			identical++
		}
		a, bb := signAligned(ly.A, ly.B, ref["init/"+name+".lora_A"])
		check(name+" A", a, ref["init/"+name+".lora_A"], 1e-5)
		check(name+" B", bb, ref["init/"+name+".lora_B"], 1e-5)
		if !a.MustEqual(ly.A, false) {
			flipped++
		}
	}
	t.Logf("%d of 12 layers had a singular vector of opposite sign to PEFT's; %d residuals bit-identical", flipped, identical)
	logits("logits at init vs the base model", "base_logits")
	logits("logits at init", "init_logits")

	models.NoGrad(func() {
		for _, ly := range p.Layers() {
			ly.A.Copy_(ref["perturbed/"+ly.Linear().Name+".lora_A"])
			ly.B.Copy_(ref["perturbed/"+ly.Linear().Name+".lora_B"])
		}
	})
	logits("logits with random A, B", "perturbed_logits")

	adapter, head := p.Trainable()
	if len(adapter) != 24 || len(head) != 2 {
		t.Fatalf("%d adapter and %d head tensors, want 24 and 2", len(adapter), len(head))
	}
	step, _ := testmodel.Step(adapter, head, 1e-2, func() *ts.Tensor { return m.Forward(b) }, ref["labels"])
	step()
	for _, ly := range p.Layers() {
		name := ly.Linear().Name
		check(name+" A after the step", ly.A, ref["step/"+name+".lora_A"], 1e-5)
		check(name+" B after the step", ly.B, ref["step/"+name+".lora_B"], 1e-5)
	}
	for _, h := range head {
		check(h.Name+" after the step", h.T, ref["step/"+h.Name], 1e-5)
	}
	logits("logits after the step", "step_logits")
}

// ΔW is what the layer's forward changed: probing the adapted layer with the identity
// gives (W_res + scaling·B·A)ᵀ + b, to compare with W₀ᵀ + b from a copy kept before
// Apply. After training its rank is at most 2r (and above r: B·A − B₀·A₀ is not
// rank r in general).
func TestDeltasAreTheForwardChange(t *testing.T) {
	m := testmodel.Tiny(t, 3)
	w0 := map[string]*ts.Tensor{}
	for _, l := range m.Linears() {
		w0[l.Name] = l.Weight.MustTotype(gotch.Double, false)
	}
	const r = 2
	p, err := New(Config{R: r, Alpha: 6, Targets: []models.LayerType{models.Query, models.FFNUp}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(m); err != nil {
		t.Fatal(err)
	}
	testmodel.Train(t, m, p, 3)
	deltas, err := p.Deltas()
	if err != nil {
		t.Fatal(err)
	}
	if len(deltas) != 4 {
		t.Fatalf("%d deltas, want 4", len(deltas))
	}
	for i, d := range deltas {
		ly := p.Layers()[i]
		l := ly.Linear()
		if d.Name != l.Name || d.Type != l.Type {
			t.Errorf("delta %d is %s/%s, layer %s/%s", i, d.Name, d.Type, l.Name, l.Type)
		}
		var probe *ts.Tensor
		models.NoGrad(func() {
			eye := ts.MustEye(l.In(), gotch.Float, gotch.CPU)
			y := ly.Forward(eye, false) // rows: (W x_i + b)ᵀ for x_i = e_i
			probe = y.MustSub(l.Bias, true).MustT(true).MustTotype(gotch.Double, true).MustSub(w0[l.Name], true)
		})
		if e := testmodel.RelErr(d.W, probe); e > 1e-4 {
			t.Errorf("%s: ΔW differs from the forward's change by %g (relative)", d.Name, e)
		}
		sv, err := linalg.SingularValues(d.W)
		if err != nil {
			t.Fatal(err)
		}
		size := d.W.MustSize()
		if rk := linalg.Rank(sv, int(size[0]), int(size[1])); rk > 2*r || rk <= r {
			t.Errorf("%s: rank(ΔW) = %d, want in (r, 2r] = (%d, %d]", d.Name, rk, r, 2*r)
		}
		d.W.MustDrop()
	}
}

// Parameter counts from the shape alone: r·(in + out) per adapted linear. At r = 8 on
// all six linears of BERT-base / DeBERTaV3-base (hidden 768, FFN 3072, 12 layers): per
// layer 4·8·(768+768) + 2·8·(768+3072) = 49,152 + 61,440 = 110,592; ×12 = 1,327,104.
func TestCounts(t *testing.T) {
	p, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		shape models.Shape
	}{
		{"bert-base", bert.ShapeOf(bert.BaseShape(), bert.Classification)},
		{"deberta-v3-base", deberta.ShapeOf(deberta.BaseShape(), deberta.Classification)},
	} {
		got := p.CountAdapter(c.shape)
		if got != 1327104 {
			t.Errorf("%s: %d, want 1,327,104", c.name, got)
		}
		t.Logf("%s: %d = %.4f%% of %d", c.name, got, 100*float64(got)/float64(c.shape.BaseParams), c.shape.BaseParams)
	}
	m := testmodel.Tiny(t, 1)
	if err := p.Apply(m); err != nil {
		t.Fatal(err)
	}
	if got, want := p.CountAdapter(models.ShapeOf(m)), methods.Count(p, m).Adapter; got != want {
		t.Errorf("tiny model: CountAdapter %d, trains %d", got, want)
	}
}

// At init the adapted model computes what the base model did (float32 rounding apart),
// and scaling·B·A is the best rank-r approximation of W: its singular values are W's
// top r (Eckart–Young), checked in float64.
func TestInitKeepsTheModelAndTakesThePrincipalPart(t *testing.T) {
	m := testmodel.Tiny(t, 4)
	w0 := map[string][]float64{}
	for _, l := range m.Linears() {
		sv, err := linalg.SingularValues(l.Weight)
		if err != nil {
			t.Fatal(err)
		}
		w0[l.Name] = sv
	}
	h0 := testmodel.Hidden(m)
	p, _ := New(Config{R: 3, Alpha: 12})
	if err := p.Apply(m); err != nil {
		t.Fatal(err)
	}
	if e := testmodel.RelErr(testmodel.Hidden(m), h0); e > 1e-5 {
		t.Errorf("hidden state at init: relative error %g", e)
	}
	for _, ly := range p.Layers() {
		ba := ly.B.MustTotype(gotch.Double, false).MustMatmul(ly.A.MustTotype(gotch.Double, false), true).MustMulScalar(ts.FloatScalar(4), true)
		sv, err := linalg.SingularValues(ba)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 3 {
			if want := w0[ly.Linear().Name][k]; math.Abs(sv[k]-want) > 1e-5*want {
				t.Errorf("%s: σ%d(scaling·B·A) = %g, σ%d(W) = %g", ly.Linear().Name, k, sv[k], k, want)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		kv   map[string]string
		want string
	}{
		{"niter", map[string]string{"init_lora_weights": "pissa_niter_4"}, `pissa: init_lora_weights="pissa_niter_4" (PEFT's fast SVD, torch.svd_lowrank) draws a random sketch that cannot be reproduced here; use "pissa" (exact SVD)`},
		{"other init", map[string]string{"init_lora_weights": "gaussian"}, `pissa: init_lora_weights="gaussian", want "pissa"`},
		{"r zero", map[string]string{"r": "0"}, "pissa: r = 0, want > 0"},
		{"dropout", map[string]string{"dropout": "1"}, "pissa: dropout = 1, want in [0, 1)"},
		{"unknown key", map[string]string{"lora_r": "4"}, "pissa has no option lora_r (it has alpha, dropout, init_lora_weights, r, targets)"},
	} {
		_, err := Factory(methods.NewOptions("pissa", c.kv))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	p, err := Factory(methods.NewOptions("pissa", map[string]string{"r": "65"}))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Apply(testmodel.Tiny(t, 1))
	if want := "pissa: r = 65 exceeds min(out, in) = 64 of bert.encoder.layer.0.attention.self.query (64×64): W has only that many singular values"; err == nil || err.Error() != want {
		t.Errorf("r too large: error %v, want %q", err, want)
	}
	p, _ = New(Config{R: 2, Alpha: 2, Targets: []models.LayerType{models.FFNDown}})
	err = p.Apply(oneLinear{&models.Linear{Name: "q", Type: models.Query, Weight: ts.MustOnes([]int64{4, 4}, gotch.Float, gotch.CPU)}})
	if want := "pissa: the model has no linear layer of types [ffn_down]"; err == nil || err.Error() != want {
		t.Errorf("no target: error %v, want %q", err, want)
	}
	l := &models.Linear{Name: "q", Type: models.Query, Weight: ts.MustOnes([]int64{16, 16}, gotch.Double, gotch.CPU)}
	p, _ = New(DefaultConfig())
	err = p.Apply(oneLinear{l})
	if want := "pissa: q has dtype Double; PEFT initialises PiSSA only from Float (float32), Half or BFloat16 weights"; err == nil || err.Error() != want {
		t.Errorf("float64 weights: error %v, want %q", err, want)
	}
}

// oneLinear is a model of one linear layer.
type oneLinear struct{ l *models.Linear }

func (o oneLinear) Params() []models.Param {
	return []models.Param{{Name: o.l.Name + ".weight", T: o.l.Weight}}
}
func (o oneLinear) Linears() []*models.Linear { return []*models.Linear{o.l} }
func (oneLinear) SetTraining(bool)            {}
