package unet

import (
	"runtime"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/models"
)

// Trainable counts on the sd fixture, by hand. It has four BasicTransformerBlocks:
// three at d = 8 channels (down_blocks.0, and up_blocks.1's two attentions) and one at
// d = 16 (the mid block); cross_attention_dim is 24 (> d, so min(out, in) of attn2's
// to_k/to_v is d). Per block:
//
//	VectorFit (singular values + biases): attn1 to_q, to_k, to_v d each (no bias),
//	to_out.0 d + d bias; attn2 the same (min(d, 24) = d); ff.net.0.proj min(8d, d) = d
//	+ 8d bias; ff.net.2 d + d bias: 5d + 5d + 9d + 2d = 21d.
//	→ 3·21·8 + 21·16 = 504 + 336 = 840.
//	LoRA r = 8, A r×in + B out×r: attn1 4·8·(d + d) = 64d; attn2 to_q, to_out.0
//	2·8·2d = 32d, to_k, to_v 2·8·(24 + d) = 16d + 384; ff 8·(d + 8d) + 8·(4d + d) = 112d:
//	224d + 384. → 3·(1792 + 384) + (3584 + 384) = 6528 + 3968 = 10496.
//	Full fine-tuning: every parameter, 52,644 (diffusers' sum of numel, printed by
//	gen_unet.py).
var wantCounts = map[string]int64{"vectorfit": 840, "lora": 10496, "fullft": 52644}

// VectorFit, LoRA and full fine-tuning apply to the UNet with no change in methods/:
// every attention and feed-forward linear is adapted, the trainable counts are the
// hand-computed ones, the output is unchanged at initialisation (against diffusers),
// and a few AdamW steps on an MSE loss lower it.
func TestMethodsApplyAndTrain(t *testing.T) {
	testmodel.CheckMethods(t, registry.New, func(t *testing.T) testmodel.MethodsFixture {
		m, io := loadFixture(t, "sd")
		sample, tt, ctx := io["sample"], io["timesteps"], io["encoder_hidden_states"]
		atInit := func(t *testing.T) {
			var out *ts.Tensor
			models.NoGrad(func() { out = m.Forward(sample, tt, ctx) })
			compare.Close(t, "out after Apply", out, io["out"], tol)
		}
		target := io["sample"] // a fixed target far from the output (in_channels = out_channels)
		loss := func(bool) *ts.Tensor {
			pred := m.Forward(sample, tt, ctx)
			defer pred.MustDrop()
			return pred.MustMseLoss(target, 1, false) // mean
		}
		return testmodel.MethodsFixture{Model: m, AtInit: atInit, Loss: loss}
	}, testmodel.MethodsWant{Adapter: wantCounts, Base: 52644, MinRelDrop: 0.05})
}

// Targets select cross-attention by the self-attention types ("query" is to_q of attn1
// and attn2, as PEFT's "to_q" on a UNet), and attn2's to_k/to_v take
// cross_attention_dim inputs.
func TestTargetsSelectCrossAttention(t *testing.T) {
	m, _ := loadFixture(t, "sd")
	got := methods.Targets(m.Linears(), []models.LayerType{models.Key, models.Value})
	if len(got) != 4*4 {
		t.Fatalf("%d key/value linears, want 16 (4 blocks × attn1, attn2 × to_k, to_v)", len(got))
	}
	cross := 0
	for _, l := range got {
		if l.In() == 24 {
			cross++
		}
	}
	if cross != 8 {
		t.Errorf("%d key/value linears read cross_attention_dim 24, want 8", cross)
	}
}

// BenchmarkTrainStep is one full fine-tuning step's forward and backward on the sd
// fixture (batch 2, 16×12 latents).
func BenchmarkTrainStep(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m, io := loadFixture(b, "sd")
	m.SetTraining(true)
	for b.Loop() {
		pred := m.Forward(io["sample"], io["timesteps"], io["encoder_hidden_states"])
		l := pred.MustMseLoss(io["out_float_t"], 1, true)
		l.MustBackward()
		l.MustDrop()
		for _, p := range m.Params() {
			p.T.MustGrad(false).MustZero_()
		}
	}
}
