package adalora

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
)

func tinyAdaLoRA(t *testing.T, cfg Config) (*AdaLoRA, *bert.Model) {
	t.Helper()
	m := testmodel.Tiny(t, 3)
	ad, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := ad.Apply(m); err != nil {
		t.Fatal(err)
	}
	return ad, m
}

// Counts: P, Λ, Q at init_r, r·(in + out + 1) per matrix, from the shape alone.
func TestCounts(t *testing.T) {
	ad, m := tinyAdaLoRA(t, fixtureConfig()) // init_r 4
	// tiny (hidden 64, FFN 128, 2 layers): 2 × (4 attention × 4·129 + 2 FFN × 4·193)
	want := int64(2 * (4*4*129 + 2*4*193))
	if c := methods.Count(ad, m); c.Adapter != want {
		t.Errorf("tiny: %d adapter parameters trained, want %d", c.Adapter, want)
	}
	if got := ad.CountAdapter(models.ShapeOf(m)); got != want {
		t.Errorf("tiny: CountAdapter = %d, want %d", got, want)
	}
	def, _ := New(DefaultConfig()) // init_r 12, target_r 8
	// base shapes: 12 layers × (4 × 1537 + 2 × 3841) = 165,960 per unit of rank
	// (BERT-base and DeBERTaV3-base have the same encoder linears).
	for _, s := range []struct {
		name  string
		shape models.Shape
	}{
		{"bert-base", bert.ShapeOf(bert.BaseShape(), bert.Classification)},
		{"deberta-v3-base", deberta.ShapeOf(deberta.BaseShape(), deberta.Classification)},
	} {
		if got := def.CountAdapter(s.shape); got != 12*165960 {
			t.Errorf("%s: CountAdapter %d, want 1,991,520", s.name, got)
		}
		if got := def.FinalBudgetCount(s.shape); got != 8*165960 {
			t.Errorf("%s: FinalBudgetCount %d, want 1,327,680", s.name, got)
		}
		t.Logf("%s: %d trained (%.3f%% of %d), final budget %d (%.3f%%)", s.name, def.CountAdapter(s.shape),
			100*float64(def.CountAdapter(s.shape))/float64(s.shape.BaseParams), s.shape.BaseParams,
			def.FinalBudgetCount(s.shape), 100*float64(def.FinalBudgetCount(s.shape))/float64(s.shape.BaseParams))
	}
}

// ΔW = P·diag(λ)·Q·α/(init_r + 1e-5) on a hand-set layer: Q = e₀ᵀ, 2e₁ᵀ; λ = 3, 5;
// P = e₀, e₂ gives ΔW[0,0] = 3·s, ΔW[2,1] = 10·s, zero elsewhere; s = 8/4.00001.
func TestDeltasByHand(t *testing.T) {
	ad, _ := tinyAdaLoRA(t, fixtureConfig())
	ly := ad.layers[0]
	in, out := ly.linear.In(), ly.linear.Out()
	a := make([]float32, 4*in)
	a[0], a[in+1] = 1, 2
	b := make([]float32, out*4)
	b[0], b[2*4+1] = 1, 1
	models.NoGrad(func() {
		ly.A.Copy_(ts.MustOfSlice(a).MustView([]int64{4, in}, true))
		ly.B.Copy_(ts.MustOfSlice(b).MustView([]int64{out, 4}, true))
		ly.E.Copy_(ts.MustOfSlice([]float32{3, 5, 0, 0}).MustView([]int64{4, 1}, true))
	})
	ds, err := ad.Deltas()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(ad.layers) || ds[0].Name != ly.linear.Name {
		t.Fatalf("%d deltas, first %q", len(ds), ds[0].Name)
	}
	s := 8 / 4.00001
	got := ds[0].W.Float64Values()
	for i, v := range got {
		want := 0.0
		switch i {
		case 0:
			want = 3 * s
		case 2*int(in) + 1:
			want = 10 * s
		}
		if math.Abs(v-want) > 1e-6 {
			t.Fatalf("ΔW entry %d = %g, want %g", i, v, want)
		}
	}
	// The other layers start at λ = 0: ΔW = 0 (PEFT's init leaves the model unchanged).
	if n := ds[1].W.MustAbs(false).MustSum(ds[1].W.DType(), true).Float64Values()[0]; n != 0 {
		t.Errorf("ΔW of an untouched layer has |·|₁ = %g, want 0", n)
	}
}

// The budget schedule by hand: init 48, target 24 (12 matrices, r 4 → 2), tinit 2,
// tfinal 4, total 12: b(gs) = ⌊24·(1 − (gs−2)/6)³ + 24⌋, masks every deltaT = 2.
func TestBudgetSchedule(t *testing.T) {
	ad, _ := tinyAdaLoRA(t, fixtureConfig())
	for _, c := range []struct {
		gs, budget int
		mask       bool
	}{{0, 48, false}, {2, 48, false}, {3, 37, false}, {4, 31, true}, {5, 27, false}, {6, 24, true}, {8, 24, true}, {11, 24, true}} {
		b, m := ad.alloc.budget(c.gs)
		if b != c.budget || m != c.mask {
			t.Errorf("global step %d: budget %d, mask %v; want %d, %v", c.gs, b, m, c.budget, c.mask)
		}
	}
}

// The EMA state and the allocation survive SaveState → LoadState into a fresh method.
func TestStateRoundTrip(t *testing.T) {
	ad, m, _, batches := setup(t)
	task := &ceTask{m: m}
	// Gradients from one batch, then the allocator of steps 1..5 (global step 4 allocates).
	for step := 1; step <= 5; step++ {
		loss, _ := task.Loss(batches[0])
		if err := loss.Backward(); err != nil {
			t.Fatal(err)
		}
		loss.MustDrop()
		if err := ad.afterStep(step); err != nil {
			t.Fatal(err)
		}
	}
	if ad.alloc.pattern == nil {
		t.Fatal("no allocation after global step 4")
	}
	tensors, meta, err := ad.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, _, _ := setup(t)
	if err := fresh.LoadState(tensors, meta); err != nil {
		t.Fatal(err)
	}
	for i := range ad.layers {
		for j := range 3 {
			if !ad.alloc.ipt[i][j].MustEqual(fresh.alloc.ipt[i][j], false) || !ad.alloc.unc[i][j].MustEqual(fresh.alloc.unc[i][j], false) {
				t.Fatalf("layer %d %s: EMA state differs after the round trip", i, paramNames[j])
			}
		}
		if !slices.Equal(ad.alloc.pattern[i], fresh.alloc.pattern[i]) {
			t.Fatalf("layer %d: pattern %v after the round trip, want %v", i, fresh.alloc.pattern[i], ad.alloc.pattern[i])
		}
	}
	if n := ad.alloc.ipt[0][0].MustAbs(false).MustSum(ad.alloc.ipt[0][0].DType(), true).Float64Values()[0]; n == 0 {
		t.Error("the EMA state is all zero: the round trip checks nothing")
	}
	// Bad checkpoints are refused with the key at fault.
	name := ad.layers[0].linear.Name
	missing := map[string]*ts.Tensor{}
	for k, v := range tensors {
		missing[k] = v
	}
	delete(missing, uncPrefix+name+".lora_E")
	wrong := map[string]*ts.Tensor{}
	for k, v := range tensors {
		wrong[k] = v
	}
	wrong[iptPrefix+name+".lora_A"] = ts.MustZeros([]int64{2, 2}, ad.layers[0].A.DType(), ad.layers[0].A.MustDevice())
	var st state
	_ = json.Unmarshal(meta, &st)
	st.Pattern[name] = []bool{true}
	short, _ := json.Marshal(st)
	for _, c := range []struct {
		name    string
		tensors map[string]*ts.Tensor
		meta    json.RawMessage
		want    string
	}{
		{"missing tensor", missing, meta, `checkpoint has no tensor "adalora.exp_avg_unc/` + name + `.lora_E"`},
		{"wrong shape", wrong, meta, `checkpoint tensor "adalora.exp_avg_ipt/` + name + `.lora_A" has shape [2 2], want [4 32]`},
		{"short pattern", tensors, short, "rank_pattern for " + name + " has 1 entries, want init_r = 4"},
		{"bad json", tensors, json.RawMessage("{"), "checkpoint's AdaLoRA state"},
	} {
		f, _, _, _ := setup(t)
		if err := f.LoadState(c.tensors, c.meta); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", c.name, err, c.want)
		}
	}
}

// Bad settings are refused up front with the option's PEFT name.
func TestConfigGuards(t *testing.T) {
	ok := fixtureConfig()
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.InitR = 0 }, "init_r = 0, want > 0"},
		{func(c *Config) { c.TargetR = 4 }, "target_r = 4, want in [0, init_r = 4)"},
		{func(c *Config) { c.Tinit = -1 }, "tinit = -1, tfinal = 4, want ≥ 0"},
		{func(c *Config) { c.DeltaT = 0 }, "deltaT = 0, want > 0"},
		{func(c *Config) { c.Beta2 = 1 }, "beta1 = 0.85, beta2 = 1, want both in (0, 1)"},
		{func(c *Config) { c.OrthRegWeight = 0 }, "orth_reg_weight = 0, want > 0"},
		{func(c *Config) { c.Dropout = 1 }, "lora_dropout = 1, want in [0, 1)"},
		{func(c *Config) { c.TotalStep = -3 }, "total_step = -3, want > 0"},
		{func(c *Config) { c.Tinit, c.Tfinal = 5, 7 }, "tinit = 5, tfinal = 7, total_step = 12 leave no steps to reduce the budget"},
	} {
		cfg := ok
		c.edit(&cfg)
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want an error containing %q", err, c.want)
		}
	}
}

// Misuse at run time is an error, not a panic: no total_step, no gradients, no targets.
func TestRunGuards(t *testing.T) {
	cfg := fixtureConfig()
	cfg.TotalStep = 0
	ad, _ := tinyAdaLoRA(t, cfg)
	if err := ad.afterStep(1); err == nil || !strings.Contains(err.Error(), "total_step is not set: give the option total_step=") {
		t.Errorf("hook without total_step: %v", err)
	}
	if err := ad.SetTotalStep(6); err == nil || !strings.Contains(err.Error(), "tinit = 2, tfinal = 4, total_step = 6 leave no steps") {
		t.Errorf("SetTotalStep(6): %v", err)
	}
	if err := ad.SetTotalStep(12); err != nil {
		t.Fatal(err)
	}
	if err := ad.afterStep(1); err == nil || !strings.Contains(err.Error(), "lora_A has no gradient after the step") {
		t.Errorf("hook without gradients: %v", err)
	}
	none, _ := New(Config{InitR: 2, TargetR: 1, DeltaT: 1, Beta1: 0.5, Beta2: 0.5, OrthRegWeight: 1, Targets: []models.LayerType{"bogus"}})
	if err := none.Apply(testmodel.Tiny(t, 1)); err == nil || !strings.Contains(err.Error(), "the model has no linear layer of types [bogus]") {
		t.Errorf("Apply without targets: %v", err)
	}
	if _, err := none.Regularization(); err == nil || !strings.Contains(err.Error(), "Regularization before Apply") {
		t.Errorf("Regularization before Apply: %v", err)
	}
	if _, _, err := none.SaveState(); err == nil || !strings.Contains(err.Error(), "SaveState before Apply") {
		t.Errorf("SaveState before Apply: %v", err)
	}
}

func TestFactory(t *testing.T) {
	o := methods.NewOptions("adalora", map[string]string{"init_r": "6", "target_r": "3", "tinit": "10", "tfinal": "20",
		"deltaT": "5", "beta1": "0.8", "beta2": "0.9", "orth_reg_weight": "0.1", "lora_alpha": "16", "lora_dropout": "0.1",
		"total_step": "100", "targets": "query+value", "seed": "7"})
	meth, err := Factory(o)
	if err != nil {
		t.Fatal(err)
	}
	got := meth.(*AdaLoRA).cfg
	want := Config{InitR: 6, TargetR: 3, Tinit: 10, Tfinal: 20, DeltaT: 5, TotalStep: 100, Beta1: 0.8, Beta2: 0.9,
		OrthRegWeight: 0.1, Alpha: 16, Dropout: 0.1, Targets: []models.LayerType{models.Query, models.Value}, Seed: 7}
	if got.InitR != want.InitR || got.TargetR != want.TargetR || got.Tinit != want.Tinit || got.Tfinal != want.Tfinal ||
		got.DeltaT != want.DeltaT || got.TotalStep != want.TotalStep || got.Beta1 != want.Beta1 || got.Beta2 != want.Beta2 ||
		got.OrthRegWeight != want.OrthRegWeight || got.Alpha != want.Alpha || got.Dropout != want.Dropout ||
		!slices.Equal(got.Targets, want.Targets) || got.Seed != want.Seed {
		t.Errorf("config %+v, want %+v", got, want)
	}
	if d := meth.Describe(); d != "adalora(r 6→3, alpha=16, dropout=0.1, tinit=10, tfinal=20, deltaT=5, total_step=100, orth_reg=0.1, targets=query+value)" {
		t.Errorf("Describe: %s", d)
	}
	if _, err := Factory(methods.NewOptions("adalora", map[string]string{"r": "4"})); err == nil || !strings.Contains(err.Error(), "adalora has no option r") {
		t.Errorf("unknown option: %v", err)
	}
	d, err := Factory(methods.NewOptions("adalora", nil))
	if err != nil {
		t.Fatal(err)
	}
	if s := d.Settings(); s["init_r"] != 12 || s["target_r"] != 8 || s["lora_alpha"] != 8.0 || s["beta1"] != 0.85 || s["orth_reg_weight"] != 0.5 || s["deltaT"] != 1 {
		t.Errorf("defaults %v, want AdaLoraConfig's", s)
	}
}
