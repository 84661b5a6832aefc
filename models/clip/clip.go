package clip

import (
	"math"
	"strconv"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// Spec is one parameter's name and shape, known from the configuration alone.
type Spec = models.ParamSpec

const (
	textPrefix   = "text_model."
	visionPrefix = "vision_model."
)

func layerName(tower string) func(int64) string {
	return func(i int64) string { return tower + "encoder.layers." + strconv.FormatInt(i, 10) + "." }
}

// encoderSpecs are CLIPEncoder's parameters in named_parameters() order: per layer
// self_attn (k, v, q, out), layer_norm1, mlp (fc1, fc2), layer_norm2.
func encoderSpecs(s *models.SpecList, tower string, layers, hidden, inter int64) {
	for i := range layers {
		l := layerName(tower)(i)
		for _, p := range []string{"k_proj", "v_proj", "q_proj", "out_proj"} {
			s.Linear(l+"self_attn."+p, hidden, hidden)
		}
		s.LayerNorm(l+"layer_norm1", hidden)
		s.Linear(l+"mlp.fc1", inter, hidden)
		s.Linear(l+"mlp.fc2", hidden, inter)
		s.LayerNorm(l+"layer_norm2", hidden)
	}
}

func textSpecs(s *models.SpecList, c TextConfig) {
	s.Add(textPrefix+"embeddings.token_embedding.weight", models.InitNormal, c.VocabSize, c.HiddenSize)
	s.Add(textPrefix+"embeddings.position_embedding.weight", models.InitNormal, c.MaxPositionEmbeddings, c.HiddenSize)
	encoderSpecs(s, textPrefix, c.NumHiddenLayers, c.HiddenSize, c.IntermediateSize)
	s.LayerNorm(textPrefix+"final_layer_norm", c.HiddenSize)
}

func (v VisionConfig) numPositions() int64 { p := v.ImageSize / v.PatchSize; return p*p + 1 }

func visionSpecs(s *models.SpecList, v VisionConfig) {
	s.Add(visionPrefix+"embeddings.class_embedding", models.InitNormal, v.HiddenSize)
	s.Add(visionPrefix+"embeddings.patch_embedding.weight", models.InitNormal, v.HiddenSize, v.NumChannels, v.PatchSize, v.PatchSize)
	s.Add(visionPrefix+"embeddings.position_embedding.weight", models.InitNormal, v.numPositions(), v.HiddenSize)
	s.LayerNorm(visionPrefix+"pre_layrnorm", v.HiddenSize) // sic: transformers' name
	encoderSpecs(s, visionPrefix, v.NumHiddenLayers, v.HiddenSize, v.IntermediateSize)
	s.LayerNorm(visionPrefix+"post_layernorm", v.HiddenSize)
}

// TextSpecs lists CLIPTextModel's parameters, named as in its checkpoint ("text_model.…").
func TextSpecs(c TextConfig) []Spec {
	var s models.SpecList
	textSpecs(&s, c)
	return s
}

// Specs lists CLIPModel's parameters: both towers, the two projections (no bias) and
// logit_scale.
func Specs(c Config) []Spec {
	var s models.SpecList
	textSpecs(&s, c.Text)
	visionSpecs(&s, c.Vision)
	s.Add("visual_projection.weight", models.InitNormal, c.ProjectionDim, c.Vision.HiddenSize)
	s.Add("text_projection.weight", models.InitNormal, c.ProjectionDim, c.Text.HiddenSize)
	s.Add("logit_scale", models.InitOne)
	return s
}

// layerLinears are one encoder layer's adaptable linears, in order.
var layerLinears = []models.BlockLinear{
	{Name: "self_attn.q_proj", Type: models.Query},
	{Name: "self_attn.k_proj", Type: models.Key},
	{Name: "self_attn.v_proj", Type: models.Value},
	{Name: "self_attn.out_proj", Type: models.AttnOut},
	{Name: "mlp.fc1", Type: models.FFNUp},
	{Name: "mlp.fc2", Type: models.FFNDown},
}

// TextLinearSpecs lists the text encoder's adaptable linears (6 per layer).
func TextLinearSpecs(c TextConfig) []models.LinearSpec {
	return models.BlockLinears(layerName(textPrefix), c.NumHiddenLayers, layerLinears, c.HiddenSize, c.IntermediateSize)
}

// LinearSpecs lists CLIPModel's adaptable linears: the text encoder's, then the vision
// encoder's. The projections are not among them (no method adapts them).
func LinearSpecs(c Config) []models.LinearSpec {
	v := c.Vision
	return append(TextLinearSpecs(c.Text),
		models.BlockLinears(layerName(visionPrefix), v.NumHiddenLayers, layerLinears, v.HiddenSize, v.IntermediateSize)...)
}

// encoder is CLIPEncoder: pre-LayerNorm layers over one tower's weights.
type encoder struct {
	w      *models.Weights
	tower  string
	hidden int64
	heads  int64
	act    string
	eps    float64
	drop   float64
	layers [][]*models.Linear
}

func newEncoder(w *models.Weights, ls []*models.Linear, tower string, n, hidden, heads int64, act string, eps, drop float64) *encoder {
	e := &encoder{w: w, tower: tower, hidden: hidden, heads: heads, act: act, eps: eps, drop: drop}
	k := int64(len(layerLinears))
	for i := range n {
		e.layers = append(e.layers, ls[i*k:(i+1)*k])
	}
	return e
}

// run applies every layer to h (freed); all, if non-nil, keeps every state.
func (e *encoder) run(h, bias *ts.Tensor, all *[]*ts.Tensor) *ts.Tensor {
	layer := func(i int64, h *ts.Tensor) *ts.Tensor { return e.layer(e.layers[i], layerName(e.tower)(i), h, bias) }
	return models.RunLayers(h, int64(len(e.layers)), layer, all)
}

// layer is CLIPEncoderLayer: h + attn(LN1(h)), then + mlp(LN2(·)).
func (e *encoder) layer(lin []*models.Linear, p string, h, bias *ts.Tensor) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	train := e.w.Training()
	n1 := s.Keep(e.w.LayerNorm(p+"layer_norm1", h, e.hidden, e.eps))
	a := s.Keep(e.attention(lin, n1, bias))
	h1 := s.Keep(h.MustAdd(a, false))
	n2 := s.Keep(e.w.LayerNorm(p+"layer_norm2", h1, e.hidden, e.eps))
	up := s.Keep(lin[4].Forward(n2, train))
	act := s.Keep(activation(e.act, up))
	down := s.Keep(lin[5].Forward(act, train))
	return h1.MustAdd(down, false)
}

// attention is CLIPAttention: q scaled by head_dim^−½ before the product (the same
// order as transformers), softmax(q kᵀ + bias), context, out_proj.
func (e *encoder) attention(lin []*models.Linear, x, bias *ts.Tensor) *ts.Tensor {
	var s models.Scratch
	defer s.Drop()
	train := e.w.Training()
	size := x.MustSize()
	b, n, d := size[0], size[1], size[2]
	hd := d / e.heads
	split := func(t *ts.Tensor) *ts.Tensor {
		return s.Keep(t.MustView([]int64{b, n, e.heads, hd}, false).MustTranspose(1, 2, true))
	}
	q := s.Keep(lin[0].Forward(x, train))
	q = s.Keep(q.MustMulScalar(ts.FloatScalar(math.Pow(float64(hd), -0.5)), false))
	k := s.Keep(lin[1].Forward(x, train))
	v := s.Keep(lin[2].Forward(x, train))
	qh, kh, vh := split(q), split(k), split(v)
	scores := s.Keep(qh.MustMatmul(s.Keep(kh.MustTranspose(-1, -2, false)), false))
	if bias != nil {
		scores = s.Keep(scores.MustAdd(bias, false))
	}
	probs := s.Keep(scores.MustSoftmax(-1, gotch.Float, false))
	dp := s.Keep(e.w.Dropout(probs, e.drop))
	ctx := s.Keep(dp.MustMatmul(vh, false))
	merged := s.Keep(ctx.MustTranspose(1, 2, false).MustContiguous(true).MustView([]int64{b, n, d}, true))
	return lin[3].Forward(merged, train)
}

// activation is ACT2FN[hidden_act]; quick_gelu is x·σ(1.702x), CLIP's own.
func activation(name string, x *ts.Tensor) *ts.Tensor {
	if name == "quick_gelu" {
		s := x.MustMulScalar(ts.FloatScalar(1.702), false)
		sig := s.MustSigmoid(true)
		out := x.MustMul(sig, false)
		sig.MustDrop()
		return out
	}
	return models.Activation(name, x)
}

// minFloat is torch.finfo(float32).min, transformers' masked score.
const minFloat = -math.MaxFloat32

// textBias is the additive attention mask of the text encoder: the causal mask (1 × 1 ×
// n × n, minFloat above the diagonal) plus, given a padding mask, minFloat on padded
// keys (batch × 1 × 1 × n). transformers adds the two to the scores one after the
// other; a key both future and padded gets −inf, which softmax treats the same.
func textBias(n int64, mask *ts.Tensor, dev gotch.Device) *ts.Tensor {
	ones := ts.MustOnes([]int64{n, n}, gotch.Bool, dev)
	future := ones.MustTriu(1, true).MustView([]int64{1, 1, n, n}, true)
	z := ts.MustZeros([]int64{1, 1, n, n}, gotch.Float, dev)
	bias := z.MustMaskedFill(future, ts.FloatScalar(minFloat), true)
	future.MustDrop()
	if mask == nil {
		return bias
	}
	pad := mask.MustEq(ts.IntScalar(0), false)
	pz := ts.MustZeros(mask.MustSize(), gotch.Float, dev)
	pb := pz.MustMaskedFill(pad, ts.FloatScalar(minFloat), true).MustView([]int64{-1, 1, 1, n}, true)
	pad.MustDrop()
	out := bias.MustAdd(pb, true)
	pb.MustDrop()
	return out
}
