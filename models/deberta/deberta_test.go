package deberta

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// The fixtures of scripts/fixtures/gen_deberta.py: v3style has DeBERTa-v3's layout (log
// buckets, shared keys, LayerNorm on the relative embeddings, no absolute positions or
// token types); abspos covers the other branches.
const fixtures = "../testdata/deberta"

var fixtureNames = []string{"v3style", "abspos"}

func loadFixture(t *testing.T, name string, head Head) (*Model, models.Batch, map[string]*ts.Tensor) {
	t.Helper()
	dir := filepath.Join(fixtures, name)
	io := compare.LoadIO(t, dir)
	var m *Model
	if head == Span {
		// The span model shares the encoder; its qa_outputs come with the outputs.
		c, err := LoadConfig(filepath.Join(dir, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		ckpt, err := safetensors.Load(filepath.Join(dir, "model.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"pooler.dense.weight", "pooler.dense.bias", "classifier.weight", "classifier.bias"} {
			delete(ckpt, k)
		}
		ckpt["qa_outputs.weight"], ckpt["qa_outputs.bias"] = io["qa.qa_outputs.weight"], io["qa.qa_outputs.bias"]
		m, _, err = FromTensors(c, Span, ckpt, dir, 1)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		var rep LoadReport
		var err error
		m, rep, err = Load(dir, Classification, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.NewlyInitialised) != 0 {
			t.Fatalf("fixture has a head, yet %v were initialised", rep.NewlyInitialised)
		}
	}
	b := models.Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], TokenTypeIDs: io["token_type_ids"]}
	return m, b, io
}

// The forward pass equals transformers' DebertaV2ForSequenceClassification and
// DebertaV2ForQuestionAnswering (eval mode) on the same weights and padded
// sentence-pair inputs, for both fixture configurations.
func TestForwardMatchesTransformers(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m, b, want := loadFixture(t, name, Classification)
			m.SetTraining(false)
			qa, _, _ := loadFixture(t, name, Span)
			qa.SetTraining(false)
			checks := []struct {
				name string
				got  *ts.Tensor
			}{
				{"hidden_states_0", m.Embed(b)},
				{"last_hidden_state", m.Encode(b)},
				{"logits", m.Forward(b)},
				{"span_logits", qa.Forward(b)},
			}
			for _, c := range checks {
				compare.Close(t, c.name, c.got, want[c.name], 1e-4)
			}
			compare.HiddenStates(t, m.HiddenStates(b), want, "", 1e-4)
		})
	}
}

// The microsoft/deberta-v3-base hub repo ships pytorch_model.bin: gotch's unpickler reads
// a torch.save'd state_dict bit for bit, and a folder with only that file loads.
func TestPytorchBin(t *testing.T) {
	dir := filepath.Join(fixtures, "v3style")
	fromBin, err := ReadCheckpoint(filepath.Join(dir, PytorchFile))
	if err != nil {
		t.Fatal(err)
	}
	fromST, err := safetensors.Load(filepath.Join(dir, SafetensorsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(fromBin) != len(fromST) {
		t.Fatalf("%d tensors in the .bin, %d in the .safetensors", len(fromBin), len(fromST))
	}
	for k, want := range fromST {
		got, ok := fromBin[k]
		if !ok {
			t.Fatalf("%s missing from the .bin", k)
		}
		if d := compare.MaxAbsDiff(t, k, got, want); d != 0 {
			t.Errorf("%s differs by %g", k, d)
		}
	}

	only := t.TempDir()
	for _, f := range []string{"config.json", PytorchFile} {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(only, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, rep, err := Load(only, Classification, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(rep.Weights) != PytorchFile {
		t.Errorf("loaded %s, want %s", rep.Weights, PytorchFile)
	}
	_, b, want := loadFixture(t, "v3style", Classification)
	m.SetTraining(false)
	if d := compare.MaxAbsDiff(t, "logits", m.Forward(b), want["logits"]); d > 1e-4 {
		t.Errorf("logits from pytorch_model.bin differ from transformers by %g", d)
	}

	// Hub .bin files are often float16 (deberta-v3-base's is 371 MB for 184M parameters):
	// read as such, converted to float32 when the model is built.
	half, err := ReadCheckpoint(filepath.Join(fixtures, "v3style_fp16.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range fromST {
		got := half[k]
		if got == nil || got.DType() != gotch.Half {
			t.Fatalf("%s: not read as float16 from v3style_fp16.bin", k)
		}
		rounded := want.MustTotype(gotch.Half, false).MustTotype(gotch.Float, true)
		if d := compare.MaxAbsDiff(t, k, got.MustTotype(gotch.Float, false), rounded); d != 0 {
			t.Errorf("%s (float16) differs by %g", k, d)
		}
	}
	c, _ := LoadConfig(filepath.Join(dir, "config.json"))
	if _, _, err := FromTensors(c, Classification, half, "v3style_fp16.bin", 1); err != nil {
		t.Error(err)
	}

	bad := filepath.Join(t.TempDir(), PytorchFile)
	if err := os.WriteFile(bad, []byte("not a pickle"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadCheckpoint(bad)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "save_file") {
		t.Errorf("a corrupt .bin gave %v, want an error naming the file and the conversion command", err)
	}
	if _, _, err := Load(t.TempDir(), Classification, 0, 1); err == nil {
		t.Error("a folder without config.json loaded")
	}
}

// build_relative_position's buckets, as printed by scripts/fixtures/gen_deberta.py.
func TestRelativePositionBuckets(t *testing.T) {
	small := relativePosition(1, 40, 8, 16, gotch.CPU).Int64Values()
	wantSmall := []int64{0, -1, -2, -3, -4, -5, -5, -6, -6, -6, -7, -7, -7, -7, -7, -7, -8, -8, -8, -8,
		-8, -8, -8, -8, -9, -9, -9, -9, -9, -9, -9, -9, -9, -9, -9, -9, -9, -10, -10, -10}
	if !slices.Equal(small, wantSmall) {
		t.Errorf("buckets (8, max 16):\n got %v\nwant %v", small, wantSmall)
	}
	// deberta-v3-base: 256 buckets, max_relative_positions −1 → 512.
	big := relativePosition(1, 1200, 256, 512, gotch.CPU).Int64Values()
	for _, w := range [][2]int64{{0, 0}, {1, -1}, {127, -127}, {128, -128}, {129, -129}, {130, -130},
		{200, -169}, {255, -192}, {256, -192}, {300, -207}, {511, -255}, {512, -256}, {700, -284},
		{1000, -317}, {1199, -334}} {
		if big[w[0]] != w[1] {
			t.Errorf("bucket of distance %d (256 buckets, max 512) = %d, want %d", w[0], big[w[0]], w[1])
		}
	}
	// Without buckets δ is the plain difference, q − k.
	plain := relativePosition(3, 3, -1, 512, gotch.CPU).Int64Values()
	if !slices.Equal(plain, []int64{0, -1, -2, 1, 0, -1, 2, 1, 0}) {
		t.Errorf("plain relative positions %v", plain)
	}
}

// Padding does not leak: a padded row's outputs at real positions equal those of the
// same row alone without padding (XSoftmax gives masked keys probability 0).
func TestPaddingIsMasked(t *testing.T) {
	m, b, _ := loadFixture(t, "v3style", Classification)
	m.SetTraining(false)
	full := m.Encode(b)
	n := int64(9) // row 1 has 9 real tokens
	row := models.Batch{
		InputIDs:      b.InputIDs.MustNarrow(0, 1, 1, false).MustNarrow(1, 0, n, true),
		AttentionMask: b.AttentionMask.MustNarrow(0, 1, 1, false).MustNarrow(1, 0, n, true),
	}
	alone := m.Encode(row)
	want := full.MustNarrow(0, 1, 1, false).MustNarrow(1, 0, n, true)
	if d := compare.MaxAbsDiff(t, "row 1", alone, want); d > 1e-5 {
		t.Errorf("row 1 alone differs from row 1 padded by %g", d)
	}
}

// Training mode turns dropout on: outputs change, so SetTraining really switches it.
func TestDropoutOnlyInTraining(t *testing.T) {
	m, b, want := loadFixture(t, "v3style", Classification)
	m.SetTraining(true)
	if d := compare.MaxAbsDiff(t, "logits", m.Forward(b), want["logits"]); d < 1e-3 {
		t.Errorf("training-mode logits equal eval-mode logits (diff %g): dropout is off", d)
	}
}

func TestLoadReportsMismatches(t *testing.T) {
	dir := filepath.Join(fixtures, "v3style")
	ckpt, err := safetensors.Load(filepath.Join(dir, SafetensorsFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	delete(ckpt, "deberta.encoder.layer.1.output.dense.bias")
	ckpt["deberta.encoder.layer.0.attention.self.key_proj.weight"] = ckpt["deberta.encoder.layer.0.attention.self.key_proj.weight"].MustNarrow(0, 0, 16, false)
	ckpt["deberta.encoder.extra.weight"] = ckpt["classifier.bias"]
	ckpt["lm_predictions.lm_head.bias"] = ckpt["classifier.bias"]
	ckpt["mask_predictions.classifier.bias"] = ckpt["classifier.bias"]
	ckpt["deberta.embeddings.position_embeddings.weight"] = ckpt["classifier.bias"]
	_, rep, err := FromTensors(c, Classification, ckpt, "model.safetensors", 1)
	if err == nil {
		t.Fatal("no error for a checkpoint with a missing, a mis-shaped and an unexpected tensor")
	}
	for _, want := range []string{
		"model.safetensors", "missing tensors: deberta.encoder.layer.1.output.dense.bias",
		"unexpected tensors: deberta.encoder.extra.weight",
		"mis-shaped tensors: deberta.encoder.layer.0.attention.self.key_proj.weight: checkpoint [16 32], model [32 32]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	for _, ignored := range []string{"lm_predictions", "mask_predictions", "position_embeddings"} {
		if strings.Contains(err.Error(), ignored) {
			t.Errorf("error %q lists %s, which is to be ignored", err, ignored)
		}
	}
	if len(rep.Ignored) != 3 {
		t.Errorf("Ignored = %v, want the 3 pre-training / absolute-position tensors", rep.Ignored)
	}
}

// A base checkpoint (DebertaV2Model, no "deberta." prefix, no head) loads with a fresh
// head, reported as such.
func TestLoadBaseCheckpointInitialisesHead(t *testing.T) {
	dir := filepath.Join(fixtures, "v3style")
	ckpt, err := safetensors.Load(filepath.Join(dir, SafetensorsFile))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := LoadConfig(filepath.Join(dir, "config.json"))
	bare := map[string]*ts.Tensor{}
	for k, v := range ckpt {
		if strings.HasPrefix(k, prefix) {
			bare[strings.TrimPrefix(k, prefix)] = v
		}
	}
	c.NumLabels = 5
	m, rep, err := FromTensors(c, Classification, bare, "model.safetensors", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rep.NewlyInitialised, ","); got != "pooler.dense.weight,pooler.dense.bias,classifier.weight,classifier.bias" {
		t.Errorf("NewlyInitialised = %v", got)
	}
	w, _ := m.Param("classifier.weight")
	if got := w.MustSize(); got[0] != 5 {
		t.Errorf("classifier is %v, want 5 labels", got)
	}
	if b, _ := m.Param("classifier.bias"); b.Float64Values()[0] != 0 {
		t.Error("a fresh classifier bias is not zero")
	}
}

func TestConfig(t *testing.T) {
	if err := BaseShape().Validate(); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(filepath.Join(fixtures, "v3style", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.PosAttType, PosAttTypes{"p2c", "c2p"}) || c.NumLabels != 3 || c.PositionBiasedInput ||
		c.PositionBuckets != 8 || c.scaleFactor() != 3 || c.attSpan() != 8 {
		t.Errorf("v3style config read as %+v", c)
	}

	write := func(body string) string {
		p := filepath.Join(t.TempDir(), "config.json")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Older DeBERTa-v2 configs write pos_att_type as a string; absent keys take
	// DebertaV2Config's defaults.
	c, err = LoadConfig(write(`{"model_type": "deberta-v2", "hidden_size": 64, "num_attention_heads": 4,
		"relative_attention": true, "pos_att_type": "p2c|C2P"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.PosAttType, PosAttTypes{"p2c", "c2p"}) || !c.PositionBiasedInput || c.PoolerHiddenSize != 64 ||
		c.NumHiddenLayers != 24 || c.LayerNormEps != 1e-7 || c.attSpan() != 512 || c.relEmbeddingLayerNorm() {
		t.Errorf("defaults: %+v", c)
	}

	for body, want := range map[string]string{
		`{"model_type": "deberta-v2", "conv_kernel_size": 3}`:                       "conv_kernel_size 3",
		`{"model_type": "deberta"}`:                                                 `model_type "deberta"`,
		`{"model_type": "deberta-v2", "pos_att_type": ["c2p", "p2p"]}`:              `pos_att_type "p2p"`,
		`{"model_type": "deberta-v2", "pos_att_type": 3}`:                           "pos_att_type",
		`{"model_type": "deberta-v2", "hidden_size": 30, "num_attention_heads": 4}`: "not a multiple",
		`{"model_type": "deberta-v2", "norm_rel_ebd": "batch_norm"}`:                "norm_rel_ebd",
		`{"model_type": "deberta-v2", "hidden_act": "swish"}`:                       "hidden_act",
		`{"model_type": "deberta-v2", "pooler_hidden_size": 8}`:                     "pooler_hidden_size 8",
		`{"model_type": "deberta-v2", "embedding_size": 128}`:                       "embedding_size",
	} {
		p := write(body)
		_, err := LoadConfig(p)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %v, want one naming the file and %q", body, err, want)
		}
	}
}

// deberta-v3-base's parameter count equals transformers' (DebertaV2Model on the meta
// device, printed by scripts/fixtures/gen_deberta.py): 184M, of which the 128k × 768
// word embeddings are 98M.
func TestParamCountDeBERTaV3Base(t *testing.T) {
	c := BaseShape()
	s := ShapeOf(c, Classification)
	if s.BaseParams != 183831552 {
		t.Errorf("DebertaV2Model parameters = %d, want 183831552", s.BaseParams)
	}
	var total int64
	for _, p := range Specs(c, Classification) {
		total += models.Numel(p.Shape)
	}
	if total != 184423682 {
		t.Errorf("DebertaV2ForSequenceClassification (2 labels) parameters = %d, want 184423682", total)
	}
	total = 0
	for _, p := range Specs(c, Span) {
		total += models.Numel(p.Shape)
	}
	if total != 183833090 {
		t.Errorf("DebertaV2ForQuestionAnswering parameters = %d, want 183833090", total)
	}
	if emb := c.VocabSize * c.HiddenSize; s.BaseParams-emb != 85450752 {
		t.Errorf("backbone without word embeddings = %d, want 85450752", s.BaseParams-emb)
	}
	if n := len(s.Linears); n != 72 {
		t.Errorf("%d adaptable linears, want 6 × 12", n)
	}
}

// A model built from a configuration has every parameter of the specs, trainable, and
// the pad row of the word embeddings zero, as DebertaV2PreTrainedModel initialises it.
func TestNew(t *testing.T) {
	c := Tiny(100)
	c.PadTokenID = 3
	m, err := New(c, Classification, 7)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Params()) != len(Specs(c, Classification)) || len(m.Linears()) != 12 {
		t.Fatalf("%d params, %d linears", len(m.Params()), len(m.Linears()))
	}
	w, _ := m.Param("deberta.embeddings.word_embeddings.weight")
	row := w.MustSelect(0, 3, false).Float64Values()
	other := w.MustSelect(0, 4, false).Float64Values()
	if slices.Max(row) != 0 || slices.Min(row) != 0 || slices.Max(other) == 0 {
		t.Error("the pad row is not zero, or another row is")
	}
	ids := ts.MustOfSlice([]int64{1, 5, 6, 7, 2, 3, 3, 3}).MustView([]int64{2, 4}, true)
	mask := ts.MustOfSlice([]int64{1, 1, 1, 1, 1, 1, 0, 0}).MustView([]int64{2, 4}, true)
	out := m.Forward(models.Batch{InputIDs: ids, AttentionMask: mask})
	if got := out.MustSize(); !slices.Equal(got, []int64{2, 2}) {
		t.Errorf("logits %v, want [2 2]", got)
	}
	var _ models.SequenceClassifier = m
}

// The backward pass equals PyTorch's: gradients of the mean cross-entropy (eval mode)
// for tensors reached through the c2p/p2c gathers, the relative-embedding LayerNorm, the
// shared query projection, the word embeddings (pad row: none) and the pooler.
func TestGradientsMatchTransformers(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m, b, want := loadFixture(t, name, Classification)
			m.SetTraining(false)
			loss := m.Forward(b).CrossEntropyForLogits(want["labels"])
			loss.MustBackward()
			n := 0
			for k, w := range want {
				if !strings.HasPrefix(k, "grad.") {
					continue
				}
				n++
				p, ok := m.Param(strings.TrimPrefix(k, "grad."))
				if !ok {
					t.Fatalf("no parameter for %s", k)
				}
				d := compare.MaxAbsDiff(t, k, p.MustGrad(false), w)
				scale := 0.0
				for _, v := range w.Float64Values() {
					scale = max(scale, math.Abs(v))
				}
				t.Logf("%s: max abs diff %.3g (max |grad| %.3g)", k, d, scale)
				if d > 1e-4*max(1, scale) {
					t.Errorf("%s: max |ours − torch| = %g", k, d)
				}
			}
			if n < 5 {
				t.Errorf("only %d gradients in the fixture", n)
			}
		})
	}
}
