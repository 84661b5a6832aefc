package vit

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

const fixtures = "../testdata/vit"

func loadFixture(t *testing.T) (*Model, map[string]*ts.Tensor) {
	t.Helper()
	m, rep, err := Load(fixtures, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NewlyInitialised)+len(rep.Replaced)+len(rep.Ignored) != 0 {
		t.Fatalf("the fixture is a complete ViTForImageClassification, yet the report says %+v", rep)
	}
	return m, compare.LoadIO(t, fixtures)
}

// The forward pass equals transformers' ViTForImageClassification (eval mode) on the
// same weights, at the pre-training size (16×16) and, with InterpolatePos, at a larger,
// non-square size (24×20, position embeddings interpolated as interpolate_pos_encoding
// does), every layer's hidden state included; see scripts/fixtures/gen_vit.py.
func TestForwardMatchesTransformers(t *testing.T) {
	m, io := loadFixture(t)
	m.SetTraining(false)
	for _, tc := range []struct {
		suffix      string
		interpolate bool
	}{{"", false}, {"_interp", true}} {
		m.InterpolatePos = tc.interpolate
		px := io["pixel_values"+tc.suffix]
		models.NoGrad(func() {
			compare.HiddenStates(t, m.HiddenStates(px), io, tc.suffix, 1e-4)
			compare.Close(t, "last_hidden_state"+tc.suffix, m.Encode(px), io["last_hidden_state"+tc.suffix], 1e-4)
			compare.Close(t, "logits"+tc.suffix, m.Forward(px), io["logits"+tc.suffix], 1e-4)
		})
	}
}

// Without InterpolatePos an image of another size than config.json's image_size is an
// error naming both sizes and the option, as transformers raises one without
// interpolate_pos_encoding; at the pre-training size the option changes nothing.
func TestOtherImageSizeNeedsInterpolation(t *testing.T) {
	m, io := loadFixture(t)
	m.SetTraining(false)
	px := io["pixel_values_interp"] // 24×20, the model's image_size is 16
	err := m.CheckInput(px.MustSize())
	for _, want := range []string{"image 24×20", "16×16", "image_size 16", "-interpolate-pos", "interpolate_pos_encoding"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckInput(%v) = %v, want an error saying %q", px.MustSize(), err, want)
		}
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "interpolate_pos_encoding") {
				t.Errorf("Forward on a 24×20 image without InterpolatePos: panic %v, want the size error", r)
			}
		}()
		m.Forward(px)
	}()
	m.InterpolatePos = true
	models.NoGrad(func() {
		compare.Close(t, "logits with InterpolatePos at 16×16", m.Forward(io["pixel_values"]), io["logits"], 1e-4)
	})
}

// Training mode turns dropout on: outputs change, so SetTraining really switches it.
func TestDropoutOnlyInTraining(t *testing.T) {
	m, io := loadFixture(t)
	m.SetTraining(true)
	if d := compare.MaxAbsDiff(t, "logits", m.Forward(io["pixel_values"]), io["logits"]); d < 1e-3 {
		t.Errorf("training-mode logits equal eval-mode logits (diff %g): dropout is off", d)
	}
}

func TestCheckInput(t *testing.T) {
	m, err := New(Tiny(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		shape []int64
		want  string
	}{
		{[]int64{2, 3, 32, 32}, ""},
		{[]int64{2, 3, 48, 40}, "image 48×40, but the model's position embeddings are for 32×32"},
		{[]int64{2, 3, 36, 36}, "image 36×36"},
		{[]int64{2, 1, 32, 32}, "1 channels, the model 3"},
		{[]int64{2, 3, 2, 32}, "smaller than one 4×4 patch"},
		{[]int64{3, 32, 32}, "want batch × 3 × height × width"},
	} {
		err := m.CheckInput(tt.shape)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v", tt.shape, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%v: error %v, want one saying %q", tt.shape, err, tt.want)
		}
	}
}

func TestLoadReportsMismatches(t *testing.T) {
	ckpt, err := safetensors.Load(filepath.Join(fixtures, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(filepath.Join(fixtures, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	delete(ckpt, "vit.encoder.layer.1.output.dense.bias")
	ckpt["vit.encoder.layer.0.attention.attention.key.weight"] = ckpt["vit.encoder.layer.0.attention.attention.key.weight"].MustNarrow(0, 0, 16, false)
	ckpt["vit.encoder.extra.weight"] = ckpt["classifier.bias"]
	ckpt["vit.pooler.dense.bias"] = ckpt["classifier.bias"]
	_, _, err = FromTensors(c, ckpt, "model.safetensors", 1)
	if err == nil {
		t.Fatal("no error for a checkpoint with a missing, a mis-shaped and an unexpected tensor")
	}
	for _, want := range []string{
		"model.safetensors", "missing tensors: vit.encoder.layer.1.output.dense.bias",
		"unexpected tensors: vit.encoder.extra.weight",
		"mis-shaped tensors: vit.encoder.layer.0.attention.attention.key.weight: checkpoint [16 32], model [32 32]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "pooler") {
		t.Errorf("error %q lists the pooler, which is to be ignored", err)
	}
}

// A bare ViTModel checkpoint (no "vit." prefix, a pooler, no head) loads with a fresh
// head; a head with another label count is replaced. Both are reported.
func TestLoadBareModelAndReplacedHead(t *testing.T) {
	ckpt, err := safetensors.Load(filepath.Join(fixtures, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := LoadConfig(filepath.Join(fixtures, "config.json"))
	bare := map[string]*ts.Tensor{}
	for k, v := range ckpt {
		if strings.HasPrefix(k, "vit.") {
			bare[strings.TrimPrefix(k, "vit.")] = v
		}
	}
	bare["pooler.dense.weight"] = ckpt["vit.encoder.layer.0.attention.output.dense.weight"]
	c.NumLabels = 5
	m, rep, err := FromTensors(c, bare, "bare.safetensors", 1)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.NewlyInitialised, ",") != "classifier.weight,classifier.bias" || strings.Join(rep.Ignored, ",") != "pooler.dense.weight" {
		t.Errorf("report %+v", rep)
	}
	w, _ := m.Param("classifier.weight")
	if got := w.MustSize(); got[0] != 5 {
		t.Errorf("classifier is %v, want 5 labels", got)
	}
	// The base weights are the checkpoint's.
	got, _ := m.Param("vit.embeddings.position_embeddings")
	if d := compare.MaxAbsDiff(t, "position_embeddings", got, ckpt["vit.embeddings.position_embeddings"]); d != 0 {
		t.Errorf("position embeddings differ from the checkpoint by %g", d)
	}

	_, rep, err = FromTensors(c, ckpt, "model.safetensors", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"classifier.weight: checkpoint [3 32], model [5 32]", "classifier.bias: checkpoint [3], model [5]"}
	if !slices.Equal(rep.Replaced, want) {
		t.Errorf("Replaced = %q, want %q", rep.Replaced, want)
	}
}

func TestConfig(t *testing.T) {
	c, err := LoadConfig(filepath.Join(fixtures, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ImageSize != 16 || c.PatchSize != 4 || c.NumLabels != 3 || !c.QKVBias || c.HiddenDropoutProb != 0.1 {
		t.Errorf("fixture config read as %+v", c)
	}
	bad := Tiny()
	bad.ModelType, bad.ImageSize, bad.HiddenAct = "bert", 30, "swish"
	err = bad.Validate()
	for _, want := range []string{`model_type "bert"`, "image_size 30 is not a multiple of patch_size 4", `hidden_act "swish"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to say %q", err, want)
		}
	}
}

// Parameter counts of google/vit-base-patch16-224 as published: 86,567,656 with its
// 1000-class head, of which 85,798,656 are the base model.
func TestBaseShapeCounts(t *testing.T) {
	s := ShapeOf(BaseShape())
	if s.BaseParams != 85798656 {
		t.Errorf("vit-base base parameters %d, want 85,798,656", s.BaseParams)
	}
	total := int64(0)
	for _, p := range Specs(BaseShape()) {
		n := int64(1)
		for _, d := range p.Shape {
			n *= d
		}
		total += n
	}
	if total != 86567656 {
		t.Errorf("vit-base with head: %d parameters, want 86,567,656", total)
	}
	if len(s.Linears) != 72 || s.Linears[4].Name != "vit.encoder.layer.0.intermediate.dense" || s.Linears[4].Out != 3072 {
		t.Errorf("linears: %d, [4] = %+v", len(s.Linears), s.Linears[4])
	}
}

// A model built from Specs has exactly the checkpoint's tensor names.
func TestSpecNamesAreHuggingFaceNames(t *testing.T) {
	ckpt, err := safetensors.Load(filepath.Join(fixtures, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := LoadConfig(filepath.Join(fixtures, "config.json"))
	var names, want []string
	for _, s := range Specs(c) {
		names = append(names, s.Name)
	}
	for k := range ckpt {
		want = append(want, k)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("Specs names %v\ncheckpoint %v", names, want)
	}
	m, _ := New(c, 1)
	for i, l := range m.Linears() {
		if want := LinearSpecs(c)[i]; l.Name != want.Name || l.Type != want.Type {
			t.Errorf("linear %d: %s %s, want %s %s", i, l.Name, l.Type, want.Name, want.Type)
		}
	}
}

// At another image size the position embeddings are interpolated, and gradients flow
// back through the interpolation to every learned position.
func TestInterpolatedPositionsGetGradients(t *testing.T) {
	m, err := New(Tiny(), 1)
	if err != nil {
		t.Fatal(err)
	}
	m.InterpolatePos = true
	px := models.Normal(models.NewRNG(3, 0), 1, 2, 3, 40, 48) // 10×12 patches instead of 8×8
	out := m.Forward(px)
	if got := out.MustSize(); !slices.Equal(got, []int64{2, 10}) {
		t.Fatalf("logits %v", got)
	}
	out.MustSum(out.DType(), false).MustBackward()
	pos, _ := m.Param("vit.embeddings.position_embeddings")
	g := pos.MustGrad(false).Float64Values()
	zero := 0
	for _, v := range g {
		if v == 0 {
			zero++
		}
	}
	if zero != 0 {
		t.Errorf("%d of %d position-embedding gradients are zero", zero, len(g))
	}
}
