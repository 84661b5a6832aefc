package clip

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// Model is transformers' CLIPModel: both towers and their projections, for scoring
// (CLIP-I: cosine of image embeddings; CLIP-T: of an image's and a prompt's).
type Model struct {
	models.Weights
	Config       Config
	text, vision *encoder
}

// VisionOutput is CLIPVisionModel's output.
type VisionOutput struct {
	// LastHiddenState is batch × (patches + 1) × hidden (no post_layernorm).
	LastHiddenState *ts.Tensor
	// Pooled is post_layernorm of the class token, batch × hidden (pooler_output).
	Pooled *ts.Tensor
}

// Drop frees both tensors.
func (o VisionOutput) Drop() { o.LastHiddenState.MustDrop(); o.Pooled.MustDrop() }

func assemble(c Config, tensors map[string]*ts.Tensor) (*Model, error) {
	w, err := models.Assemble("clip", Specs(c), LinearSpecs(c), tensors)
	if err != nil {
		return nil, err
	}
	m := &Model{Weights: w, Config: c}
	ls := m.Linears()
	t, v := c.Text, c.Vision
	nt := t.NumHiddenLayers * int64(len(layerLinears))
	m.text = newEncoder(&m.Weights, ls[:nt], textPrefix, t.NumHiddenLayers, t.HiddenSize, t.NumAttentionHeads, t.HiddenAct, t.LayerNormEps, t.AttentionDropout)
	m.vision = newEncoder(&m.Weights, ls[nt:], visionPrefix, v.NumHiddenLayers, v.HiddenSize, v.NumAttentionHeads, v.HiddenAct, v.LayerNormEps, v.AttentionDropout)
	return m, nil
}

// Text is the text tower (CLIPTextModel's output); attentionMask may be nil.
func (m *Model) Text(inputIDs, attentionMask *ts.Tensor) TextOutput {
	return runText(&m.Weights, m.text, m.Config.Text, inputIDs, attentionMask, nil)
}

// Vision is the vision tower on pixel_values (float32 batch × channels × image_size ×
// image_size, as CLIPImageProcessor gives them).
func (m *Model) Vision(pixels *ts.Tensor) VisionOutput { return m.runVision(pixels, nil) }

// VisionHiddenStates is Vision plus output_hidden_states: the encoder input (after
// pre_layrnorm), then each layer's output.
func (m *Model) VisionHiddenStates(pixels *ts.Tensor) (VisionOutput, []*ts.Tensor) {
	var all []*ts.Tensor
	out := m.runVision(pixels, &all)
	return out, all
}

// TextFeatures is get_text_features: text_projection(pooled), batch × projection_dim.
func (m *Model) TextFeatures(inputIDs, attentionMask *ts.Tensor) *ts.Tensor {
	out := m.Text(inputIDs, attentionMask)
	defer out.Drop()
	return models.Dense(out.Pooled, m.T("text_projection.weight"), nil)
}

// ImageFeatures is get_image_features: visual_projection(pooled), batch × projection_dim.
func (m *Model) ImageFeatures(pixels *ts.Tensor) *ts.Tensor {
	out := m.Vision(pixels)
	defer out.Drop()
	return models.Dense(out.Pooled, m.T("visual_projection.weight"), nil)
}

// runVision is CLIPVisionTransformer: patch embedding (a stride-patch convolution
// without bias), the class embedding prepended, position embeddings added,
// pre_layrnorm, the encoder, and post_layernorm of the class token.
func (m *Model) runVision(pixels *ts.Tensor, all *[]*ts.Tensor) VisionOutput {
	var s models.Scratch
	defer s.Drop()
	v := m.Config.Vision
	b := pixels.MustSize()[0]
	p := visionPrefix + "embeddings."
	conv := s.Keep(ts.MustConv2d(pixels, m.T(p+"patch_embedding.weight"), ts.NewTensor(),
		[]int64{v.PatchSize, v.PatchSize}, []int64{0, 0}, []int64{1, 1}, 1))
	patches := s.Keep(conv.MustFlatten(2, -1, false).MustTranspose(1, 2, true))
	cls := s.Keep(m.T(p+"class_embedding").MustView([]int64{1, 1, v.HiddenSize}, false).MustExpand([]int64{b, 1, v.HiddenSize}, false, true))
	emb := s.Keep(ts.MustCat([]*ts.Tensor{cls, patches}, 1))
	h := s.Keep(emb.MustAdd(m.T(p+"position_embedding.weight"), false))
	pre := m.LayerNorm(visionPrefix+"pre_layrnorm", h, v.HiddenSize, v.LayerNormEps)
	last := m.vision.run(pre, nil, all)
	cls0 := s.Keep(last.MustSelect(1, 0, false))
	pooled := m.LayerNorm(visionPrefix+"post_layernorm", cls0, v.HiddenSize, v.LayerNormEps)
	if all != nil { // the caller owns the states, last among them: hand out a copy
		last = last.MustShallowClone()
	}
	return VisionOutput{LastHiddenState: last, Pooled: pooled}
}

// LoadReport says what loading a checkpoint did beyond copying tensors.
type LoadReport struct {
	// Weights is the file the tensors came from.
	Weights string
	models.LoadReport
}

// LoadText builds the text encoder from a diffusers text_encoder/ folder (config.json of
// model_type clip_text_model, model.safetensors or pytorch_model.bin) or a full CLIP
// folder (its text_config; the vision tower and projections are reported as Ignored).
func LoadText(dir string) (*TextModel, LoadReport, error) {
	m, rep, weights, err := models.LoadFolder(dir, LoadTextConfig, models.WeightsFile, TextFromTensors)
	rep.Weights = weights
	return m, rep, err
}

// TextFromTensors builds the text encoder from a checkpoint's tensors by Hugging Face
// name ("text_model.…"). Every parameter must be there with its shape; any missing,
// unexpected or mis-shaped tensor is one error naming source.
func TextFromTensors(c TextConfig, ckpt map[string]*ts.Tensor, source string) (*TextModel, LoadReport, error) {
	if err := c.Validate(); err != nil {
		return nil, LoadReport{}, fmt.Errorf("%s: %w", source, err)
	}
	tensors, rep, err := models.MatchCheckpoint(TextSpecs(c), ckpt, source, models.Match{
		Ignorable: func(n string) bool { return otherTower(n) || positionIDs(n) },
		Fresh:     func(Spec) bool { return false },
		Model: fmt.Sprintf("a CLIP text model with %d layers, hidden %d, vocab %d, %d positions",
			c.NumHiddenLayers, c.HiddenSize, c.VocabSize, c.MaxPositionEmbeddings),
	})
	if err != nil {
		return nil, LoadReport{LoadReport: rep}, err
	}
	m, err := assembleText(c, tensors)
	return m, LoadReport{LoadReport: rep}, err
}

// Load builds CLIPModel from a full CLIP folder (openai/clip-vit-*): config.json with
// text_config and vision_config, model.safetensors or pytorch_model.bin.
func Load(dir string) (*Model, LoadReport, error) {
	m, rep, weights, err := models.LoadFolder(dir, LoadConfig, models.WeightsFile, FromTensors)
	rep.Weights = weights
	return m, rep, err
}

// FromTensors builds CLIPModel from a checkpoint's tensors, as TextFromTensors.
func FromTensors(c Config, ckpt map[string]*ts.Tensor, source string) (*Model, LoadReport, error) {
	if err := c.Validate(); err != nil {
		return nil, LoadReport{}, fmt.Errorf("%s: %w", source, err)
	}
	tensors, rep, err := models.MatchCheckpoint(Specs(c), ckpt, source, models.Match{
		Ignorable: positionIDs,
		Fresh:     func(Spec) bool { return false },
		Model: fmt.Sprintf("a CLIP model with %d text and %d vision layers, hidden %d / %d, projection %d",
			c.Text.NumHiddenLayers, c.Vision.NumHiddenLayers, c.Text.HiddenSize, c.Vision.HiddenSize, c.ProjectionDim),
	})
	if err != nil {
		return nil, LoadReport{LoadReport: rep}, err
	}
	m, err := assemble(c, tensors)
	return m, LoadReport{LoadReport: rep}, err
}

var _ models.Model = (*Model)(nil)
