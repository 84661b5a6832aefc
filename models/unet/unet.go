package unet

import (
	"fmt"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// Spec is one parameter's name and shape, known from the configuration alone.
type Spec = models.ParamSpec

// resnet is one ResnetBlock2D: in → out channels (a 1×1 conv_shortcut when they differ).
type resnet struct {
	name    string
	in, out int64
}

// transformer is one Transformer2DModel over channels, with layers BasicTransformerBlocks
// of heads heads each.
type transformer struct {
	name                    string
	channels, heads, layers int64
}

// block is one down, mid or up block: its resnets, the transformer after each resnet
// (cross-attention blocks; the mid block has one transformer between two resnets), and
// the down- or upsampling conv after them, if any.
type block struct {
	name         string
	resnets      []resnet
	transformers []transformer
	// sampler is "downsamplers.0.conv", "upsamplers.0.conv" or "".
	sampler  string
	channels int64 // the block's output channels
	// scale divides each resnet's output (output_scale_factor).
	scale float64
}

// plan is the UNet's layout in diffusers' registration order: down blocks, up blocks,
// mid block (named_parameters lists the up blocks before the mid block).
type plan struct {
	down, up []block
	mid      block
}

// layout follows UNet2DConditionModel.__init__ and get_down_block / get_up_block.
func layout(c Config) plan {
	n := c.blocks()
	boc := c.BlockOutChannels
	var p plan
	out := boc[0]
	for i, typ := range c.DownBlockTypes {
		in := out
		out = boc[i]
		b := block{name: fmt.Sprintf("down_blocks.%d", i), channels: out, scale: 1}
		for j := range c.LayersPerBlock.At(i) {
			rin := out
			if j == 0 {
				rin = in
			}
			b.resnets = append(b.resnets, resnet{fmt.Sprintf("%s.resnets.%d", b.name, j), rin, out})
			if typ == CrossAttnDown {
				b.transformers = append(b.transformers, transformer{fmt.Sprintf("%s.attentions.%d", b.name, j),
					out, c.AttentionHeadDim.At(i), c.TransformerLayersPerBlock.At(i)})
			}
		}
		if i < n-1 {
			b.sampler = "downsamplers.0.conv"
		}
		p.down = append(p.down, b)
	}
	last := boc[n-1]
	p.mid = block{name: "mid_block", channels: last, scale: c.MidBlockScaleFactor,
		resnets: []resnet{{"mid_block.resnets.0", last, last}, {"mid_block.resnets.1", last, last}},
		transformers: []transformer{{"mid_block.attentions.0", last, c.AttentionHeadDim.Last(n),
			c.TransformerLayersPerBlock.Last(n)}}}
	out = boc[n-1]
	for i, typ := range c.UpBlockTypes {
		r := n - 1 - i // the reversed lists' index i
		prev := out
		out = boc[r]
		in := boc[max(r-1, 0)] // reversed_block_out_channels[min(i + 1, n − 1)]
		b := block{name: fmt.Sprintf("up_blocks.%d", i), channels: out, scale: 1}
		layers := c.LayersPerBlock.At(r) + 1
		for j := range layers {
			skip := out
			if j == layers-1 {
				skip = in
			}
			rin := out
			if j == 0 {
				rin = prev
			}
			b.resnets = append(b.resnets, resnet{fmt.Sprintf("%s.resnets.%d", b.name, j), rin + skip, out})
			if typ == CrossAttnUp {
				b.transformers = append(b.transformers, transformer{fmt.Sprintf("%s.attentions.%d", b.name, j),
					out, c.AttentionHeadDim.At(r), c.TransformerLayersPerBlock.At(r)})
			}
		}
		if i < n-1 {
			b.sampler = "upsamplers.0.conv"
		}
		p.up = append(p.up, b)
	}
	return p
}

// blockName is transformer t's k-th BasicTransformerBlock.
func (t transformer) blockName(k int64) string {
	return fmt.Sprintf("%s.transformer_blocks.%d", t.name, k)
}

// transformerLinears are one BasicTransformerBlock's adaptable linears in order: attn1
// (self-attention) and attn2 (cross-attention) to_q, to_k, to_v, to_out.0, then the
// GEGLU feed-forward ff.net.0.proj (d → 2·4d: value and gate halves) and ff.net.2
// (4d → d). Cross-attention reuses the self-attention types, as PEFT's "to_q" selects
// both. to_q/to_k/to_v have no bias (attention_bias false).
func transformerLinears(name string, d, cross int64) []models.LinearSpec {
	var out []models.LinearSpec
	for _, a := range []struct {
		attn string
		kv   int64
	}{{"attn1", d}, {"attn2", cross}} {
		out = append(out,
			models.LinearSpec{Name: name + "." + a.attn + ".to_q", Type: models.Query, Out: d, In: d},
			models.LinearSpec{Name: name + "." + a.attn + ".to_k", Type: models.Key, Out: d, In: a.kv},
			models.LinearSpec{Name: name + "." + a.attn + ".to_v", Type: models.Value, Out: d, In: a.kv},
			models.LinearSpec{Name: name + "." + a.attn + ".to_out.0", Type: models.AttnOut, Out: d, In: d, Bias: true})
	}
	return append(out,
		models.LinearSpec{Name: name + ".ff.net.0.proj", Type: models.FFNUp, Out: 8 * d, In: d, Bias: true},
		models.LinearSpec{Name: name + ".ff.net.2", Type: models.FFNDown, Out: d, In: 4 * d, Bias: true})
}

// linearsPerBlock is the number of adaptable linears of one BasicTransformerBlock.
const linearsPerBlock = 10

// walk visits the plan's blocks in registration order.
func (p plan) walk(fn func(b block)) {
	for _, b := range p.down {
		fn(b)
	}
	for _, b := range p.up {
		fn(b)
	}
	fn(p.mid)
}

// Specs lists the parameters of UNet2DConditionModel, named and ordered as its
// named_parameters().
func Specs(c Config) []Spec {
	var s models.SpecList
	conv := func(name string, out, in, k int64) {
		s.Add(name+".weight", models.InitNormal, out, in, k, k)
		s.Add(name+".bias", models.InitZero, out)
	}
	norm := func(name string, ch int64) { s.LayerNorm(name, ch) } // GroupNorm and LayerNorm: weight 1, bias 0
	linear := func(l models.LinearSpec) {
		s.Add(l.Name+".weight", models.InitNormal, l.Out, l.In)
		if l.Bias {
			s.Add(l.Name+".bias", models.InitZero, l.Out)
		}
	}
	boc0, td := c.BlockOutChannels[0], c.timeDim()
	conv("conv_in", boc0, c.InChannels, 3)
	s.Linear("time_embedding.linear_1", td, boc0)
	s.Linear("time_embedding.linear_2", td, td)
	layout(c).walk(func(b block) {
		for _, t := range b.transformers { // registered before the resnets
			d := t.channels
			norm(t.name+".norm", d)
			proj := func(name string) {
				if c.UseLinearProjection {
					s.Linear(name, d, d)
				} else {
					conv(name, d, d, 1)
				}
			}
			proj(t.name + ".proj_in")
			for k := range t.layers {
				ls := transformerLinears(t.blockName(k), d, c.crossDim())
				norm(t.blockName(k)+".norm1", d)
				for _, l := range ls[0:4] {
					linear(l)
				}
				norm(t.blockName(k)+".norm2", d)
				for _, l := range ls[4:8] {
					linear(l)
				}
				norm(t.blockName(k)+".norm3", d)
				for _, l := range ls[8:10] {
					linear(l)
				}
			}
			proj(t.name + ".proj_out")
		}
		for _, r := range b.resnets {
			norm(r.name+".norm1", r.in)
			conv(r.name+".conv1", r.out, r.in, 3)
			s.Linear(r.name+".time_emb_proj", r.out, td)
			norm(r.name+".norm2", r.out)
			conv(r.name+".conv2", r.out, r.out, 3)
			if r.in != r.out {
				conv(r.name+".conv_shortcut", r.out, r.in, 1)
			}
		}
		if b.sampler != "" {
			conv(b.name+"."+b.sampler, b.channels, b.channels, 3)
		}
	})
	norm("conv_norm_out", boc0)
	conv("conv_out", c.OutChannels, boc0, 3)
	return s
}

// LinearSpecs lists the adaptable linears: every BasicTransformerBlock's ten, in
// registration order (down blocks, up blocks, mid block).
func LinearSpecs(c Config) []models.LinearSpec {
	var out []models.LinearSpec
	layout(c).walk(func(b block) {
		for _, t := range b.transformers {
			for k := range t.layers {
				out = append(out, transformerLinears(t.blockName(k), t.channels, c.crossDim())...)
			}
		}
	})
	return out
}

// ShapeOf is the shape of the model from its configuration.
func ShapeOf(c Config) models.Shape { return models.ShapeOfSpecs(Specs(c), LinearSpecs(c)) }

// Model is UNet2DConditionModel.
type Model struct {
	models.Weights
	Config Config
	plan   plan
	// linears maps a BasicTransformerBlock's name to its ten linears in
	// transformerLinears order.
	linears map[string][]*models.Linear
}

// New builds a model with N(0, 0.02²) weights (zero biases, unit norms) drawn from seed,
// for benchmarks and tests without a checkpoint (diffusers' own initialisation is
// PyTorch's default, not reproduced).
func New(c Config, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := models.NewRNG(seed, 0)
	return assemble(c, models.InitAll(Specs(c), func(s Spec) *ts.Tensor { return models.InitTensor(s, 0.02, rng) }))
}

func assemble(c Config, tensors map[string]*ts.Tensor) (*Model, error) {
	w, err := models.Assemble("unet", Specs(c), LinearSpecs(c), tensors)
	if err != nil {
		return nil, err
	}
	m := &Model{Weights: w, Config: c, plan: layout(c), linears: map[string][]*models.Linear{}}
	ls := m.Linears()
	m.plan.walk(func(b block) {
		for _, t := range b.transformers {
			for k := range t.layers {
				m.linears[t.blockName(k)] = ls[:linearsPerBlock]
				ls = ls[linearsPerBlock:]
			}
		}
	})
	return m, nil
}

var _ models.Model = (*Model)(nil)
