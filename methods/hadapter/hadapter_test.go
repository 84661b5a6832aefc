package hadapter

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/train"
)

const fixtures = "../../models/testdata/bert"

// The adapters package (scripts/fixtures/gen_hadapter.py) at a non-trivial state: the
// forward, and one AdamW step of adapter and head, on the tiny BERT.
func TestMatchesAdaptersPackage(t *testing.T) {
	want, err := safetensors.Load("testdata/adapters.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	pfeiffer := HoulsbyConfig()
	pfeiffer.Method, pfeiffer.NonLinearity, pfeiffer.Targets = "padapter", "relu", []models.LayerType{models.FFNDown}
	for _, tt := range []struct {
		fixture string
		cfg     Config
		layers  int
	}{
		{"houlsby", HoulsbyConfig(), 4},
		{"pfeiffer_lnafter", pfeiffer, 2}, // what package padapter builds
	} {
		t.Run(tt.fixture, func(t *testing.T) {
			tt.cfg.ReductionFactor = 8 // hidden 32 → bottleneck 4
			checkCase(t, want, tt.fixture, tt.cfg, tt.layers)
		})
	}
}

func checkCase(t *testing.T, want map[string]*ts.Tensor, c string, cfg Config, layers int) {
	m, _, err := bert.Load(fixtures, bert.Classification, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	io, err := safetensors.Load(filepath.Join(fixtures, "inputs_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(m); err != nil {
		t.Fatal(err)
	}
	adapter, head := a.Trainable()
	if len(adapter) != 4*layers {
		t.Fatalf("%d adapter tensors, want %d", len(adapter), 4*layers)
	}
	models.NoGrad(func() {
		for _, p := range adapter {
			w, ok := want[c+"/"+strings.Replace(p.Name, ".adapter.", ".", 1)]
			if !ok {
				t.Fatalf("fixture has no %s", p.Name)
			}
			p.T.Copy_(w)
		}
	})
	b := models.Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], TokenTypeIDs: io["token_type_ids"]}
	m.SetTraining(false)
	models.NoGrad(func() {
		if e := testmodel.RelErr(m.Forward(b), want[c+"/logits0"]); e > 1e-5 {
			t.Errorf("logits at the start state: relative error %g against the adapters package", e)
		} else {
			t.Logf("logits at the start state: relative error %.3g", e)
		}
	})

	var decay, noDecay []train.Param
	for _, p := range append(adapter, head...) {
		if p.NoDecay {
			noDecay = append(noDecay, p)
		} else {
			decay = append(decay, p)
		}
	}
	opt := train.NewAdamW([]train.Group{
		{Name: "decay", Params: decay, LR: 1e-2, WeightDecay: 0.1},
		{Name: "no_decay", Params: noDecay, LR: 1e-2},
	}, 0.9, 0.999, 1e-8)
	loss := m.Forward(b).CrossEntropyForLogits(want["labels"])
	loss.MustBackward()
	opt.Step(1)
	for _, p := range append(adapter, head...) {
		key := c + "/" + strings.Replace(p.Name, ".adapter.", ".", 1) + ".step1"
		if p.Name == "classifier.weight" || p.Name == "classifier.bias" {
			key = c + "/" + p.Name + ".step1"
		}
		w, ok := want[key]
		if !ok {
			t.Fatalf("fixture has no %s", key)
		}
		if e := testmodel.RelErr(p.T, w); e > 1e-4 {
			t.Errorf("%s after one AdamW step: relative error %g", p.Name, e)
		}
	}
	models.NoGrad(func() {
		if e := testmodel.RelErr(m.Forward(b), want[c+"/logits1"]); e > 1e-4 {
			t.Errorf("logits after one step: relative error %g against the adapters package", e)
		} else {
			t.Logf("logits after one step: relative error %.3g", e)
		}
	})
}

// Counts from the shape alone, by hand: an adapter on a 768-wide output at reduction 16
// has 768·48 + 48 (down) + 48·768 + 768 (up) = 74 544 parameters; Houlsby puts two in
// each of 12 layers. DeBERTaV3-base has BERT-base's widths.
func TestCountAdapterBaseShapes(t *testing.T) {
	per := int64(768*48 + 48 + 48*768 + 768)
	for _, tt := range []struct {
		name  string
		shape models.Shape
	}{
		{"bert-base", bert.ShapeOf(bert.BaseShape(), bert.Classification)},
		{"deberta-v3-base", deberta.ShapeOf(deberta.BaseShape(), deberta.Classification)},
	} {
		a, _ := New(HoulsbyConfig())
		if got, want := a.CountAdapter(tt.shape), 24*per; got != want {
			t.Errorf("%s: CountAdapter %d, want %d", tt.name, got, want)
		}
		t.Logf("%s: houlsby %d = %.3f%% of %d base parameters", tt.name, a.CountAdapter(tt.shape),
			100*float64(a.CountAdapter(tt.shape))/float64(tt.shape.BaseParams), tt.shape.BaseParams)
	}
}

// CountAdapter agrees with what Apply creates, and the bottleneck is ⌊out/rf⌋, at least 1.
func TestCountMatchesApply(t *testing.T) {
	for _, rf := range []float64{16, 5, 3.5, 1000} {
		m := testmodel.Tiny(t, 1) // hidden 64
		cfg := HoulsbyConfig()
		cfg.ReductionFactor = rf
		a, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		shape := models.ShapeOf(m)
		if err := a.Apply(m); err != nil {
			t.Fatal(err)
		}
		if got, want := methods.Count(a, m).Adapter, a.CountAdapter(shape); got != want {
			t.Errorf("rf %g: Apply made %d parameters, CountAdapter says %d", rf, got, want)
		}
		wantBn := map[float64]int64{16: 4, 5: 12, 3.5: 18, 1000: 1}[rf]
		if got := a.Layers()[0].DownW.MustSize()[0]; got != wantBn {
			t.Errorf("rf %g: bottleneck %d, want %d", rf, got, wantBn)
		}
	}
}

// The "bert" init: weights N(0, 0.02²), biases zero, so the model starts close to, not
// exactly at, the base model; an adapter has no ΔW, and the rank report is empty.
func TestInitAndNoDeltas(t *testing.T) {
	m := testmodel.Tiny(t, 1)
	base := testmodel.Hidden(m)
	a, _ := New(HoulsbyConfig())
	if err := a.Apply(m); err != nil {
		t.Fatal(err)
	}
	ly := a.Layers()[0]
	for _, b := range []*ts.Tensor{ly.DownB, ly.UpB} {
		if v := b.MustAbs(false).MustMax(true).Float64Values()[0]; v != 0 {
			t.Errorf("bias max |b| = %g, want 0", v)
		}
	}
	if std := ly.DownW.MustStd(true, false).Float64Values()[0]; std < 0.018 || std > 0.022 {
		t.Errorf("down weight std %g, want ≈ 0.02", std)
	}
	e := testmodel.RelErr(testmodel.Hidden(m), base)
	if e == 0 || e > 1e-2 {
		t.Errorf("relative change of the hidden states at init %g, want small but not zero", e)
	}
	per, summary, err := methods.Ranks(a)
	if err != nil || len(per) != 0 || len(summary) != 0 {
		t.Errorf("Ranks = %v, %v, %v; want nothing", per, summary, err)
	}
}

func TestOptionsAndGuards(t *testing.T) {
	for _, tt := range []struct {
		kv   map[string]string
		want string
	}{
		{map[string]string{"reduction_factor": "0"}, "hadapter: reduction_factor = 0, want a finite number > 0"},
		{map[string]string{"reduction_factor": "-2"}, "hadapter: reduction_factor = -2, want a finite number > 0"},
		{map[string]string{"reduction_factor": "NaN"}, "hadapter: reduction_factor = NaN, want a finite number > 0"},
		{map[string]string{"reduction_factor": "x"}, `hadapter option reduction_factor="x": want a number`},
		{map[string]string{"non_linearity": "softmax"}, `hadapter: non_linearity = "softmax", want one of swish, silu, relu, gelu, gelu_new, tanh`},
		{map[string]string{"targets": "query"}, "hadapter has no option targets (it has non_linearity, reduction_factor, seed)"},
	} {
		_, err := Factory(methods.NewOptions("hadapter", tt.kv))
		if err == nil || err.Error() != tt.want {
			t.Errorf("%v: error %v, want %q", tt.kv, err, tt.want)
		}
	}
	a, err := Factory(methods.NewOptions("hadapter", map[string]string{"reduction_factor": "8", "non_linearity": "ReLU", "seed": "3"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := a.Describe(), "hadapter(reduction_factor=8, non_linearity=relu, targets=attn_out+ffn_down)"; got != want {
		t.Errorf("Describe %q, want %q", got, want)
	}
	m := testmodel.Tiny(t, 1)
	if err := a.Apply(m); err != nil {
		t.Fatal(err)
	}
	if err := a.Apply(m); err == nil || err.Error() != "hadapter: Apply called twice" {
		t.Errorf("second Apply: %v", err)
	}
}
