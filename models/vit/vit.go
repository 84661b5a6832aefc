package vit

import (
	"fmt"
	"math"
	"strconv"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// prefix is the name of the base model inside ViTForImageClassification's checkpoint.
const prefix = "vit."

// Spec is one parameter's name and shape, known from the configuration alone; absent
// from a checkpoint it is initialised as transformers' ViTPreTrainedModel._init_weights
// does (its truncated normal is cut at ±2, i.e. ±100σ for σ = 0.02: a plain normal).
type Spec = models.ParamSpec

// Specs lists the parameters of ViTForImageClassification, named as in its Hugging
// Face checkpoint. Counting parameters needs nothing else.
func Specs(c Config) []Spec {
	h, p := c.HiddenSize, prefix
	var s models.SpecList
	add := s.Add
	layerNorm := func(name string) { s.LayerNorm(name, h) }
	add(p+"embeddings.cls_token", models.InitNormal, 1, 1, h)
	add(p+"embeddings.position_embeddings", models.InitNormal, 1, c.NumPatches()+1, h)
	add(p+"embeddings.patch_embeddings.projection.weight", models.InitNormal, h, c.NumChannels, c.PatchSize, c.PatchSize)
	add(p+"embeddings.patch_embeddings.projection.bias", models.InitZero, h)
	for _, l := range LinearSpecs(c) {
		if l.Type == models.Query { // pre-norm: the block's first LayerNorm comes before attention
			layerNorm(blockPrefix(l.Name) + "layernorm_before")
		}
		add(l.Name+".weight", models.InitNormal, l.Out, l.In)
		if l.Bias {
			add(l.Name+".bias", models.InitZero, l.Out)
		}
		if l.Type == models.AttnOut {
			layerNorm(blockPrefix(l.Name) + "layernorm_after")
		}
	}
	layerNorm(p + "layernorm")
	add("classifier.weight", models.InitNormal, c.NumLabels, h)
	add("classifier.bias", models.InitZero, c.NumLabels)
	s[len(s)-1].Head, s[len(s)-2].Head = true, true
	return s
}

// blockLinears are the adaptable linears of one encoder layer, in order, by their
// Hugging Face module names (ViTLayer: attention.attention is ViTSelfAttention).
var blockLinears = []models.BlockLinear{
	{Name: "attention.attention.query", Type: models.Query},
	{Name: "attention.attention.key", Type: models.Key},
	{Name: "attention.attention.value", Type: models.Value},
	{Name: "attention.output.dense", Type: models.AttnOut},
	{Name: "intermediate.dense", Type: models.FFNUp},
	{Name: "output.dense", Type: models.FFNDown},
}

// layerPrefix is "vit.encoder.layer.<i>.".
func layerPrefix(i int64) string { return prefix + "encoder.layer." + strconv.FormatInt(i, 10) + "." }

// blockPrefix strips a linear's module name back to its layer's prefix.
func blockPrefix(linear string) string {
	for _, b := range blockLinears {
		if n := len(linear) - len(b.Name); n > 0 && linear[n:] == b.Name {
			return linear[:n]
		}
	}
	return linear
}

// LinearSpecs lists the adaptable linears from the configuration.
func LinearSpecs(c Config) []models.LinearSpec {
	out := models.BlockLinears(layerPrefix, c.NumHiddenLayers, blockLinears, c.HiddenSize, c.IntermediateSize)
	for i := range out {
		switch out[i].Type {
		case models.Query, models.Key, models.Value:
			out[i].Bias = c.QKVBias
		}
	}
	return out
}

// ShapeOf is the shape of a model from its configuration.
func ShapeOf(c Config) models.Shape { return models.ShapeOfSpecs(Specs(c), LinearSpecs(c)) }

// Model is a ViT with an image-classification head.
type Model struct {
	models.Weights
	Config Config
	// InterpolatePos lets the model take images of another size than Config.ImageSize by
	// resizing its position embeddings, as transformers' interpolate_pos_encoding=True
	// does. Off (the default, as in transformers), another size is an error: a model
	// silently run at a resolution it was not trained at is a different model.
	InterpolatePos bool
}

// New builds a model with transformers' random initialisation drawn from seed on the
// CPU: the same seed gives the same weights on every machine.
func New(c Config, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := models.NewRNG(seed, 0)
	init := func(s Spec) *ts.Tensor { return models.InitTensor(s, c.InitializerRange, rng) }
	return assemble(c, models.InitAll(Specs(c), init))
}

// assemble wires named tensors into a model; every Spec name must be present. Without
// qkv_bias Specs has no query/key/value bias, so the linears get none.
func assemble(c Config, tensors map[string]*ts.Tensor) (*Model, error) {
	w, err := models.Assemble("vit", Specs(c), LinearSpecs(c), tensors)
	if err != nil {
		return nil, err
	}
	return &Model{Weights: w, Config: c}, nil
}

// CheckInput says whether pixel batches of this shape (batch × channels × height ×
// width) fit the model: the channel count must match, and the image must have the
// pre-training size (config.json's image_size) unless InterpolatePos is set, in which
// case each side must hold at least one patch.
func (m *Model) CheckInput(shape []int64) error {
	c := m.Config
	switch {
	case len(shape) != 4:
		return fmt.Errorf("vit: pixel batch of shape %v, want batch × %d × height × width", shape, c.NumChannels)
	case shape[1] != c.NumChannels:
		return fmt.Errorf("vit: pixel batch has %d channels, the model %d", shape[1], c.NumChannels)
	case shape[2] < c.PatchSize || shape[3] < c.PatchSize:
		return fmt.Errorf("vit: image %d×%d is smaller than one %d×%d patch", shape[2], shape[3], c.PatchSize, c.PatchSize)
	case !m.InterpolatePos && (shape[2] != c.ImageSize || shape[3] != c.ImageSize):
		return fmt.Errorf("vit: image %d×%d, but the model's position embeddings are for %d×%d (config.json image_size %d): "+
			"resize the images to %d×%d, or interpolate the position embeddings (InterpolatePos; runner flag -interpolate-pos, "+
			"transformers' interpolate_pos_encoding=True)",
			shape[2], shape[3], c.ImageSize, c.ImageSize, c.ImageSize, c.ImageSize, c.ImageSize)
	}
	return nil
}

// Forward returns batch × NumLabels logits from pixels (batch × channels × height ×
// width, float32, normalised as the checkpoint's image processor does). The shape must
// pass CheckInput; Forward panics otherwise.
func (m *Model) Forward(pixels *ts.Tensor) *ts.Tensor {
	h := m.Encode(pixels)
	defer h.MustDrop()
	cls := h.MustSelect(1, 0, false) // the [CLS] token
	defer cls.MustDrop()
	return m.Dense("classifier", cls)
}

// Encode returns the last hidden state after the final LayerNorm (transformers'
// ViTModel last_hidden_state), batch × (1 + patches) × hidden.
func (m *Model) Encode(pixels *ts.Tensor) *ts.Tensor {
	h := m.encode(pixels, nil)
	defer h.MustDrop()
	return m.layerNorm(prefix+"layernorm", h)
}

// HiddenStates returns the embedding output and every layer's output (NumHiddenLayers + 1
// tensors), as transformers' output_hidden_states: before the final LayerNorm, which
// only Encode's last_hidden_state has.
func (m *Model) HiddenStates(pixels *ts.Tensor) []*ts.Tensor {
	var all []*ts.Tensor
	m.encode(pixels, &all)
	return all
}

// encode is the encoder stack without the final LayerNorm; with all non-nil it also
// keeps every hidden state.
func (m *Model) encode(pixels *ts.Tensor, all *[]*ts.Tensor) *ts.Tensor {
	layer := func(i int64, h *ts.Tensor) *ts.Tensor { return m.layer(int(i), h) }
	return models.RunLayers(m.Embed(pixels), m.Config.NumHiddenLayers, layer, all)
}

// Embed is the embedding output: [CLS] followed by the patch embeddings, plus the
// position embeddings, then dropout.
func (m *Model) Embed(pixels *ts.Tensor) *ts.Tensor {
	if err := m.CheckInput(pixels.MustSize()); err != nil {
		panic(err)
	}
	p := prefix + "embeddings."
	size := pixels.MustSize()
	patches := m.patchEmbed(pixels) // batch × patches × hidden
	cls := m.T(p+"cls_token").MustExpand([]int64{size[0], 1, m.Config.HiddenSize}, false, false)
	x := ts.MustCat([]*ts.Tensor{cls, patches}, 1)
	cls.MustDrop()
	patches.MustDrop()
	pos := m.positionEmbeddings(size[2], size[3])
	x = x.MustAdd(pos, true)
	pos.MustDrop()
	out := m.Dropout(x, m.Config.HiddenDropoutProb)
	x.MustDrop()
	return out
}

// patchEmbed cuts the image into non-overlapping patches and projects each to the
// hidden size: a convolution with kernel = stride = patch size, flattened row-major
// over the patch grid.
func (m *Model) patchEmbed(pixels *ts.Tensor) *ts.Tensor {
	name := prefix + "embeddings.patch_embeddings.projection"
	ps := m.Config.PatchSize
	conv := ts.MustConv2d(pixels, m.T(name+".weight"), m.T(name+".bias"),
		[]int64{ps, ps}, []int64{0, 0}, []int64{1, 1}, 1)
	return conv.MustFlatten(2, -1, true).MustTranspose(1, 2, true)
}

// positionEmbeddings returns 1 × (1 + patches) × hidden position embeddings for an
// image of height × width (another size than the pre-training one only with
// InterpolatePos, see CheckInput). At the pre-training resolution they are the learned
// ones; otherwise the patch grid of embeddings is resized bicubically, exactly as
// transformers' interpolate_pos_encoding (from DINO) does it: the target grid is
// offset by 0.1 patch to avoid a floating-point off-by-one in the output size, and
// the interpolation uses that scale factor, not the ratio of sizes.
func (m *Model) positionEmbeddings(height, width int64) *ts.Tensor {
	c := m.Config
	pos := m.T(prefix + "embeddings.position_embeddings")
	h0, w0 := height/c.PatchSize, width/c.PatchSize
	if h0*w0 == c.NumPatches() && height == width {
		return pos.MustShallowClone()
	}
	g := c.GridSize()
	clsPos := pos.MustNarrow(1, 0, 1, false)
	defer clsPos.MustDrop()
	grid := pos.MustNarrow(1, 1, g*g, false).
		MustReshape([]int64{1, g, g, c.HiddenSize}, true).
		MustPermute([]int64{0, 3, 1, 2}, true)
	scaleH := (float64(h0) + 0.1) / math.Sqrt(float64(g*g))
	scaleW := (float64(w0) + 0.1) / math.Sqrt(float64(g*g))
	// libtorch sizes the output as trunc(input · scale), and so do we.
	outH, outW := int64(float64(g)*scaleH), int64(float64(g)*scaleW)
	resized := grid.MustUpsampleBicubic2d([]int64{outH, outW}, false, []float64{scaleH}, []float64{scaleW}, true)
	flat := resized.MustPermute([]int64{0, 2, 3, 1}, true).MustReshape([]int64{1, outH * outW, c.HiddenSize}, true)
	defer flat.MustDrop()
	return ts.MustCat([]*ts.Tensor{clsPos, flat}, 1)
}

// layer is one pre-LayerNorm transformer block (ViTLayer):
// h' = h + attention(LN_before(h)); out = h' + FFN(LN_after(h')).
func (m *Model) layer(i int, h *ts.Tensor) *ts.Tensor {
	lin := m.Linears()[6*i : 6*i+6]
	p := blockPrefix(lin[0].Name)
	x := m.layerNorm(p+"layernorm_before", h)
	ctx := m.selfAttention(lin[0], lin[1], lin[2], x)
	x.MustDrop()
	a := lin[3].Forward(ctx, m.Training())
	ctx.MustDrop()
	h1 := m.residual(a, h)
	y := m.layerNorm(p+"layernorm_after", h1)
	up := lin[4].Forward(y, m.Training())
	y.MustDrop()
	act := models.Activation(m.Config.HiddenAct, up)
	up.MustDrop()
	down := lin[5].Forward(act, m.Training())
	act.MustDrop()
	out := m.residual(down, h1)
	h1.MustDrop()
	return out
}

// residual is dropout(x) + r; it frees x.
func (m *Model) residual(x, r *ts.Tensor) *ts.Tensor {
	d := m.Dropout(x, m.Config.HiddenDropoutProb)
	x.MustDrop()
	return d.MustAdd(r, true)
}

// selfAttention is multi-head scaled dot-product attention over every token (ViT has
// no padding, so no mask).
func (m *Model) selfAttention(q, k, v *models.Linear, x *ts.Tensor) *ts.Tensor {
	return m.SelfAttention(q, k, v, x, nil, m.Config.NumAttentionHeads, m.Config.AttentionProbsDropoutProb)
}

// layerNorm is a LayerNorm over the hidden size with the configured epsilon.
func (m *Model) layerNorm(name string, x *ts.Tensor) *ts.Tensor {
	return m.LayerNorm(name, x, m.Config.HiddenSize, m.Config.LayerNormEps)
}

// NumLabels is the width of the classification head.
func (m *Model) NumLabels() int64 { return m.Config.NumLabels }

var (
	_ models.Model                   = (*Model)(nil)
	_ models.LayerStates[*ts.Tensor] = (*Model)(nil)
)
