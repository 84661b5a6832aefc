package vae

import (
	"encoding/json"
	"maps"
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

// tol is the bound on |ours − diffusers|.
const tol = 1e-4

// The fixtures of scripts/fixtures/gen_vae.py (see testdata/README.md): sd is SD v1's
// layout at toy size (float32 weights), variant has three levels, two resnets per
// level, no quant convs or attention, one output channel, fp16 weights only.
var fixtureNames = []string{"sd", "variant"}

func fixtureDir(name string) string { return filepath.Join("testdata", name) }

func loadFixture(t testing.TB, name string) (*Model, map[string]*ts.Tensor) {
	t.Helper()
	m, rep, err := Load(fixtureDir(name))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NewlyInitialised)+len(rep.Ignored)+len(rep.Renamed) != 0 {
		t.Fatalf("%s: newly initialised %v, ignored %v, renamed %v; want none", name, rep.NewlyInitialised, rep.Ignored, rep.Renamed)
	}
	return m, compare.LoadIO(t, fixtureDir(name))
}

// mean, logvar (clamped), latents (sample × scaling_factor) and the reconstruction
// decode(latents / scaling_factor) equal diffusers' AutoencoderKL.
func TestMatchesDiffusers(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			m, io := loadFixture(t, name)
			mean, logvar, err := m.Encode(io["images"])
			if err != nil {
				t.Fatal(err)
			}
			latents, err := m.Latents(io["images"], io["noise"])
			if err != nil {
				t.Fatal(err)
			}
			recon, err := m.Decode(io["latents"])
			if err != nil {
				t.Fatal(err)
			}
			compare.Close(t, "mean", mean, io["mean"], tol)
			compare.Close(t, "logvar", logvar, io["logvar"], tol)
			compare.Close(t, "latents", latents, io["latents"], tol)
			compare.Close(t, "reconstruction", recon, io["reconstruction"], tol)
			if got, want := m.LatentShape(io["images"].MustSize()), io["latents"].MustSize(); !slices.Equal(got, want) {
				t.Errorf("LatentShape = %v, want %v", got, want)
			}
			if mean.MustRequiresGrad() || recon.MustRequiresGrad() {
				t.Error("outputs require grad: the VAE must run without autograd")
			}
		})
	}
}

// The sd fixture drives one logvar channel (quant_conv bias -60) below -30: the clamp
// must show there, or the logvar comparison would not test it. The upper clamp at 20:
// a logvar channel with quant_conv bias +100 is 20 everywhere.
func TestLogvarClamp(t *testing.T) {
	_, io := loadFixture(t, "sd")
	if lo := io["logvar"].MustMin(false).Float64Values()[0]; lo != logvarMin {
		t.Fatalf("fixture logvar min %g, want exactly %g", lo, logvarMin)
	}
	dir := fixtureDir("sd")
	c, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Load(filepath.Join(dir, "diffusion_pytorch_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	bias := st["quant_conv.bias"].MustDetachCopy(false)
	bias.MustNarrow(0, c.LatentChannels+1, 1, false).MustFill_(ts.FloatScalar(100))
	st["quant_conv.bias"] = bias
	m, _, err := FromTensors(c, st, "high.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	_, logvar, err := m.Encode(io["images"])
	if err != nil {
		t.Fatal(err)
	}
	ch := logvar.MustNarrow(1, 1, 1, false)
	if lo, hi := ch.MustMin(false).Float64Values()[0], ch.MustMax(false).Float64Values()[0]; lo != logvarMax || hi != logvarMax {
		t.Errorf("logvar channel 1 in [%g, %g], want exactly %g", lo, hi, logvarMax)
	}
}

// Hand-computed DiagonalGaussianDistribution: logvar clamped to [-30, 20] by Encode is
// diffusers' job above; Sample is mean + exp(logvar/2)·noise.
func TestSampleByHand(t *testing.T) {
	mean := ts.MustOfSlice([]float32{1, -2, 0.5, 0}).MustView([]int64{1, 1, 2, 2}, true)
	logvar := ts.MustOfSlice([]float32{0, 2, -2, 20}).MustView([]int64{1, 1, 2, 2}, true)
	noise := ts.MustOfSlice([]float32{0.5, 1, -1, 1e-9}).MustView([]int64{1, 1, 2, 2}, true)
	z, err := Sample(mean, logvar, noise)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1 + 0.5, -2 + 2.718281828, 0.5 - 0.367879441, 22026.46579e-9}
	for i, g := range z.Float64Values() {
		if d := g - want[i]; d > 1e-5 || d < -1e-5 {
			t.Errorf("z[%d] = %g, want %g", i, g, want[i])
		}
	}
}

// The deprecated attention names (query, key, value, proj_attn) load as the current ones.
func TestDeprecatedAttentionNames(t *testing.T) {
	dir := fixtureDir("sd")
	c, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := safetensors.Load(filepath.Join(dir, "diffusion_pytorch_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]string{".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}
	renamed := map[string]*ts.Tensor{}
	for k, v := range st {
		for from, to := range old {
			k = strings.Replace(k, from, to, 1)
		}
		renamed[k] = v
	}
	m, rep, err := FromTensors(c, renamed, "old.bin")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Renamed) != 16 { // 4 linears × (weight, bias) × (encoder, decoder)
		t.Errorf("renamed %d tensors, want 16: %v", len(rep.Renamed), rep.Renamed)
	}
	io := compare.LoadIO(t, dir)
	mean, _, err := m.Encode(io["images"])
	if err != nil {
		t.Fatal(err)
	}
	compare.Close(t, "mean", mean, io["mean"], tol)

	// Both names at once is ambiguous.
	renamed["encoder.mid_block.attentions.0.to_q.weight"] = st["encoder.mid_block.attentions.0.to_q.weight"]
	_, _, err = FromTensors(c, renamed, "both.bin")
	wantErr(t, err, "both.bin: holds both encoder.mid_block.attentions.0.to_q.weight and its deprecated name encoder.mid_block.attentions.0.query.weight")
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

// Params lists every tensor of the checkpoint, all frozen; there are no adaptable linears.
func TestParams(t *testing.T) {
	for _, name := range fixtureNames {
		m, _ := loadFixture(t, name)
		w, err := WeightsFile(fixtureDir(name))
		if err != nil {
			t.Fatal(err)
		}
		st, err := safetensors.Load(w)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(m.Params()), len(st); got != want {
			t.Errorf("%s: %d params, checkpoint has %d tensors", name, got, want)
		}
		for _, p := range m.Params() {
			if p.T.MustRequiresGrad() {
				t.Errorf("%s: %s requires grad, want frozen", name, p.Name)
			}
			if p.T.DType() != gotch.Float {
				t.Errorf("%s: %s is %v, want float32", name, p.Name, p.T.DType())
			}
		}
		if len(m.Linears()) != 0 {
			t.Errorf("%s: %d linears, want none", name, len(m.Linears()))
		}
	}
}

// SD1Shape has the 83,653,863 parameters of CompVis/stable-diffusion-v1-4's vae
// (sum(p.numel()) of diffusers' AutoencoderKL with that config).
func TestSD1ParamCount(t *testing.T) {
	var n int64
	for _, s := range Specs(SD1Shape()) {
		n += models.Numel(s.Shape)
	}
	if n != 83653863 {
		t.Errorf("SD1Shape has %d parameters, want 83653863", n)
	}
}

// writeFolder writes a vae/ folder with the given config.json and tensors.
func writeFolder(t *testing.T, config string, tensors map[string]*ts.Tensor, file string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if tensors != nil {
		if err := safetensors.Save(filepath.Join(dir, file), tensors, nil); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// sdConfig is the sd fixture's config.json with edits applied (key → raw JSON value;
// an empty value deletes the key).
func sdConfig(t *testing.T, edits map[string]string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir("sd"), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	for k, v := range edits {
		if v == "" {
			delete(cfg, k)
		} else {
			cfg[k] = json.RawMessage(v)
		}
	}
	out, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// Every unsupported or impossible value is refused naming its key.
func TestConfigErrors(t *testing.T) {
	cases := []struct {
		edits map[string]string
		want  string
	}{
		{map[string]string{"_class_name": `"AutoencoderTiny"`}, `_class_name "AutoencoderTiny": this model reads AutoencoderKL`},
		{map[string]string{"act_fn": `"gelu"`}, `act_fn "gelu": want silu`},
		{map[string]string{"down_block_types": `["DownEncoderBlock2D", "AttnDownEncoderBlock2D"]`},
			`down_block_types[1] "AttnDownEncoderBlock2D": only DownEncoderBlock2D is implemented`},
		{map[string]string{"up_block_types": `["UpDecoderBlock2D"]`}, "up_block_types has 1 entries, want one per block_out_channels entry (2)"},
		{map[string]string{"block_out_channels": `[8, 18]`}, "block_out_channels[1] = 18 is not a multiple of norm_num_groups 4"},
		{map[string]string{"block_out_channels": `[]`, "down_block_types": `[]`, "up_block_types": `[]`}, "block_out_channels is empty"},
		{map[string]string{"block_out_channels": `[8, 0]`}, "block_out_channels[1] = 0, want > 0"},
		{map[string]string{"block_out_channels": "[" + strings.Repeat("8, ", 16) + "8]"}, "block_out_channels has 17 levels, want at most 16"},
		{map[string]string{"latent_channels": `0`}, "latent_channels = 0, want > 0"},
		{map[string]string{"layers_per_block": `-1`}, "layers_per_block = -1, want > 0"},
		{map[string]string{"layers_per_block": `5000`}, "layers_per_block = 5000, want at most 1024"},
		{map[string]string{"norm_num_groups": `0`}, "norm_num_groups = 0, want > 0"},
		{map[string]string{"in_channels": `4294967296`}, "in_channels = 4294967296, want at most 2147483648"},
		{map[string]string{"block_out_channels": `[2147483648, 2147483648]`, "norm_num_groups": `1`}, "more than 17179869184 parameters"},
		{map[string]string{"scaling_factor": `0`}, "scaling_factor = 0, want > 0"},
		{map[string]string{"shift_factor": `0.0609`}, "shift_factor 0.0609: a latent shift is not implemented"},
		{map[string]string{"latents_mean": `[0.1, 0.2, 0.3, 0.4]`}, "latents_mean: per-channel latent normalisation is not implemented"},
		{map[string]string{"sample_size": `"big"`}, `sample_size "big": want an integer or [height, width]`},
		{map[string]string{"sample_size": `[0, 32]`}, "sample_size 0x32, want > 0"},
		{map[string]string{"layers_per_block": `"2"`}, "Config.layers_per_block of type int64"},
	}
	for _, tc := range cases {
		_, err := ParseConfig([]byte(sdConfig(t, tc.edits)), "vae/config.json")
		wantErr(t, err, "vae/config.json: ", tc.want)
	}
	_, err := ParseConfig([]byte("{"), "vae/config.json")
	wantErr(t, err, "vae/config.json: not an AutoencoderKL config.json")
}

// Defaults and the accepted spellings: SD v1.4's config.json has no use_quant_conv,
// use_post_quant_conv or mid_block_add_attention (true); sample_size may be [h, w];
// act_fn swish is SiLU.
func TestConfigDefaults(t *testing.T) {
	c, err := ParseConfig([]byte(sdConfig(t, map[string]string{
		"use_quant_conv": "", "use_post_quant_conv": "", "mid_block_add_attention": "", "force_upcast": "",
		"sample_size": "[32, 48]", "act_fn": `"swish"`,
	})), "config.json")
	if err != nil {
		t.Fatal(err)
	}
	if !c.UseQuantConv || !c.UsePostQuantConv || !c.MidBlockAddAttention || !c.ForceUpcast {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.SampleSize != (SampleSize{32, 48}) || c.ScalingFactor != 0.18215 {
		t.Errorf("sample_size %v, scaling_factor %g", c.SampleSize, c.ScalingFactor)
	}
}

// Missing, unexpected and mis-shaped tensors, and original LDM names, are refused
// naming the tensor and the file.
func TestLoadErrors(t *testing.T) {
	dir := fixtureDir("sd")
	st, err := safetensors.Load(filepath.Join(dir, "diffusion_pytorch_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	config := sdConfig(t, nil)
	edit := func(f func(map[string]*ts.Tensor)) map[string]*ts.Tensor {
		c := maps.Clone(st)
		f(c)
		return c
	}
	const file = "diffusion_pytorch_model.safetensors"
	cases := []struct {
		name    string
		config  string
		tensors map[string]*ts.Tensor
		file    string
		want    []string
	}{
		{"missing tensor", config, edit(func(c map[string]*ts.Tensor) { delete(c, "decoder.up_blocks.1.resnets.0.conv_shortcut.weight") }), file,
			[]string{file + " does not fit an AutoencoderKL with block_out_channels [8 16]", "missing tensors: decoder.up_blocks.1.resnets.0.conv_shortcut.weight"}},
		{"wrong shape", config, edit(func(c map[string]*ts.Tensor) {
			c["encoder.conv_in.weight"] = ts.MustZeros([]int64{8, 3, 5, 5}, gotch.Float, gotch.CPU)
		}), file,
			[]string{"mis-shaped tensors: encoder.conv_in.weight: checkpoint [8 3 5 5], model [8 3 3 3]"}},
		{"unexpected tensor", config, edit(func(c map[string]*ts.Tensor) {
			c["encoder.extra.weight"] = ts.MustZeros([]int64{1}, gotch.Float, gotch.CPU)
		}), file,
			[]string{"unexpected tensors: encoder.extra.weight"}},
		{"integer weight", config, edit(func(c map[string]*ts.Tensor) { c["quant_conv.bias"] = ts.MustZeros([]int64{8}, gotch.Int64, gotch.CPU) }), file,
			[]string{"quant_conv.bias is I64"}},
		{"config without quant convs", sdConfig(t, map[string]string{"use_quant_conv": "false"}), st, file,
			[]string{"use_quant_conv false", "unexpected tensors: quant_conv.bias, quant_conv.weight"}},
		{"LDM names", config, edit(func(c map[string]*ts.Tensor) { c["encoder.down.0.block.0.conv1.weight"] = st["encoder.conv_in.weight"] }), file,
			[]string{"tensor encoder.down.0.block.0.conv1.weight is named as in an original CompVis/LDM checkpoint"}},
		{"bad config key", sdConfig(t, map[string]string{"norm_num_groups": "3"}), st, file,
			[]string{"config.json: block_out_channels[0] = 8 is not a multiple of norm_num_groups 3"}},
		{"no weights", config, nil, file,
			[]string{"no diffusion_pytorch_model.safetensors, diffusion_pytorch_model.bin, diffusion_pytorch_model.fp16.safetensors"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(writeFolder(t, tc.config, tc.tensors, tc.file))
			wantErr(t, err, tc.want...)
		})
	}
}

// The fp16 variant is read only when it is the only weights file.
func TestWeightsFilePreference(t *testing.T) {
	cases := []struct {
		present []string
		want    string
	}{
		{[]string{"diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.safetensors"}, "diffusion_pytorch_model.safetensors"},
		{[]string{"diffusion_pytorch_model.fp16.safetensors", "diffusion_pytorch_model.bin"}, "diffusion_pytorch_model.bin"},
		{[]string{"diffusion_pytorch_model.fp16.safetensors"}, "diffusion_pytorch_model.fp16.safetensors"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		for _, f := range tc.present {
			if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := WeightsFile(dir)
		if err != nil || filepath.Base(got) != tc.want {
			t.Errorf("%v: WeightsFile = %q, %v; want %s", tc.present, got, err, tc.want)
		}
	}
}

// Inputs libtorch would abort on are errors naming the input and what was expected.
func TestInputErrors(t *testing.T) {
	m, io := loadFixture(t, "sd")
	img := func(shape ...int64) *ts.Tensor { return ts.MustZeros(shape, gotch.Float, gotch.CPU) }
	encode := []struct {
		x    *ts.Tensor
		want string
	}{
		{nil, "images: nil tensor"},
		{img(3, 32, 32), "images: shape [3 32 32], want batch × 3 × height × width (NCHW)"},
		{img(1, 4, 32, 32), "images: 4 channels (shape [1 4 32 32]), want 3"},
		{img(0, 3, 32, 32), "images: shape [0 3 32 32], want every dimension ≥ 1"},
		{ts.MustZeros([]int64{1, 3, 8, 8}, gotch.Double, gotch.CPU), "images: dtype F64, want F32 (float32)"},
		{img(1, 3, 1, 8), "images: 1 × 8 pixels is too small: downsampling 1 of 1 needs at least 2 × 2"},
	}
	for _, tc := range encode {
		_, _, err := m.Encode(tc.x)
		wantErr(t, err, tc.want)
	}
	_, err := m.Decode(img(1, 3, 4, 4))
	wantErr(t, err, "latents: 3 channels (shape [1 3 4 4]), want 4")
	_, err = m.Latents(io["images"], img(2, 4, 8, 9))
	wantErr(t, err, "noise: shape [2 4 8 9], want the latents' shape [2 4 16 16]")
	_, err = m.Latents(io["images"], ts.MustZeros([]int64{2, 4, 16, 16}, gotch.Half, gotch.CPU))
	wantErr(t, err, "noise: dtype F16, want F32 (float32)")
	_, err = m.Latents(io["images"], nil)
	wantErr(t, err, "noise: nil")
	// The smallest images that pass: 2 × 2 → 1 × 1 latents; odd sizes round down (5 → 2).
	for _, shape := range [][]int64{{1, 3, 2, 2}, {1, 3, 5, 3}} {
		lat, err := m.LatentsRNG(img(shape...), models.NewRNG(1, 0))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := lat.MustSize(), m.LatentShape(shape); !slices.Equal(got, want) {
			t.Errorf("%v: latents %v, want %v", shape, got, want)
		}
	}
}

// Encode + decode of one 64 × 64 image: the sd fixture (channels 8, 16) and Tiny
// (channels 32, 64, 8 groups; random weights).
func BenchmarkEncodeDecode64(b *testing.B) {
	fixture, _ := loadFixture(b, "sd")
	tiny, err := New(Tiny(), 1)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		m    *Model
	}{{"fixture", fixture}, {"Tiny", tiny}} {
		b.Run(bc.name, func(b *testing.B) {
			images := models.Uniform(models.NewRNG(3, 0), -1, 1, 1, 3, 64, 64)
			rng := models.NewRNG(4, 0)
			for b.Loop() {
				lat, err := bc.m.LatentsRNG(images, rng)
				if err != nil {
					b.Fatal(err)
				}
				out, err := bc.m.Decode(lat)
				if err != nil {
					b.Fatal(err)
				}
				lat.MustDrop()
				out.MustDrop()
			}
		})
	}
}
