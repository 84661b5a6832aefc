package dora

import (
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/lora"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/train"
)

const (
	bertFixture = "../../models/testdata/bert"
	peftFixture = "testdata/peft/peft_dora.safetensors" // scripts/fixtures/gen_dora.py
)

// DoRA at a non-trivial state (random A, B; m off ‖W + sBA‖) gives peft 0.12.0's
// logits, gradients of A, B and m, AdamW step and merged ΔW on the tiny BERT.
func TestMatchesPEFT(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	want, err := safetensors.Load(peftFixture)
	if err != nil {
		t.Fatal(err)
	}
	io, err := safetensors.Load(filepath.Join(bertFixture, "inputs_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := bert.Load(bertFixture, bert.Classification, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	d, err := New(Config{R: 2, Alpha: 4})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(m); err != nil {
		t.Fatal(err)
	}
	if len(d.Layers()) != 12 {
		t.Fatalf("%d adapted layers, want 12", len(d.Layers()))
	}
	worst := map[string]float64{} // by the last word of what, for the log
	check := func(what string, got, ref *ts.Tensor, tol float64) {
		t.Helper()
		if ref == nil {
			t.Fatalf("%s: not in the fixture", what)
		}
		e := testmodel.RelErr(got, ref)
		if e > tol {
			t.Errorf("%s: relative error %g against peft, want ≤ %g", what, e, tol)
		}
		kind := what[strings.LastIndex(what, " ")+1:]
		worst[kind] = math.Max(worst[kind], e)
	}
	defer func() { t.Logf("worst relative errors against peft: %v", worst) }()
	// Apply's magnitude is PEFT's initial one, ‖W‖ per output feature.
	for _, ly := range d.Layers() {
		check(ly.linear.Name+" m at init", ly.M, want[ly.linear.Name+".m_init"], 1e-6)
	}
	models.NoGrad(func() {
		for _, ly := range d.Layers() {
			ly.A.Copy_(want[ly.linear.Name+".lora_A"])
			ly.B.Copy_(want[ly.linear.Name+".lora_B"])
			ly.M.Copy_(want[ly.linear.Name+".m"])
		}
	})
	b := models.Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], TokenTypeIDs: io["token_type_ids"]}

	adapter, head := d.Trainable()
	opt := train.NewAdamW([]train.Group{
		{Name: "adapter", Params: adapter, LR: 1e-2, WeightDecay: 0.1},
		{Name: "head", Params: head, LR: 1e-2, WeightDecay: 0.1},
	}, 0.9, 0.999, 1e-8)
	logits := m.Forward(b)
	check("logits at the start state", logits, want["logits0"], 1e-5)
	if e := testmodel.RelErr(logits, io["logits"]); e < 1e-2 {
		t.Errorf("DoRA logits equal the base model's (%g): the fixture state does nothing", e)
	}
	loss := logits.CrossEntropyForLogits(want["labels"])
	loss.MustBackward()
	for _, ly := range d.Layers() {
		for p, tensor := range map[string]*ts.Tensor{"lora_A": ly.A, "lora_B": ly.B, "m": ly.M} {
			g := tensor.MustGrad(false)
			check(ly.linear.Name+"."+p+" grad", g, want[ly.linear.Name+"."+p+".grad"], 1e-4)
			g.MustDrop()
		}
	}
	opt.Step(1)
	opt.ZeroGrad()
	for _, ly := range d.Layers() {
		check(ly.linear.Name+".lora_A after a step", ly.A, want[ly.linear.Name+".lora_A.step1"], 1e-5)
		check(ly.linear.Name+".lora_B after a step", ly.B, want[ly.linear.Name+".lora_B.step1"], 1e-5)
		check(ly.linear.Name+".m after a step", ly.M, want[ly.linear.Name+".m.step1"], 1e-5)
	}
	for _, p := range head {
		check(p.Name+" after a step", p.T, want[p.Name+".step1"], 1e-5)
	}
	models.NoGrad(func() { check("logits after a step", m.Forward(b), want["logits1"], 1e-5) })

	deltas, err := d.Deltas()
	if err != nil {
		t.Fatal(err)
	}
	for _, dl := range deltas {
		// PEFT merges in float32: W' − W carries float32 rounding of W (|W| ~ 0.2).
		check(dl.Name+" ΔW vs peft's merge", dl.W, want[dl.Name+".delta"], 1e-5)
	}
}

// handLayer is W = [[3, 0], [0, 4]], b = [10, 20], A = [[1, 0]], B = [[0], [1]], s = 3,
// m = [6, 10]: W + sBA = [[3, 0], [3, 4]] with row norms [3, 5], so m/n = [2, 2] and
// ΔW = 2·(W + sBA) − W = [[3, 0], [6, 4]].
func handLayer(dropout float64) *Layer {
	f := func(v []float32, shape ...int64) *ts.Tensor { return ts.MustOfSlice(v).MustView(shape, true) }
	linear := &models.Linear{Name: "hand", Type: models.Query, Weight: f([]float32{3, 0, 0, 4}, 2, 2), Bias: f([]float32{10, 20}, 2)}
	a, b := f([]float32{1, 0}, 1, 2), f([]float32{0, 1}, 2, 1)
	return &Layer{
		lora:    lora.NewLayer(linear, a, b, 3, dropout),
		linear:  linear,
		A:       a,
		B:       b,
		M:       f([]float32{6, 10}, 2),
		scaling: 3,
	}
}

func TestDeltaByHand(t *testing.T) {
	got := handLayer(0).delta()
	if got.DType() != gotch.Double {
		t.Errorf("ΔW is %v, want float64", got.DType())
	}
	want := []float64{3, 0, 6, 4}
	for i, v := range got.Float64Values() {
		if math.Abs(v-want[i]) > 1e-12 {
			t.Fatalf("ΔW = %v, want %v", got.Float64Values(), want)
		}
	}
}

// In eval mode y = (m/n)⊙(x·(W+sBA)ᵀ) + b: the bias is not rescaled. x = [1, 1]:
// (W+sBA)·x = [3, 7], times 2, plus b = [16, 34].
func TestForwardByHand(t *testing.T) {
	x := ts.MustOfSlice([]float32{1, 1}).MustView([]int64{1, 2}, true)
	got := handLayer(0.5).Forward(x, false).Float64Values()
	if math.Abs(got[0]-16) > 1e-5 || math.Abs(got[1]-34) > 1e-5 {
		t.Errorf("y = %v, want [16 34]", got)
	}
}

// PEFT 0.12.0 adds dropout(x) to BOTH DoRA terms and keeps the base output (and its
// bias) on the un-dropped x. With one input feature each row's dropout mask is one
// number, 0 or 1/(1−p) = 2: a dropped row gives exactly base = x·Wᵀ + b; a kept row
// base + (m/n − 1)·(2x)·Wᵀ + (m/n)·s·(2x)·Aᵀ·Bᵀ. Both kinds must occur.
func TestDropoutOnBothDoRATermsOnly(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f := func(v []float32, shape ...int64) *ts.Tensor { return ts.MustOfSlice(v).MustView(shape, true) }
	// W = [[2], [1]] (out 2, in 1), b = [5, −1], A = [[1]], B = [[1], [0]], s = 1:
	// W + sBA = [[3], [1]], n = [3, 1]; m = [6, 3] → m/n = [2, 3].
	linear := &models.Linear{Name: "hand", Weight: f([]float32{2, 1}, 2, 1), Bias: f([]float32{5, -1}, 2)}
	a, b := f([]float32{1}, 1, 1), f([]float32{1, 0}, 2, 1)
	ly := &Layer{lora: lora.NewLayer(linear, a, b, 1, 0.5), linear: linear, A: a, B: b, M: f([]float32{6, 3}, 2), scaling: 1}
	const rows = 64
	xs := make([]float32, rows)
	for i := range xs {
		xs[i] = float32(i + 1)
	}
	x := f(xs, rows, 1)
	var got []float64
	models.NoGrad(func() { got = ly.Forward(x, true).Float64Values() })
	dropped, kept := 0, 0
	for i := range rows {
		xi := float64(xs[i])
		base := []float64{2*xi + 5, xi - 1}
		x2 := 2 * xi
		// (m/n − 1)·x̃W + (m/n)·s·x̃·(BA): row 0 (2−1)·2·x̃ + 2·1·x̃; row 1 (3−1)·1·x̃ + 0.
		keep := []float64{base[0] + x2*2 + 2*x2, base[1] + 2*x2}
		switch y := got[2*i : 2*i+2]; {
		case close(y, base):
			dropped++
		case close(y, keep):
			kept++
		default:
			t.Fatalf("row %d (x = %g): y = %v, want %v (dropped) or %v (kept)", i, xi, y, base, keep)
		}
	}
	if dropped == 0 || kept == 0 {
		t.Errorf("%d dropped, %d kept rows: dropout was not applied per row", dropped, kept)
	}
}

func close(a, b []float64) bool {
	for i := range a {
		if math.Abs(a[i]-b[i]) > 1e-4*math.Max(1, math.Abs(b[i])) {
			return false
		}
	}
	return true
}

// At initialisation m = ‖W‖ and B = 0, so the model is unchanged.
func TestInitialisationReproducesBaseModel(t *testing.T) {
	m := testmodel.Tiny(t, 1)
	want := testmodel.Hidden(m)
	d, _ := New(DefaultConfig())
	if err := d.Apply(m); err != nil {
		t.Fatal(err)
	}
	if e := testmodel.RelErr(testmodel.Hidden(m), want); e > 1e-5 {
		t.Errorf("relative error %g after Apply, want ≤ 1e-5", e)
	}
}

// Trained, DoRA's ΔW is full rank in general (the magnitude rescales whole rows of W):
// the rank report must see more than r.
func TestTrainedDeltaExceedsRankR(t *testing.T) {
	m := testmodel.Tiny(t, 2)
	d, _ := New(Config{R: 2, Alpha: 4})
	if err := d.Apply(m); err != nil {
		t.Fatal(err)
	}
	testmodel.Train(t, m, d, 3)
	per, _, err := methods.Ranks(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(per) != 12 {
		t.Fatalf("%d ranks, want 12", len(per))
	}
	for _, r := range per {
		if r.Rank <= 2 {
			t.Errorf("%s: rank(ΔW) = %d, want > r = 2 (m rescales every row)", r.Name, r.Rank)
		}
	}
}

func TestCounts(t *testing.T) {
	m := testmodel.Tiny(t, 3)
	d, _ := New(Config{R: 8, Alpha: 16})
	_ = d.Apply(m)
	// tiny (hidden 64, FFN 128, 2 layers): LoRA's 2·(4·8·128 + 2·8·192) plus the
	// magnitudes 2·(4·64 + 128 + 64).
	want := int64(2*(4*8*128+2*8*192) + 2*(4*64+128+64))
	if c := methods.Count(d, m); c.Adapter != want {
		t.Errorf("tiny: %d adapter parameters, want %d", c.Adapter, want)
	}
	if got := d.CountAdapter(models.ShapeOf(m)); got != want {
		t.Errorf("tiny: CountAdapter = %d, want %d", got, want)
	}
	// base shapes, r = 8: 12 × (4 × 8·1536 + 2 × 8·3840) = 1,327,104 for LoRA, plus
	// 12 × (4·768 + 3072 + 768) = 82,944 magnitudes: 1,410,048 (BERT-base and
	// DeBERTaV3-base have the same encoder linears).
	if got := d.CountAdapter(bert.ShapeOf(bert.BaseShape(), bert.Classification)); got != 1410048 {
		t.Errorf("bert-base: %d, want 1,410,048", got)
	}
	if got := d.CountAdapter(deberta.ShapeOf(deberta.BaseShape(), deberta.Classification)); got != 1410048 {
		t.Errorf("deberta-v3-base: %d, want 1,410,048", got)
	}
	q, _ := New(Config{R: 4, Alpha: 8, Targets: []models.LayerType{models.Query, models.Value}})
	// query+value only, r = 4: 24 layers × (4·1536 + 768)
	if got := q.CountAdapter(bert.ShapeOf(bert.BaseShape(), bert.Classification)); got != 24*(4*1536+768) {
		t.Errorf("bert-base q+v r=4: %d, want %d", got, 24*(4*1536+768))
	}
}

func TestFactory(t *testing.T) {
	o := methods.NewOptions("dora", map[string]string{"r": "4", "alpha": "8", "dropout": "0.1", "targets": "query+value", "seed": "7"})
	meth, err := Factory(o)
	if err != nil || o.Err() != nil {
		t.Fatal(err, o.Err())
	}
	if got := meth.Describe(); got != "dora(r=4, alpha=8, dropout=0.1, targets=query+value)" {
		t.Errorf("Describe = %q", got)
	}
	def, _ := Factory(methods.NewOptions("dora", nil))
	if got := def.Describe(); got != "dora(r=8, alpha=16, dropout=0.05, targets=all)" {
		t.Errorf("defaults: Describe = %q", got)
	}
	bad := methods.NewOptions("dora", map[string]string{"rank": "4"})
	_, _ = Factory(bad)
	if err := bad.Err(); err == nil || !strings.Contains(err.Error(), "dora has no option rank") {
		t.Errorf("unknown option: %v", err)
	}
}

func TestRefusals(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{R: 0, Alpha: 1}, "dora: r = 0, want > 0"},
		{Config{R: 2, Alpha: 1, Dropout: 1}, "dora: dropout = 1, want in [0, 1)"},
		{Config{R: 2, Alpha: 1, Dropout: -0.1}, "dora: dropout = -0.1, want in [0, 1)"},
	} {
		if _, err := New(c.cfg); err == nil || err.Error() != c.want {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}

	d, _ := New(DefaultConfig())
	m := testmodel.Tiny(t, 4)
	if err := d.Apply(m); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(m); err == nil || err.Error() != "dora: Apply called twice" {
		t.Errorf("second Apply: %v", err)
	}

	// A weight row of zeros has no direction.
	m = testmodel.Tiny(t, 5)
	l := m.Linears()[2]
	models.NoGrad(func() {
		row := l.Weight.MustNarrow(0, 1, 1, false)
		row.MustZero_()
	})
	d, _ = New(DefaultConfig())
	err := d.Apply(m)
	if err == nil || !strings.Contains(err.Error(), "dora: "+l.Name+" has a weight row of norm 0") {
		t.Errorf("zero row: %v", err)
	}
	for _, l := range m.Linears() {
		if l.Adapter != nil {
			t.Fatalf("a refused Apply left %s adapted", l.Name)
		}
	}
}
