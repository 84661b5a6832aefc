// Package unet is the denoising UNet of Stable Diffusion v1.x (CompVis/stable-diffusion-v1-4,
// runwayml/stable-diffusion-v1-5) on gotch: diffusers 0.30.3's UNet2DConditionModel with
// the blocks SD v1 uses (CrossAttnDownBlock2D, DownBlock2D, UNetMidBlock2DCrossAttn,
// UpBlock2D, CrossAttnUpBlock2D). It is built from a diffusers unet/config.json and
// loaded from diffusion_pytorch_model.safetensors (or .bin, or the .fp16 variants) by
// diffusers' names. Every attention projection and feed-forward linear of every
// transformer block is exposed with a layer type, so the methods apply to it unchanged.
package unet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/vectorfit/harness/models"
)

// Block types implemented.
const (
	CrossAttnDown = "CrossAttnDownBlock2D"
	Down          = "DownBlock2D"
	CrossAttnUp   = "CrossAttnUpBlock2D"
	Up            = "UpBlock2D"
	MidCrossAttn  = "UNetMidBlock2DCrossAttn"
)

// IntList is a config.json key diffusers takes as one int for every block or as a list
// of one int per block (attention_head_dim, layers_per_block, ...).
type IntList struct {
	V []int64
	// Scalar: the file gave one value, used for every block.
	Scalar bool
}

// UnmarshalJSON accepts an int or a list of ints.
func (l *IntList) UnmarshalJSON(b []byte) error {
	var one int64
	if err := json.Unmarshal(b, &one); err == nil {
		*l = IntList{V: []int64{one}, Scalar: true}
		return nil
	}
	var many []int64
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("want an int or a list of ints, got %s", b)
	}
	*l = IntList{V: many}
	return nil
}

// MarshalJSON writes the int or the list back.
func (l IntList) MarshalJSON() ([]byte, error) {
	if l.Scalar && len(l.V) == 1 {
		return json.Marshal(l.V[0])
	}
	return json.Marshal(l.V)
}

// At is block i's value.
func (l IntList) At(i int) int64 {
	if l.Scalar {
		return l.V[0]
	}
	return l.V[i]
}

// Last is the last block's value (diffusers' [-1], which the mid block reads).
func (l IntList) Last(blocks int) int64 { return l.At(blocks - 1) }

func one(v int64) IntList { return IntList{V: []int64{v}, Scalar: true} }

// Config is the part of a diffusers UNet2DConditionModel config.json the model reads.
type Config struct {
	ClassName string `json:"_class_name"`
	// SampleSize is the latent size the model was trained at (64 for SD v1 at 512 px):
	// informational (an int or [height, width]), the forward pass takes any size.
	SampleSize  json.RawMessage `json:"sample_size"`
	InChannels  int64           `json:"in_channels"`
	OutChannels int64           `json:"out_channels"`
	// CenterInputSample maps the sample x to 2x − 1 first.
	CenterInputSample bool `json:"center_input_sample"`
	// FlipSinToCos and FreqShift shape the sinusoidal timestep embedding
	// (get_timestep_embedding's flip_sin_to_cos and downscale_freq_shift).
	FlipSinToCos bool    `json:"flip_sin_to_cos"`
	FreqShift    float64 `json:"freq_shift"`

	DownBlockTypes []string `json:"down_block_types"`
	// MidBlockType nil (JSON null) would mean no mid block: refused.
	MidBlockType     *string  `json:"mid_block_type"`
	UpBlockTypes     []string `json:"up_block_types"`
	BlockOutChannels []int64  `json:"block_out_channels"`
	LayersPerBlock   IntList  `json:"layers_per_block"`
	// TransformerLayersPerBlock is the number of BasicTransformerBlocks per
	// Transformer2DModel (1 in SD v1).
	TransformerLayersPerBlock IntList `json:"transformer_layers_per_block"`
	// AttentionHeadDim is, for a UNet2DConditionModel, the number of attention HEADS of
	// each block (diffusers' naming quirk: num_attention_heads = num_attention_heads or
	// attention_head_dim, and num_attention_heads must be null); the head size is the
	// block's channels / heads. SD v1: 8.
	AttentionHeadDim    IntList `json:"attention_head_dim"`
	CrossAttentionDim   IntList `json:"cross_attention_dim"`
	DownsamplePadding   int64   `json:"downsample_padding"`
	MidBlockScaleFactor float64 `json:"mid_block_scale_factor"`
	Dropout             float64 `json:"dropout"`
	ActFn               string  `json:"act_fn"`
	NormNumGroups       int64   `json:"norm_num_groups"`
	NormEps             float64 `json:"norm_eps"`
	// UseLinearProjection makes proj_in/proj_out of each Transformer2DModel linears
	// instead of 1×1 convolutions (false in SD v1, true in SD v2).
	UseLinearProjection bool `json:"use_linear_projection"`
	// UpcastAttention asks diffusers to compute attention scores in float32; the model
	// computes in float32 always, so it changes nothing here (nor in diffusers'
	// default AttnProcessor2_0).
	UpcastAttention bool `json:"upcast_attention"`
	// OnlyCrossAttention (a bool or one per block) and DualCrossAttention must be false.
	OnlyCrossAttention json.RawMessage `json:"only_cross_attention"`
	DualCrossAttention bool            `json:"dual_cross_attention"`
}

// defaults are UNet2DConditionModel.__init__'s defaults, for keys a config.json leaves out.
func defaults() Config {
	mid := MidCrossAttn
	return Config{
		ClassName: "UNet2DConditionModel", InChannels: 4, OutChannels: 4, FlipSinToCos: true,
		DownBlockTypes:   []string{CrossAttnDown, CrossAttnDown, CrossAttnDown, Down},
		MidBlockType:     &mid,
		UpBlockTypes:     []string{Up, CrossAttnUp, CrossAttnUp, CrossAttnUp},
		BlockOutChannels: []int64{320, 640, 1280, 1280},
		LayersPerBlock:   one(2), TransformerLayersPerBlock: one(1), AttentionHeadDim: one(8),
		CrossAttentionDim: one(1280), DownsamplePadding: 1, MidBlockScaleFactor: 1,
		ActFn: "silu", NormNumGroups: 32, NormEps: 1e-5,
	}
}

// SDv14 is CompVis/stable-diffusion-v1-4's unet/config.json (859,520,964 parameters),
// for parameter counts and benchmarks without weights.
func SDv14() Config {
	c := defaults()
	c.SampleSize, c.CrossAttentionDim = json.RawMessage("64"), one(768)
	return c
}

// LoadConfig reads a diffusers unet/config.json.
func LoadConfig(path string) (Config, error) {
	return models.ReadConfig(path, ParseConfig)
}

// unsupported are UNet2DConditionModel options for other pipelines (SD XL, Kandinsky,
// LCM, GLIGEN, ...), with the value SD v1 has (JSON; "null" for None). A config.json
// that sets one to anything else is refused, naming the key.
var unsupported = []struct{ key, want string }{
	{"num_attention_heads", "null"},
	{"class_embed_type", "null"}, {"num_class_embeds", "null"}, {"class_embeddings_concat", "false"},
	{"projection_class_embeddings_input_dim", "null"},
	{"addition_embed_type", "null"},
	{"encoder_hid_dim", "null"}, {"encoder_hid_dim_type", "null"},
	{"time_embedding_type", `"positional"`}, {"time_embedding_dim", "null"},
	{"time_embedding_act_fn", "null"}, {"timestep_post_act", "null"}, {"time_cond_proj_dim", "null"},
	{"conv_in_kernel", "3"}, {"conv_out_kernel", "3"},
	{"resnet_time_scale_shift", `"default"`}, {"resnet_skip_time_act", "false"},
	{"resnet_out_scale_factor", "1"},
	{"attention_type", `"default"`}, {"cross_attention_norm", "null"},
	{"mid_block_only_cross_attention", "null"},
	{"reverse_transformer_layers_per_block", "null"},
}

// ParseConfig reads the bytes of a config.json; source names it in errors.
func ParseConfig(raw []byte, source string) (Config, error) {
	c := defaults()
	if err := json.Unmarshal(raw, &c); err != nil {
		return Config{}, fmt.Errorf("%s: not a UNet2DConditionModel config.json: %w", source, err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return Config{}, fmt.Errorf("%s: not a UNet2DConditionModel config.json: %w", source, err)
	}
	var errs []error
	for _, u := range unsupported {
		v, ok := keys[u.key]
		if !ok || sameJSON(v, u.want) || (u.want == "null" && sameJSON(v, "false") && u.key == "mid_block_only_cross_attention") {
			continue
		}
		errs = append(errs, fmt.Errorf("%s = %s: not implemented, want %s (as Stable Diffusion v1)", u.key, compact(v), u.want))
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// sameJSON says whether the JSON value v equals want (numbers compared as numbers, so
// 1 and 1.0 are the same).
func sameJSON(v json.RawMessage, want string) bool {
	var a, b any
	if json.Unmarshal(v, &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func compact(v json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return string(v)
	}
	return b.String()
}

// Validate checks the values the model depends on and refuses the options it does not
// implement, naming the key.
func (c Config) Validate() error {
	var errs []error
	if c.ClassName != "UNet2DConditionModel" {
		errs = append(errs, fmt.Errorf("_class_name %q: this model reads UNet2DConditionModel (the unet/ folder of a Stable Diffusion v1 pipeline)", c.ClassName))
	}
	n := len(c.DownBlockTypes)
	if n == 0 {
		errs = append(errs, errors.New("down_block_types is empty, want at least one block"))
	}
	if n > models.MaxLayers {
		errs = append(errs, fmt.Errorf("down_block_types has %d blocks, want at most %d", n, models.MaxLayers))
	}
	for i, t := range c.DownBlockTypes {
		if t != CrossAttnDown && t != Down {
			errs = append(errs, fmt.Errorf("down_block_types[%d] %q: want %s or %s", i, t, CrossAttnDown, Down))
		}
	}
	if len(c.UpBlockTypes) != n {
		errs = append(errs, fmt.Errorf("up_block_types has %d blocks, want %d (as down_block_types)", len(c.UpBlockTypes), n))
	}
	for i, t := range c.UpBlockTypes {
		if t != CrossAttnUp && t != Up {
			errs = append(errs, fmt.Errorf("up_block_types[%d] %q: want %s or %s", i, t, CrossAttnUp, Up))
		}
	}
	if c.MidBlockType == nil || *c.MidBlockType != MidCrossAttn {
		got := "null"
		if c.MidBlockType != nil {
			got = fmt.Sprintf("%q", *c.MidBlockType)
		}
		errs = append(errs, fmt.Errorf("mid_block_type %s: want %q", got, MidCrossAttn))
	}
	if len(c.BlockOutChannels) != n {
		errs = append(errs, fmt.Errorf("block_out_channels has %d entries, want %d (one per down block)", len(c.BlockOutChannels), n))
	}
	lists := []struct {
		key string
		l   IntList
	}{
		{"layers_per_block", c.LayersPerBlock}, {"transformer_layers_per_block", c.TransformerLayersPerBlock},
		{"attention_head_dim", c.AttentionHeadDim}, {"cross_attention_dim", c.CrossAttentionDim},
	}
	for _, l := range lists {
		if !l.l.Scalar && len(l.l.V) != n {
			errs = append(errs, fmt.Errorf("%s has %d entries, want one int or %d (one per down block)", l.key, len(l.l.V), n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err // the per-block checks below index by block
	}
	var sizes []models.Field
	add := func(key string, v int64) { sizes = append(sizes, models.Field{Key: key, V: v}) }
	add("in_channels", c.InChannels)
	add("out_channels", c.OutChannels)
	add("norm_num_groups", c.NormNumGroups)
	for i := range n {
		add(fmt.Sprintf("block_out_channels[%d]", i), c.BlockOutChannels[i])
		for _, l := range lists {
			add(fmt.Sprintf("%s[%d]", l.key, i), l.l.At(i))
		}
	}
	errs = append(errs, models.CheckPositive(sizes...)...)
	errs = append(errs, models.CheckSizes(sizes...)...)
	for i := range n {
		for _, l := range []IntList{c.LayersPerBlock, c.TransformerLayersPerBlock} {
			if l.At(i) > models.MaxLayers {
				errs = append(errs, fmt.Errorf("block %d: %d layers, want at most %d", i, l.At(i), models.MaxLayers))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, ch := range c.BlockOutChannels {
		if ch%c.NormNumGroups != 0 {
			errs = append(errs, fmt.Errorf("block_out_channels[%d] %d is not a multiple of norm_num_groups %d (GroupNorm)", i, ch, c.NormNumGroups))
		}
		if h := c.AttentionHeadDim.At(i); ch%h != 0 {
			errs = append(errs, fmt.Errorf("block_out_channels[%d] %d is not a multiple of attention_head_dim[%d] %d (the number of heads)", i, ch, i, h))
		}
		if d := c.CrossAttentionDim.At(i); d != c.CrossAttentionDim.At(0) {
			errs = append(errs, fmt.Errorf("cross_attention_dim[%d] %d differs from cross_attention_dim[0] %d: one encoder_hidden_states feeds every block", i, d, c.CrossAttentionDim.At(0)))
		}
	}
	if c.ActFn != "silu" && c.ActFn != "swish" {
		errs = append(errs, fmt.Errorf("act_fn %q: want silu (as Stable Diffusion v1)", c.ActFn))
	}
	if c.Dropout != 0 {
		errs = append(errs, fmt.Errorf("dropout = %g: dropout in the UNet is not implemented, want 0 (as Stable Diffusion v1)", c.Dropout))
	}
	if !(c.NormEps > 0) {
		errs = append(errs, fmt.Errorf("norm_eps = %g, want > 0", c.NormEps))
	}
	if !(c.MidBlockScaleFactor > 0) {
		errs = append(errs, fmt.Errorf("mid_block_scale_factor = %g, want > 0", c.MidBlockScaleFactor))
	}
	if c.DownsamplePadding != 0 && c.DownsamplePadding != 1 {
		errs = append(errs, fmt.Errorf("downsample_padding = %d, want 0 or 1", c.DownsamplePadding))
	}
	if half := c.BlockOutChannels[0] / 2; float64(half) == c.FreqShift {
		errs = append(errs, fmt.Errorf("freq_shift = %g equals half of block_out_channels[0]: the timestep frequencies would divide by zero", c.FreqShift))
	}
	if len(c.OnlyCrossAttention) > 0 && !sameJSON(c.OnlyCrossAttention, "false") && !allFalse(c.OnlyCrossAttention) {
		errs = append(errs, fmt.Errorf("only_cross_attention = %s: not implemented, want false (as Stable Diffusion v1)", compact(c.OnlyCrossAttention)))
	}
	if c.DualCrossAttention {
		errs = append(errs, errors.New("dual_cross_attention = true: not implemented, want false (as Stable Diffusion v1)"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return models.CheckParamCount(Specs(c), "the UNet")
}

func allFalse(v json.RawMessage) bool {
	var bs []bool
	return json.Unmarshal(v, &bs) == nil && !slices.Contains(bs, true)
}

// blocks is the number of down (and up) blocks.
func (c Config) blocks() int { return len(c.DownBlockTypes) }

// crossDim is the width of encoder_hidden_states.
func (c Config) crossDim() int64 { return c.CrossAttentionDim.At(0) }

// timeDim is the width of the timestep embedding (block_out_channels[0] × 4).
func (c Config) timeDim() int64 { return c.BlockOutChannels[0] * 4 }

func (c Config) String() string {
	return fmt.Sprintf("a UNet2DConditionModel with blocks %s / %s, channels %v, cross_attention_dim %d",
		strings.Join(c.DownBlockTypes, ","), strings.Join(c.UpBlockTypes, ","), c.BlockOutChannels, c.crossDim())
}

// Tiny is SD v1's layout at toy size for the built-in model: blocks of 32 and 64
// channels (CrossAttnDownBlock2D, DownBlock2D / UpBlock2D, CrossAttnUpBlock2D), one
// layer each, 4 heads, cross-attention over a 32-wide text encoder, 8 groups, 16×16
// latents.
func Tiny() Config {
	c := defaults()
	c.SampleSize, c.CrossAttentionDim = json.RawMessage("16"), one(32)
	c.DownBlockTypes, c.UpBlockTypes = []string{CrossAttnDown, Down}, []string{Up, CrossAttnUp}
	c.BlockOutChannels, c.LayersPerBlock, c.AttentionHeadDim, c.NormNumGroups = []int64{32, 64}, one(1), one(4), 8
	return c
}
