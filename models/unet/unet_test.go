package unet

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// The fixtures of scripts/fixtures/gen_unet.py (see testdata/README.md): sd is shaped as
// Stable Diffusion v1 (1×1-conv projections, F32 weights); linear has
// use_linear_projection, upcast_attention, three blocks, per-block head counts, two
// transformer layers, the other timestep embedding, downsample_padding 0, a centred
// input, mid_block_scale_factor 2 and an odd sample size, with fp16 weights.
var fixtureNames = []string{"sd", "linear"}

func fixtureDir(name string) string { return filepath.Join("testdata", name) }

// tol is the bound on |ours − diffusers|.
const tol = 1e-4

func loadFixture(t testing.TB, name string) (*Model, map[string]*ts.Tensor) {
	t.Helper()
	m, rep, err := Load(fixtureDir(name))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NewlyInitialised) != 0 || len(rep.Ignored) != 0 {
		t.Fatalf("%s: newly initialised %v, ignored %v; want none", name, rep.NewlyInitialised, rep.Ignored)
	}
	m.SetTraining(false)
	return m, compare.LoadIO(t, fixtureDir(name))
}

// The timestep embedding, the time MLP and the noise prediction equal diffusers' (eval
// mode, AttnProcessor2_0) for both configurations, with int64 and float timesteps.
func TestForwardMatchesDiffusers(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m, io := loadFixture(t, name)
			if err := m.CheckInputs(io["sample"], io["timesteps"], io["encoder_hidden_states"]); err != nil {
				t.Fatal(err)
			}
			c := m.Config
			var tEmb, emb, out, outFloat *ts.Tensor
			models.NoGrad(func() {
				tEmb = TimestepEmbedding(io["timesteps"], c.BlockOutChannels[0], c.FlipSinToCos, c.FreqShift)
				emb = m.TimeEmbedding(io["timesteps"])
				out = m.Forward(io["sample"], io["timesteps"], io["encoder_hidden_states"])
				half := io["timesteps"].MustTotype(gotch.Float, false).MustAddScalar(ts.FloatScalar(0.5), true)
				outFloat = m.Forward(io["sample"], half, io["encoder_hidden_states"])
			})
			compare.Close(t, "t_emb", tEmb, io["t_emb"], tol)
			compare.Close(t, "emb", emb, io["emb"], tol)
			compare.Close(t, "out", out, io["out"], tol)
			compare.Close(t, "out_float_t", outFloat, io["out_float_t"], tol)
		})
	}
}

// The two timesteps of the fixture batch give different outputs for the same row, or
// the time path would be untested: the references must differ.
func TestFixtureTimestepMatters(t *testing.T) {
	_, io := loadFixture(t, "sd")
	if d := compare.MaxAbsDiff(t, "out", io["out"], io["out_float_t"]); d < 1e-3 {
		t.Fatalf("the outputs at t and t + 0.5 differ by only %g", d)
	}
}

// A bare 0-D timestep is broadcast over the batch, as diffusers does.
func TestScalarTimestep(t *testing.T) {
	m, io := loadFixture(t, "sd")
	var a, b *ts.Tensor
	models.NoGrad(func() {
		t0 := io["timesteps"].MustNarrow(0, 0, 1, false)
		a = m.Forward(io["sample"], t0.MustSqueeze(false), io["encoder_hidden_states"])
		b = m.Forward(io["sample"], t0.MustExpand([]int64{2}, false, false), io["encoder_hidden_states"])
	})
	if d := compare.MaxAbsDiff(t, "scalar", a, b); d != 0 {
		t.Errorf("a 0-D timestep differs from the same timestep per row by %g", d)
	}
}

// Every attention and feed-forward linear is exposed once, by its diffusers name, with
// its layer type, shape and bias (to_q/to_k/to_v none; attn2's to_k/to_v read
// cross_attention_dim), and LinearSpecs (from the config alone) agrees.
func TestLinears(t *testing.T) {
	m, _ := loadFixture(t, "linear")
	c := m.Config
	// 3 blocks: down 0, 1 cross-attention with 2 layers each; up 1, 2 with 3 layers each;
	// mid 1 transformer; 2 BasicTransformerBlocks per transformer.
	transformers := 2*2 + 2*3 + 1
	ls := m.Linears()
	if got, want := len(ls), transformers*2*10; got != want {
		t.Fatalf("%d linears, want %d", got, want)
	}
	count := map[models.LayerType]int{}
	for _, l := range ls {
		count[l.Type]++
	}
	per := transformers * 2
	want := map[models.LayerType]int{models.Query: 2 * per, models.Key: 2 * per, models.Value: 2 * per,
		models.AttnOut: 2 * per, models.FFNUp: per, models.FFNDown: per}
	if !maps.Equal(count, want) {
		t.Errorf("types %v, want %v", count, want)
	}
	checks := map[string]struct {
		typ     models.LayerType
		out, in int64
		bias    bool
	}{
		"down_blocks.0.attentions.1.transformer_blocks.1.attn1.to_q":   {models.Query, 8, 8, false},
		"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k":   {models.Key, 8, c.crossDim(), false},
		"up_blocks.2.attentions.2.transformer_blocks.0.attn2.to_v":     {models.Value, 8, c.crossDim(), false},
		"mid_block.attentions.0.transformer_blocks.1.attn2.to_out.0":   {models.AttnOut, 16, 16, true},
		"up_blocks.1.attentions.0.transformer_blocks.0.ff.net.0.proj":  {models.FFNUp, 64, 8, true},
		"down_blocks.1.attentions.1.transformer_blocks.0.ff.net.2":     {models.FFNDown, 8, 32, true},
		"mid_block.attentions.0.transformer_blocks.0.attn1.to_k":       {models.Key, 16, 16, false},
		"up_blocks.1.attentions.2.transformer_blocks.1.attn1.to_out.0": {models.AttnOut, 8, 8, true},
	}
	for _, l := range ls {
		if w, ok := checks[l.Name]; ok {
			if l.Type != w.typ || l.Out() != w.out || l.In() != w.in || (l.Bias != nil) != w.bias {
				t.Errorf("%s: %s %d×%d bias %v, want %s %d×%d bias %v", l.Name, l.Type, l.Out(), l.In(), l.Bias != nil, w.typ, w.out, w.in, w.bias)
			}
			delete(checks, l.Name)
		}
	}
	if len(checks) > 0 {
		t.Errorf("linears not found: %v", checks)
	}
	// The LinearSpecs (from the config alone) agree with the built linears.
	specs := LinearSpecs(c)
	for i, l := range ls {
		if specs[i] != l.Spec() {
			t.Errorf("LinearSpecs[%d] = %+v, built %+v", i, specs[i], l.Spec())
		}
	}
	if models.HeadParams(m) != nil {
		t.Errorf("head params, want none")
	}
}

// CompVis/stable-diffusion-v1-4's UNet: every parameter's name and shape in
// named_parameters() order as diffusers builds it from that config.json
// (testdata/sdv14_parameters.txt, written by gen_unet.py on the meta device; 859,520,964
// parameters), and 16 transformers of one BasicTransformerBlock, ten linears each.
func TestSDv14Specs(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "sdv14_parameters.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if !strings.HasPrefix(line, "#") {
			want = append(want, line)
		}
	}
	c := SDv14()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range Specs(c) {
		dims := make([]string, len(s.Shape))
		for i, d := range s.Shape {
			dims[i] = strconv.FormatInt(d, 10)
		}
		got = append(got, s.Name+" "+strings.Join(dims, "x"))
	}
	if len(got) != len(want) {
		t.Errorf("%d tensors, want %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Fatalf("parameter %d: %s, want %s", i, got[i], want[i])
		}
	}
	s := ShapeOf(c)
	if s.BaseParams != 859520964 {
		t.Errorf("SD v1.4 UNet: %d parameters, want 859520964", s.BaseParams)
	}
	if n := len(s.Linears); n != 16*linearsPerBlock {
		t.Errorf("%d linears, want 160", n)
	}
}

// Configuration guards: each bad value is one error naming its key.
func TestConfigErrors(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(fixtureDir("sd"), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseConfig(base, "ok.json"); err != nil {
		t.Fatalf("the fixture config: %v", err)
	}
	cases := []struct{ key, value, want string }{
		{"_class_name", `"UNet2DModel"`, `_class_name "UNet2DModel": this model reads UNet2DConditionModel`},
		{"down_block_types", `["AttnDownBlock2D", "DownBlock2D"]`, `down_block_types[0] "AttnDownBlock2D": want CrossAttnDownBlock2D or DownBlock2D`},
		{"up_block_types", `["UpBlock2D"]`, "up_block_types has 1 blocks, want 2 (as down_block_types)"},
		{"up_block_types", `["UpBlock2D", "AttnUpBlock2D"]`, `up_block_types[1] "AttnUpBlock2D": want CrossAttnUpBlock2D or UpBlock2D`},
		{"mid_block_type", `"UNetMidBlock2DSimpleCrossAttn"`, `mid_block_type "UNetMidBlock2DSimpleCrossAttn": want "UNetMidBlock2DCrossAttn"`},
		{"mid_block_type", `null`, `mid_block_type null: want "UNetMidBlock2DCrossAttn"`},
		{"block_out_channels", `[8]`, "block_out_channels has 1 entries, want 2 (one per down block)"},
		{"block_out_channels", `[8, 18]`, "block_out_channels[1] 18 is not a multiple of norm_num_groups 4"},
		{"attention_head_dim", `3`, "block_out_channels[0] 8 is not a multiple of attention_head_dim[0] 3 (the number of heads)"},
		{"attention_head_dim", `[2, 2, 2]`, "attention_head_dim has 3 entries, want one int or 2"},
		{"attention_head_dim", `"x"`, "bad.json: not a UNet2DConditionModel config.json"},
		{"layers_per_block", `0`, "layers_per_block[0] = 0, want > 0"},
		{"transformer_layers_per_block", `5000`, "block 0: 5000 layers, want at most 1024"},
		{"cross_attention_dim", `[24, 32]`, "cross_attention_dim[1] 32 differs from cross_attention_dim[0] 24"},
		{"in_channels", `0`, "in_channels = 0, want > 0"},
		{"norm_num_groups", `4294967296`, "norm_num_groups = 4294967296, want at most 2147483648"},
		{"act_fn", `"gelu"`, `act_fn "gelu": want silu`},
		{"dropout", `0.1`, "dropout = 0.1: dropout in the UNet is not implemented, want 0"},
		{"norm_eps", `-1`, "norm_eps = -1, want > 0"},
		{"mid_block_scale_factor", `0`, "mid_block_scale_factor = 0, want > 0"},
		{"downsample_padding", `2`, "downsample_padding = 2, want 0 or 1"},
		{"freq_shift", `4`, "freq_shift = 4 equals half of block_out_channels[0]"},
		{"only_cross_attention", `true`, "only_cross_attention = true: not implemented, want false"},
		{"only_cross_attention", `[false, true]`, "only_cross_attention = [false,true]: not implemented"},
		{"dual_cross_attention", `true`, "dual_cross_attention = true: not implemented, want false"},
		{"num_attention_heads", `8`, "num_attention_heads = 8: not implemented, want null"},
		{"class_embed_type", `"timestep"`, `class_embed_type = "timestep": not implemented, want null`},
		{"addition_embed_type", `"text_time"`, `addition_embed_type = "text_time": not implemented, want null`},
		{"time_embedding_type", `"fourier"`, `time_embedding_type = "fourier": not implemented, want "positional"`},
		{"time_cond_proj_dim", `256`, "time_cond_proj_dim = 256: not implemented, want null"},
		{"conv_in_kernel", `7`, "conv_in_kernel = 7: not implemented, want 3"},
		{"resnet_time_scale_shift", `"scale_shift"`, `resnet_time_scale_shift = "scale_shift": not implemented, want "default"`},
		{"encoder_hid_dim", `1024`, "encoder_hid_dim = 1024: not implemented, want null"},
		{"attention_type", `"gated"`, `attention_type = "gated": not implemented, want "default"`},
		{"mid_block_only_cross_attention", `true`, "mid_block_only_cross_attention = true: not implemented"},
		{"block_out_channels", `[8, 4294967296]`, "block_out_channels[1] = 4294967296, want at most 2147483648"},
		{"block_out_channels", `[2097152, 2097152]`, "would have more than 17179869184 parameters"},
	}
	for _, tc := range cases {
		t.Run(tc.key+"="+tc.value, func(t *testing.T) {
			raw := withKey(t, base, tc.key, tc.value)
			_, err := ParseConfig(raw, "bad.json")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "bad.json: ") {
				t.Errorf("err = %v, want bad.json: ...%s", err, tc.want)
			}
		})
	}
	// Every option of other pipelines is refused by name when set.
	for _, u := range unsupported {
		_, err := ParseConfig(withKey(t, base, u.key, "12345"), "bad.json")
		if want := u.key + " = 12345: not implemented, want " + u.want; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %s", u.key, err, want)
		}
	}
	if _, err := ParseConfig(withKey(t, withKey(t, base, "down_block_types", "[]"), "up_block_types", "[]"), "bad.json"); err == nil ||
		!strings.Contains(err.Error(), "down_block_types is empty, want at least one block") {
		t.Errorf("no blocks: err = %v", err)
	}
	// Values SD v1 configs carry that mean the defaults are accepted.
	for _, ok := range []struct{ key, value string }{
		{"mid_block_only_cross_attention", "false"}, {"only_cross_attention", "[false, false]"},
		{"resnet_out_scale_factor", "1.0"}, {"act_fn", `"swish"`}, {"upcast_attention", "true"},
		{"sample_size", "[64, 48]"}, {"attention_head_dim", "[2, 4]"},
	} {
		if _, err := ParseConfig(withKey(t, base, ok.key, ok.value), "ok.json"); err != nil {
			t.Errorf("%s = %s: %v", ok.key, ok.value, err)
		}
	}
}

// withKey is the config.json raw with key set to the JSON value.
func withKey(t *testing.T, raw []byte, key, value string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = json.RawMessage(value)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Checkpoint guards: missing, unexpected, mis-shaped and integer tensors, a folder
// without weights or config.
func TestCheckpointErrors(t *testing.T) {
	dir := fixtureDir("sd")
	c, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Load(filepath.Join(dir, "diffusion_pytorch_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(map[string]*ts.Tensor)) map[string]*ts.Tensor {
		m := maps.Clone(st)
		f(m)
		return m
	}
	const q = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"
	cases := []struct {
		name, want string
		ckpt       map[string]*ts.Tensor
	}{
		{"missing", "missing tensors: " + q, edit(func(m map[string]*ts.Tensor) { delete(m, q) })},
		{"unexpected", "unexpected tensors: add_embedding.linear_1.weight",
			edit(func(m map[string]*ts.Tensor) { m["add_embedding.linear_1.weight"] = m[q] })},
		{"shape", "mis-shaped tensors: " + q + ": checkpoint [8 8], model [8 24]",
			edit(func(m map[string]*ts.Tensor) { m[q] = ts.MustZeros([]int64{8, 8}, gotch.Float, gotch.CPU) })},
		{"dtype", q + " is I64",
			edit(func(m map[string]*ts.Tensor) { m[q] = m[q].MustTotype(gotch.Int64, false) })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := FromTensors(c, tc.ckpt, "ckpt")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "ckpt does not fit a UNet2DConditionModel") {
				t.Errorf("err = %v, want ckpt does not fit ...%s", err, tc.want)
			}
		})
	}
	empty := t.TempDir()
	if _, _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("an empty folder: err = %v, want one naming config.json", err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := os.WriteFile(filepath.Join(empty, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "no UNet weights, want one of diffusion_pytorch_model.safetensors, diffusion_pytorch_model.bin, diffusion_pytorch_model.fp16.safetensors") {
		t.Errorf("no weights: err = %v", err)
	}
}

// Input guards: each bad input is one error naming the tensor.
func TestCheckInputs(t *testing.T) {
	m, io := loadFixture(t, "sd")
	s, tt, e := io["sample"], io["timesteps"], io["encoder_hidden_states"]
	cases := []struct {
		name     string
		s, tt, e *ts.Tensor
		want     string
	}{
		{"channels", s.MustNarrow(1, 0, 3, false), tt, e, "sample: F32 of shape [2 3 16 12], want an F32 batch × in_channels 4 × height × width tensor"},
		{"timesteps", s, ts.MustOfSlice([]int64{1, 2, 3}), e, "timesteps: shape [3], want a scalar or 1-D of 1 or batch 2 entries"},
		{"width", s, tt, e.MustNarrow(2, 0, 20, false), "encoder_hidden_states: F32 of shape [2 7 20], want an F32 batch 2 × seq × cross_attention_dim 24 tensor"},
		{"batch", s, tt, e.MustNarrow(0, 0, 1, false), "encoder_hidden_states: F32 of shape [1 7 24]"},
		{"nil", s, nil, e, "sample, timesteps and encoder_hidden_states are all required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := m.CheckInputs(tc.s, tc.tt, tc.e); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %s", err, tc.want)
			}
		})
	}
}

// A folder's weights are found in diffusers' order: safetensors before .bin, the plain
// file before the fp16 variant.
func TestWeightsFileOrder(t *testing.T) {
	cases := []struct {
		files []string
		want  string
	}{
		{WeightFiles, "diffusion_pytorch_model.safetensors"},
		{WeightFiles[1:], "diffusion_pytorch_model.bin"},
		{WeightFiles[2:], "diffusion_pytorch_model.fp16.safetensors"},
		{WeightFiles[3:], "diffusion_pytorch_model.fp16.bin"},
		{[]string{"diffusion_pytorch_model.fp16.bin", "diffusion_pytorch_model.bin"}, "diffusion_pytorch_model.bin"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		for _, f := range tc.files {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := WeightsFile(dir)
		if err != nil || got != filepath.Join(dir, tc.want) {
			t.Errorf("%v: %s, %v; want %s", tc.files, got, err, tc.want)
		}
	}
}

// The fp16 fixture's weights load as float32 (the model's dtype) and the F64 or
// wrong-shaped inputs are refused by CheckInputs.
func TestFP16WeightsAndInputDType(t *testing.T) {
	m, io := loadFixture(t, "linear")
	for _, p := range m.Params() {
		if p.T.DType() != gotch.Float {
			t.Fatalf("%s is %v, want float32", p.Name, p.T.DType())
		}
	}
	d := io["sample"].MustTotype(gotch.Double, false)
	if err := m.CheckInputs(d, io["timesteps"], io["encoder_hidden_states"]); err == nil ||
		!strings.Contains(err.Error(), "sample: F64 of shape [2 3 9 10], want an F32 batch × in_channels 3") {
		t.Errorf("an F64 sample: err = %v", err)
	}
}
