package bart

import (
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/deberta"
	"github.com/vectorfit/harness/models/safetensors"
)

// The fixtures of scripts/fixtures/gen_bart.py: base is bart-base/-large's layout (no
// embedding scale, exact GELU, different head counts and FFN sizes on the two sides);
// scaled has scale_embedding, ReLU, 3 decoder layers, pad 0 and decoder start 3.
var fixtureNames = []string{"base", "scaled"}

func fixtureDir(name string) string { return filepath.Join("..", "testdata", "bart_"+name) }

// tol is the issue's bound on |ours − transformers|.
const tol = 1e-4

func loadFixture(t *testing.T, name string) (*Model, map[string]*ts.Tensor) {
	t.Helper()
	dir := fixtureDir(name)
	m, rep, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NewlyInitialised) != 0 || len(rep.Ignored) != 0 {
		t.Fatalf("%s: newly initialised %v, ignored %v; want none (save_pretrained keeps shared and final_logits_bias only)",
			dir, rep.NewlyInitialised, rep.Ignored)
	}
	m.SetTraining(false)
	return m, compare.LoadIO(t, dir)
}

// Encoder and decoder hidden states, logits and losses equal
// BartForConditionalGeneration's (eval mode) on a padded batch, for both configurations.
func TestForwardMatchesTransformers(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m, io := loadFixture(t, name)
			// shift_tokens_right: the decoder inputs transformers built from the labels.
			dec := ShiftTokensRight(io["labels"], m.Config.PadTokenID, m.Config.DecoderStartTokenID)
			if !dec.MustEqual(io["decoder_input_ids"], false) {
				t.Fatalf("ShiftTokensRight = %v, want %v", dec.Int64Values(), io["decoder_input_ids"].Int64Values())
			}
			var logits, noMask, loss, lossNoMask, smoothed *ts.Tensor
			var enc, decStates []*ts.Tensor
			models.NoGrad(func() {
				logits, enc, decStates = m.HiddenStates(io["input_ids"], io["attention_mask"], dec, io["decoder_attention_mask"])
				noMask = m.Forward(io["input_ids"], io["attention_mask"], dec, nil)
				b := Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], Labels: io["labels"],
					DecoderAttentionMask: io["decoder_attention_mask"]}
				loss = m.Loss(b, 0)
				smoothed = m.Loss(b, io["label_smoothing"].Float64Values()[0])
				b.DecoderAttentionMask = nil
				lossNoMask = m.Loss(b, 0)
			})
			if want := int(m.Config.EncoderLayers + 1); len(enc) != want {
				t.Fatalf("%d encoder states, want %d", len(enc), want)
			}
			compare.HiddenStates(t, enc, io, "_encoder", tol)
			compare.HiddenStates(t, decStates, io, "_decoder", tol)
			compare.Close(t, "logits", logits, io["logits"], tol)
			compare.Close(t, "logits_no_decoder_mask", noMask, io["logits_no_decoder_mask"], tol)
			compare.Close(t, "loss", loss.MustView([]int64{1}, false), io["loss"], tol)
			compare.Close(t, "loss_no_decoder_mask", lossNoMask.MustView([]int64{1}, false), io["loss_no_decoder_mask"], tol)
			compare.Close(t, "loss_smoothed", smoothed.MustView([]int64{1}, false), io["loss_smoothed"], tol)
		})
	}
}

// The decoder mask matters only on padded decoder positions here (right padding, causal):
// the two references must differ there, or the no-mask comparison tests nothing.
func TestFixtureDecoderMaskMatters(t *testing.T) {
	_, io := loadFixture(t, "base")
	if d := compare.MaxAbsDiff(t, "logits", io["logits"], io["logits_no_decoder_mask"]); d < 1e-3 {
		t.Fatalf("logits with and without the decoder mask differ by only %g", d)
	}
}

// A pytorch_model.bin with the tied copies older hub files carry, and a bare BartModel
// checkpoint (names without "model."), give the same model.
func TestCheckpointLayouts(t *testing.T) {
	dir := fixtureDir("base")
	c, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Load(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := deberta.ReadCheckpoint(filepath.Join(dir, "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	bare := map[string]*ts.Tensor{}
	for k, v := range st {
		if k != finalLogitsBias {
			bare[strings.TrimPrefix(k, prefix)] = v
		}
	}
	io := compare.LoadIO(t, dir)
	cases := []struct {
		name        string
		ckpt        map[string]*ts.Tensor
		ignored     int
		initialised int
	}{
		{"pytorch_model.bin", bin, 3, 0},
		{"bare BartModel", bare, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, rep, err := FromTensors(c, tc.ckpt, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Ignored) != tc.ignored || len(rep.NewlyInitialised) != tc.initialised {
				t.Errorf("ignored %v, newly initialised %v; want %d and %d", rep.Ignored, rep.NewlyInitialised, tc.ignored, tc.initialised)
			}
			m.SetTraining(false)
			var logits *ts.Tensor
			models.NoGrad(func() {
				logits = m.Forward(io["input_ids"], io["attention_mask"], io["decoder_input_ids"], io["decoder_attention_mask"])
			})
			want := io["logits"]
			if tc.initialised > 0 { // no final_logits_bias: transformers would add zeros
				want = want.MustSub(st[finalLogitsBias], false)
			}
			compare.Close(t, "logits", logits, want, tol)
		})
	}
}

// Every linear is exposed once, by its Hugging Face name, with its layer type: per
// encoder layer 4 self-attention + 2 FFN, per decoder layer 4 self-attention + 4
// cross-attention + 2 FFN; cross-attention shares the self-attention types.
func TestLinears(t *testing.T) {
	m, _ := loadFixture(t, "scaled") // 2 encoder, 3 decoder layers
	ls := m.Linears()
	if got, want := len(ls), 2*6+3*10; got != want {
		t.Fatalf("%d linears, want %d", got, want)
	}
	count := map[models.LayerType]int{}
	names := map[string]bool{}
	for _, l := range ls {
		count[l.Type]++
		names[l.Name] = true
		if l.Bias == nil {
			t.Errorf("%s has no bias", l.Name)
		}
	}
	want := map[models.LayerType]int{
		models.Query: 2 + 3*2, models.Key: 2 + 3*2, models.Value: 2 + 3*2, models.AttnOut: 2 + 3*2,
		models.FFNUp: 5, models.FFNDown: 5,
	}
	if !maps.Equal(count, want) {
		t.Errorf("types %v, want %v", count, want)
	}
	checks := map[string]models.LayerType{
		"model.encoder.layers.0.self_attn.q_proj":      models.Query,
		"model.encoder.layers.1.fc2":                   models.FFNDown,
		"model.decoder.layers.2.encoder_attn.k_proj":   models.Key,
		"model.decoder.layers.0.encoder_attn.out_proj": models.AttnOut,
		"model.decoder.layers.1.self_attn.v_proj":      models.Value,
		"model.decoder.layers.2.fc1":                   models.FFNUp,
	}
	for _, l := range ls {
		if typ, ok := checks[l.Name]; ok {
			if l.Type != typ {
				t.Errorf("%s: type %s, want %s", l.Name, l.Type, typ)
			}
			delete(checks, l.Name)
		}
	}
	if len(checks) > 0 {
		t.Errorf("linears not found: %v", checks)
	}
	// The shapes: fc1 is ffn × d_model on each side.
	for _, l := range ls {
		if strings.HasSuffix(l.Name, "fc1") {
			ffn := m.Config.EncoderFFNDim
			if strings.Contains(l.Name, "decoder") {
				ffn = m.Config.DecoderFFNDim
			}
			if l.Out() != ffn || l.In() != m.Config.DModel {
				t.Errorf("%s: %d × %d, want %d × %d", l.Name, l.Out(), l.In(), ffn, m.Config.DModel)
			}
		}
	}
	if models.HeadParams(m) != nil {
		t.Errorf("head params %v, want none (the LM head is the shared embedding)", models.HeadParams(m))
	}
}

// facebook/bart-large: 406,291,456 parameters (BartForConditionalGeneration built
// from its config.json on the meta device in transformers 4.44.2; the tied copies and
// the final_logits_bias buffer not counted).
func TestBartLargeCount(t *testing.T) {
	s := ShapeOf(LargeShape())
	if s.BaseParams != 406291456 {
		t.Errorf("bart-large: %d parameters, want 406291456", s.BaseParams)
	}
	if n := len(s.Linears); n != 12*6+12*10 {
		t.Errorf("bart-large: %d linears, want %d", n, 12*6+12*10)
	}
}

// Dropout acts in training mode only; eval mode is deterministic.
func TestTrainingDropout(t *testing.T) {
	m, io := loadFixture(t, "base")
	run := func() *ts.Tensor {
		var out *ts.Tensor
		models.NoGrad(func() {
			out = m.Forward(io["input_ids"], io["attention_mask"], io["decoder_input_ids"], io["decoder_attention_mask"])
		})
		return out
	}
	a, b := run(), run()
	if d := compare.MaxAbsDiff(t, "eval", a, b); d != 0 {
		t.Errorf("eval mode: two runs differ by %g", d)
	}
	m.SetTraining(true)
	c := run()
	m.SetTraining(false)
	if d := compare.MaxAbsDiff(t, "train", a, c); d < 1e-3 {
		t.Errorf("training mode changed the logits by only %g: dropout is off", d)
	}
}

// Configuration guards: each bad value is one error naming its key.
func TestConfigErrors(t *testing.T) {
	base := `"model_type": "bart", "vocab_size": 64, "d_model": 16, "encoder_layers": 1, "decoder_layers": 1,
		"encoder_attention_heads": 2, "decoder_attention_heads": 2, "encoder_ffn_dim": 8, "decoder_ffn_dim": 8,
		"max_position_embeddings": 32`
	if _, err := ParseConfig([]byte("{"+base+"}"), "ok.json"); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
	cases := []struct{ extra, want string }{
		{`"model_type": "mbart"`, `model_type "mbart": this model reads bart`},
		{`"d_model": 15`, "d_model 15 is not a multiple of encoder_attention_heads 2"},
		{`"decoder_attention_heads": 0`, "decoder_attention_heads = 0, want > 0"},
		{`"decoder_layers": 5000`, "decoder_layers = 5000, want at most 1024"},
		{`"vocab_size": 4294967296`, "vocab_size = 4294967296, want at most 2147483648"},
		{`"dropout": 1.5`, "dropout = 1.5, want a probability in [0, 1]"},
		{`"encoder_layerdrop": 0.1`, "encoder_layerdrop = 0.1: layerdrop is not implemented"},
		{`"pad_token_id": 64`, "pad_token_id = 64, want in [0, vocab_size 64)"},
		{`"forced_bos_token_id": -3`, "forced_bos_token_id = -3, want in [0, vocab_size 64)"},
		{`"decoder_start_token_id": 99`, "decoder_start_token_id = 99, want in [0, vocab_size 64)"},
		{`"activation_function": "swish"`, `activation_function "swish": want one of gelu, gelu_new, gelu_pytorch_tanh, relu, tanh`},
		{`"tie_word_embeddings": false`, "tie_word_embeddings false: an LM head not tied"},
		{`"normalize_before": true`, "normalize_before true: pre-LayerNorm is mBART's layout"},
		{`"add_final_layer_norm": true`, "add_final_layer_norm true: final LayerNorms are mBART's layout"},
		{`"normalize_embedding": false`, "normalize_embedding false: BART always normalises its embeddings"},
		{`"static_position_embeddings": true`, "static_position_embeddings true: sinusoidal positions are not BART's"},
		{`"add_bias_logits": true`, "add_bias_logits true: not implemented"},
		{`"extra_pos_embeddings": 0`, "extra_pos_embeddings 0: BART's position offset is 2"},
		{`"init_std": -1`, "init_std = -1, want >= 0"},
		{`"d_model": "x"`, "bad.json: not a config.json"},
		{`"vocab_size": 2147483648, "d_model": 2147483648, "encoder_attention_heads": 1, "decoder_attention_heads": 1`, "would have more than 17179869184 parameters"},
	}
	for _, tc := range cases {
		t.Run(tc.extra, func(t *testing.T) {
			_, err := ParseConfig([]byte("{"+base+", "+tc.extra+"}"), "bad.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "bad.json: ") {
				t.Errorf("err = %v, want bad.json: ...%s", err, tc.want)
			}
		})
	}
	// facebook/bart-large's legacy keys have the values standard BART means: accepted.
	legacy := `, "normalize_before": false, "add_final_layer_norm": false, "normalize_embedding": true,
		"static_position_embeddings": false, "add_bias_logits": false, "extra_pos_embeddings": 2`
	if _, err := ParseConfig([]byte("{"+base+legacy+"}"), "legacy.json"); err != nil {
		t.Errorf("bart-large's legacy keys: %v", err)
	}
}

// Checkpoint guards: a mis-shaped or integer final_logits_bias, a missing tensor.
func TestCheckpointErrors(t *testing.T) {
	dir := fixtureDir("base")
	c, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Load(filepath.Join(dir, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(map[string]*ts.Tensor)) map[string]*ts.Tensor {
		m := maps.Clone(st)
		f(m)
		return m
	}
	cases := []struct {
		name, want string
		ckpt       map[string]*ts.Tensor
	}{
		{"bias shape", "ckpt: final_logits_bias has shape [64], want [1 64] (1 × vocab_size)",
			edit(func(m map[string]*ts.Tensor) { m[finalLogitsBias] = m[finalLogitsBias].MustView([]int64{64}, false) })},
		{"bias dtype", "ckpt: final_logits_bias is I64, want a floating-point tensor",
			edit(func(m map[string]*ts.Tensor) { m[finalLogitsBias] = m[finalLogitsBias].MustTotype(gotch.Int64, false) })},
		{"missing", "missing tensors: model.decoder.layers.1.encoder_attn.q_proj.weight",
			edit(func(m map[string]*ts.Tensor) { delete(m, "model.decoder.layers.1.encoder_attn.q_proj.weight") })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := FromTensors(c, tc.ckpt, "ckpt")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
	if _, _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("an empty folder: err = %v, want one naming config.json", err)
	}
}

func ExampleShiftTokensRight() {
	labels := ts.MustOfSlice([]int64{5, 6, 2, -100}).MustView([]int64{1, 4}, true)
	fmt.Println(ShiftTokensRight(labels, 1, 2).Int64Values())
	// Output: [2 5 6 2]
}

// Batch guards: each bad batch is one error naming the tensor, row and position.
func TestCheckBatch(t *testing.T) {
	m, io := loadFixture(t, "base")
	good := Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], Labels: io["labels"],
		DecoderAttentionMask: io["decoder_attention_mask"]}
	if err := m.CheckBatch(good); err != nil {
		t.Fatalf("the fixture batch: %v", err)
	}
	ids := func(vals []int64, rows, cols int64) *ts.Tensor {
		return ts.MustOfSlice(vals).MustView([]int64{rows, cols}, true)
	}
	long := make([]int64, 65)
	cases := []struct {
		name, want string
		edit       func(b *Batch)
	}{
		{"id past vocab", "input_ids: row 0 position 1 is 64, want an id in [0, vocab_size 64)",
			func(b *Batch) { b.InputIDs = ids([]int64{0, 64, 2}, 1, 3); b.AttentionMask = nil }},
		{"negative label", "labels: row 0 position 0 is -1, want an id in [0, vocab_size 64)",
			func(b *Batch) { b.Labels = ids([]int64{-1, 5}, 1, 2); b.DecoderAttentionMask = nil }},
		{"too long", "input_ids: 65 tokens, want at most max_position_embeddings 64",
			func(b *Batch) { b.InputIDs = ids(long, 1, 65); b.AttentionMask = nil }},
		{"mask shape", "attention_mask has shape [3 6], want input_ids's [3 10]",
			func(b *Batch) { b.AttentionMask = io["decoder_attention_mask"] }},
		{"float ids", "input_ids: want an int64 batch × seq tensor",
			func(b *Batch) { b.InputIDs = io["logits"]; b.AttentionMask = nil }},
		{"no target", "neither decoder_input_ids nor labels", func(b *Batch) { b.Labels = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := good
			tc.edit(&b)
			if err := m.CheckBatch(b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
}
