package vit

// The methods' own tests, run on the ViT instead of the BERT encoder: VectorFit, LoRA
// and full fine-tuning reach the ViT only through models.Model (Params, Linears,
// SetTraining), so they pass here without a line of methods/ changed.

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/linalg"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/fullft"
	"github.com/vectorfit/harness/methods/lora"
	"github.com/vectorfit/harness/methods/vectorfit"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// tiny returns the built-in tiny ViT with a 3-way head, in eval mode.
func tiny(t testing.TB, seed uint64) *Model {
	t.Helper()
	c := Tiny()
	c.NumLabels = 3
	m, err := New(c, seed)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	return m
}

// pixels is a fixed batch of two 32×32 images (normal noise, as normalised pixels are).
func pixels() *ts.Tensor { return models.Normal(models.NewRNG(7, 0), 1, 2, 3, 32, 32) }

// trainOn runs testmodel.TrainSteps on the model's logits on pixels.
func trainOn(t testing.TB, m *Model, meth testmodel.Trainer, steps int) {
	t.Helper()
	px := pixels()
	defer px.MustDrop()
	testmodel.TrainSteps(t, func() *ts.Tensor { return m.Forward(px) }, meth, steps)
}

// hidden is the model's last hidden state on pixels, detached.
func hidden(m *Model) *ts.Tensor {
	var h *ts.Tensor
	models.NoGrad(func() { h = m.Encode(pixels()) })
	return h
}

func applyVectorFit(t *testing.T, m models.Model, cfg vectorfit.Config) *vectorfit.VectorFit {
	t.Helper()
	vf, err := vectorfit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := vf.Apply(m); err != nil {
		t.Fatal(err)
	}
	return vf
}

// At step 0 the adapted model computes what the pre-trained model computes.
func TestMethodsInitialisationReproducesBaseModel(t *testing.T) {
	for _, fwd := range []string{vectorfit.Rebuild, vectorfit.Factored, vectorfit.Auto} {
		m := tiny(t, 1)
		want := hidden(m)
		cfg := vectorfit.DefaultConfig()
		cfg.Forward = fwd
		applyVectorFit(t, m, cfg)
		if e := testmodel.RelErr(hidden(m), want); e > 1e-5 {
			t.Errorf("vectorfit (%s): relative error %g after Apply, want ≤ 1e-5", fwd, e)
		}
	}
	m := tiny(t, 1)
	want := hidden(m)
	lo, _ := lora.New(lora.DefaultConfig())
	if err := lo.Apply(m); err != nil {
		t.Fatal(err)
	}
	if e := testmodel.RelErr(hidden(m), want); e > 1e-5 {
		t.Errorf("lora: relative error %g after Apply, want ≤ 1e-5", e)
	}
	// A ViT without query/key/value biases: VectorFit trains only s there.
	c := Tiny()
	c.QKVBias = false
	nb, err := New(c, 2)
	if err != nil {
		t.Fatal(err)
	}
	want = hidden(nb)
	applyVectorFit(t, nb, vectorfit.DefaultConfig())
	if e := testmodel.RelErr(hidden(nb), want); e > 1e-5 {
		t.Errorf("vectorfit without qkv bias: relative error %g", e)
	}
}

// A PEFT LoRA adapter with non-zero A and B, loaded into our LoRA on the ViT fixture,
// gives peft's logits; merged, too.
func TestLoRAMatchesPEFT(t *testing.T) {
	m, io := loadFixture(t)
	m.SetTraining(false)
	lo, err := lora.New(lora.Config{R: 4, Alpha: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := lo.Apply(m); err != nil {
		t.Fatal(err)
	}
	if err := lo.LoadPEFT(filepath.Join(fixtures, "lora")); err != nil {
		t.Fatal(err)
	}
	want, err := safetensors.Load(filepath.Join(fixtures, "lora_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	px := io["pixel_values"]
	models.NoGrad(func() {
		if e := testmodel.RelErr(m.Forward(px), want["logits"]); e > 1e-5 {
			t.Errorf("logits: relative error %g against peft", e)
		}
		if e := testmodel.RelErr(m.Forward(px), io["logits"]); e < 1e-2 {
			t.Errorf("LoRA logits equal the base model's (%g): the adapter did nothing", e)
		}
		lo.Merge()
		if e := testmodel.RelErr(m.Forward(px), want["logits"]); e > 1e-5 {
			t.Errorf("merged logits: relative error %g against peft", e)
		}
	})
}

// After training, every VectorFit ΔW's rank is the number of its singular values that
// moved (ΔW = U diag(Δs) Vᵀ): full rank, unlike LoRA's.
func TestVectorFitRankEqualsMovedSingularValues(t *testing.T) {
	m := tiny(t, 3)
	cfg := vectorfit.DefaultConfig()
	cfg.AVF.Mode = vectorfit.AVFNone
	vf := applyVectorFit(t, m, cfg)
	trainOn(t, m, vf, 5)
	per, _, err := methods.Ranks(vf)
	if err != nil {
		t.Fatal(err)
	}
	for i, ly := range vf.Layers() {
		d := ly.SingularValues().MustSub(ly.InitialSingularValues(), false).Float64Values()
		biggest := 0.0
		for _, x := range d {
			biggest = max(biggest, math.Abs(x))
		}
		tol := biggest * float64(max(per[i].Out, per[i].In)) * linalg.Float32Eps
		moved := 0
		for _, x := range d {
			if math.Abs(x) > tol {
				moved++
			}
		}
		if per[i].Rank != moved {
			t.Errorf("%s: rank(ΔW) = %d, %d singular values moved", per[i].Name, per[i].Rank, moved)
		}
		if per[i].Rank < int(per[i].FullRank)-1 {
			t.Errorf("%s: rank %d of %d after training every singular value", per[i].Name, per[i].Rank, per[i].FullRank)
		}
	}
}

// LoRA's ΔW = (α/r)·B·A has rank ≤ r, and reaches it after training.
func TestLoRARankAtMostR(t *testing.T) {
	m := tiny(t, 2)
	lo, _ := lora.New(lora.Config{R: 3, Alpha: 6})
	if err := lo.Apply(m); err != nil {
		t.Fatal(err)
	}
	trainOn(t, m, lo, 5)
	per, _, err := methods.Ranks(lo)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range per {
		if r.Rank > 3 || r.Rank == 0 {
			t.Errorf("%s: rank(ΔW) = %d, want 1..3", r.Name, r.Rank)
		}
	}
}

// Full fine-tuning's ΔW is full rank after training, and it trains every parameter.
func TestFullFTFullRankAndCounts(t *testing.T) {
	m := tiny(t, 1)
	f := fullft.New()
	if err := f.Apply(m); err != nil {
		t.Fatal(err)
	}
	before := map[string][]float64{}
	for _, p := range m.Params() {
		before[p.Name] = p.T.Float64Values()
	}
	trainOn(t, m, f, 10)
	// Gradients reach every parameter: through the patch convolution, the [CLS]
	// concatenation, the position embeddings, every LayerNorm.
	for _, p := range m.Params() {
		if slices.Equal(p.T.Float64Values(), before[p.Name]) {
			t.Errorf("%s did not move in 10 steps of full fine-tuning", p.Name)
		}
	}
	per, _, err := methods.Ranks(f)
	if err != nil {
		t.Fatal(err)
	}
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
}

// Trainable counts equal closed forms, on the tiny ViT (built) and on vit-base
// (counted from its configuration alone).
func TestTrainableCounts(t *testing.T) {
	m := tiny(t, 5)
	vf := applyVectorFit(t, m, vectorfit.DefaultConfig())
	// Per tiny layer (hidden 64, FFN 128): q, k, v, o: 64 s + 64 b; FFN up: 64 s + 128 b;
	// FFN down: 64 s + 64 b. Two layers. Head: 3×64 + 3.
	wantAdapter := int64(2 * (4*(64+64) + (64 + 128) + (64 + 64)))
	if c := methods.Count(vf, m); c.Adapter != wantAdapter || c.Head != 3*64+3 {
		t.Errorf("tiny vectorfit: adapter %d head %d, want %d and %d", c.Adapter, c.Head, wantAdapter, 3*64+3)
	}
	base := ShapeOf(BaseShape())
	vfBase, _ := vectorfit.New(vectorfit.DefaultConfig())
	lo, _ := lora.New(lora.Config{R: 8, Alpha: 16})
	for _, tt := range []struct {
		name      string
		got, want int64
	}{
		// 12 × (4·(768+768) + (768+3072) + (768+768)): the same block shapes as bert-base
		{"vectorfit", vfBase.CountAdapter(base), 138240},
		// 12 × (4 × 8·1536 + 2 × 8·3840)
		{"lora r=8", lo.CountAdapter(base), 1327104},
		{"fullft", fullft.New().CountAdapter(base), 85798656},
	} {
		if tt.got != tt.want {
			t.Errorf("vit-base %s: %d adapter parameters, want %d", tt.name, tt.got, tt.want)
		}
	}
}

// VectorFit's two forward strategies compute the same outputs and gradients on the ViT.
func TestVectorFitForwardStrategiesAgree(t *testing.T) {
	outs := map[string]*ts.Tensor{}
	grads := map[string][]float64{}
	for _, fwd := range []string{vectorfit.Rebuild, vectorfit.Factored} {
		m := tiny(t, 4)
		cfg := vectorfit.DefaultConfig()
		cfg.Forward = fwd
		vf := applyVectorFit(t, m, cfg)
		out := m.Forward(pixels())
		out.MustSum(out.DType(), false).MustBackward()
		outs[fwd] = out.MustDetach(true)
		grads[fwd] = vf.Layers()[0].SingularValues().MustGrad(false).Float64Values()
	}
	if e := testmodel.RelErr(outs[vectorfit.Factored], outs[vectorfit.Rebuild]); e > 1e-5 {
		t.Errorf("outputs differ by %g", e)
	}
	g1, g2 := grads[vectorfit.Rebuild], grads[vectorfit.Factored]
	for i := range g1 {
		if math.Abs(g1[i]-g2[i]) > 1e-4*(1+math.Abs(g1[i])) {
			t.Fatalf("ds[%d]: rebuild %g, factored %g", i, g1[i], g2[i])
		}
	}
}
