package sd_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/imaging"
	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/models/scheduler"
	"github.com/vectorfit/harness/models/sd"
	"github.com/vectorfit/harness/suites/diffusion"
)

// The end-to-end reference of scripts/fixtures/gen_sd_pipeline.py (testdata/README.md):
// a tiny random diffusers StableDiffusionPipeline folder and what diffusers 0.30.3
// computes with it.
var (
	tinySD  = filepath.Join("testdata", "tiny-sd")
	prompts = []string{"a photo of sks dog", "a red backpack on the beach"}
)

const (
	steps, guidance = 4, 7.5
	lossSeed        = 1234 // SEED of the generator script
	generateSeed    = 77   // GEN_SEED
)

func reference(t *testing.T) map[string]*ts.Tensor {
	t.Helper()
	ref, err := safetensors.Load(filepath.Join("testdata", "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// load reads the folder; class, when not "", samples with that scheduler class read
// from the folder's config (as diffusers' DDIMScheduler.from_config(pndm.config)).
func load(t *testing.T, class string) *sd.Pipeline {
	t.Helper()
	p, err := sd.Load(tinySD, steps)
	if err != nil {
		t.Fatal(err)
	}
	if class != "" {
		if p.Scheduler, err = scheduler.LoadConfigAs(filepath.Join(tinySD, "scheduler", "scheduler_config.json"), class); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// suite is the pipeline as suites/diffusion drives it.
func suite(p *sd.Pipeline) diffusion.Pipeline {
	return diffusion.Pipeline{Text: p, VAE: p, UNet: p, Schedule: p, Sampler: p,
		LatentChannels: int64(p.VAE.Config.LatentChannels), LatentFactor: p.LatentFactor()}
}

// The prompts' embeddings and the empty prompt's (pipe.encode_prompt: the tokenizer
// padded to 77, the text encoder's last hidden state).
func TestPromptEmbeddingsMatchDiffusers(t *testing.T) {
	ref, p := reference(t), load(t, "")
	got, err := p.EncodePrompts(append(append([]string{}, prompts...), ""))
	if err != nil {
		t.Fatal(err)
	}
	compare.Close(t, "embeds", got, ref["embeds"], 1e-5)
}

// pixelsToImages is diffusers' postprocess of decoded pixels for output_type "np"
// ((x/2 + 0.5) clamped to [0, 1], batch × H × W × 3) and ToImage's 8-bit images.
func pixelsToImages(t *testing.T, pixels *ts.Tensor) (*ts.Tensor, []*imaging.RGB) {
	t.Helper()
	size := pixels.MustSize()
	np := pixels.MustDivScalar(ts.FloatScalar(2), false).MustAddScalar(ts.FloatScalar(0.5), true).
		MustClamp(ts.FloatScalar(0), ts.FloatScalar(1), true).MustPermute([]int64{0, 2, 3, 1}, true).MustContiguous(true)
	vals := pixels.MustContiguous(false).Vals().([]float32)
	per := int(3 * size[2] * size[3])
	var images []*imaging.RGB
	for i := range int(size[0]) {
		m, err := diffusion.ToImage(vals[i*per:(i+1)*per], int(size[2]), int(size[3]))
		if err != nil {
			t.Fatal(err)
		}
		images = append(images, m)
	}
	return np, images
}

// compareUint8 allows one level on values that sit at a rounding boundary: a float
// difference of 1e-6 may cross x.5. It fails above one level or on more than 1% of
// the values.
func compareUint8(t *testing.T, name string, got []*imaging.RGB, want *ts.Tensor) {
	t.Helper()
	w := want.Vals().([]uint8)
	var pix []uint8
	for _, m := range got {
		pix = append(pix, m.Pix...) // H × W × 3 per image, as numpy's
	}
	if len(pix) != len(w) {
		t.Fatalf("%s: %d values, want %d", name, len(pix), len(w))
	}
	off, worst := 0, 0
	for i := range w {
		if d := int(pix[i]) - int(w[i]); d != 0 {
			off, worst = off+1, max(worst, d, -d)
		}
	}
	t.Logf("%s: %d of %d values differ, by at most %d", name, off, len(w), worst)
	if worst > 1 || off*100 > len(w) {
		t.Errorf("%s: %d of %d 8-bit values differ from diffusers', by up to %d levels; want ≤ 1 level on ≤ 1%%", name, off, len(w), worst)
	}
}

// A full guided pipeline call (classifier-free guidance 7.5, 4 steps, 2 images of one
// prompt) from the recorded initial latents, with the folder's PNDM scheduler and
// with DDIM: the float images to 1e-4 and the 8-bit ones.
func TestGuidedSamplingMatchesDiffusers(t *testing.T) {
	ref := reference(t)
	for _, tc := range []struct{ name, class string }{{"pndm", ""}, {"ddim", scheduler.DDIM}} {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, tc.class)
			s := &diffusion.Sampling{Pipe: suite(p), Device: gotch.CPU, Resolution: 16, GuidanceScale: guidance}
			pixels, err := s.GenerateFrom(prompts[0], ref["init_latents"])
			if err != nil {
				t.Fatal(err)
			}
			np, images := pixelsToImages(t, pixels)
			compare.Close(t, tc.name+"_images", np, ref[tc.name+"_images"], 1e-4)
			compareUint8(t, tc.name+"_uint8", images, ref[tc.name+"_uint8"])
		})
	}
	// The two schedulers' references differ, so a sampler mix-up would show.
	if d := compare.MaxAbsDiff(t, "pndm vs ddim", ref["pndm_images"], ref["ddim_images"]); d < 1e-2 {
		t.Fatalf("the PNDM and DDIM references differ by only %g", d)
	}
}

// Sampling.Generate draws its latents as the pipeline's generator=
// torch.Generator().manual_seed(seed) does (libtorch's CPU generator, 2 × 4 × 8 × 8),
// so the seeded call gives diffusers' images.
func TestGenerateFromSeedMatchesDiffusers(t *testing.T) {
	ref, p := reference(t), load(t, "")
	s := &diffusion.Sampling{Pipe: suite(p), Device: gotch.CPU, Resolution: 16, GuidanceScale: guidance}
	images, err := s.Generate(prompts[0], 2, generateSeed)
	if err != nil {
		t.Fatal(err)
	}
	compareUint8(t, "generated_uint8", images, ref["generated_uint8"])
}

// The VAE encoder's latent distribution of one image, times scaling_factor.
func TestLatentDistributionMatchesDiffusers(t *testing.T) {
	ref, p := reference(t), load(t, "")
	mean, std, err := p.LatentDistribution(ref["vae_image"])
	if err != nil {
		t.Fatal(err)
	}
	compare.Close(t, "vae_mean", mean, ref["vae_mean"], 1e-5)
	compare.Close(t, "vae_std", std, ref["vae_std"], 1e-5)
}

func closeRel(t *testing.T, name string, got, want float64) {
	t.Helper()
	rel := math.Abs(got-want) / math.Abs(want)
	t.Logf("%s: %.9g, diffusers %.9g, relative difference %.3g", name, got, want, rel)
	if !(rel <= 1e-5) {
		t.Errorf("%s = %.9g, diffusers %.9g: relative difference %g, want ≤ 1e-5", name, got, want, rel)
	}
}

// One train_dreambooth.py step with prior preservation for given latents, noise and
// timesteps (instance row first, class row second): add_noise, the UNet's ε,
// mse(instance) + 1.0·mse(class).
func TestDreamBoothLossMatchesDiffusers(t *testing.T) {
	ref, p := reference(t), load(t, "")
	latents, noise := ref["loss_latents"], ref["loss_noise"]
	tsteps := ref["loss_timesteps"].Vals().([]int64)
	cond, err := p.EncodePrompts(prompts)
	if err != nil {
		t.Fatal(err)
	}
	var loss float64
	models.NoGrad(func() {
		noisy, err := p.AddNoise(latents, noise, tsteps)
		if err != nil {
			t.Fatal(err)
		}
		target, err := p.Target(latents, noise, tsteps)
		if err != nil {
			t.Fatal(err)
		}
		pred, err := p.Predict(noisy, ref["loss_timesteps"], cond)
		if err != nil {
			t.Fatal(err)
		}
		for i := range int64(2) {
			row := pred.MustNarrow(0, i, 1, false).MustMseLoss(target.MustNarrow(0, i, 1, false), 1, true)
			loss += row.Float64Values()[0]
		}
	})
	closeRel(t, "loss", loss, ref["loss"].Float64Values()[0])
}

type fakeScorer struct{}

func (fakeScorer) embed(images []*imaging.RGB) ([][]float32, error) { return [][]float32{{1}}, nil }

// The suite's DreamBooth.Loss draws the latent sample, the noise and the timesteps as
// train_dreambooth.py does (latent_dist.sample(), randn_like, randint, from libtorch's
// generator after torch.manual_seed): seeded alike, the loss is diffusers'.
func TestDreamBoothSeededLossMatchesDiffusers(t *testing.T) {
	ref, p := reference(t), load(t, "")
	imgs := ref["seeded_images"].MustContiguous(false).Vals().([]float32)
	per := len(imgs) / 2
	f := fakeScorer{}
	subject := diffusion.Subject{InstancePrompt: prompts[0], ClassPrompt: prompts[1], EvalPrompts: prompts[:1]}
	d, err := diffusion.NewDreamBooth(suite(p), diffusion.Scorers{DINO: f.embed, CLIPImage: f.embed, CLIPText: func([]string) ([][]float32, error) { return nil, nil }},
		subject, [][]float32{imgs[:per]}, [][]float32{imgs[per:]}, nil, gotch.CPU,
		diffusion.Options{Resolution: 16, BatchSize: 1, PriorLossWeight: 1, GuidanceScale: guidance, ImagesPerPrompt: 1})
	if err != nil {
		t.Fatal(err)
	}
	batches, err := d.Batches(0)
	if err != nil || len(batches) != 1 {
		t.Fatalf("%d batches, %v; want 1", len(batches), err)
	}
	var loss float64
	models.NoGrad(func() {
		torchx.ManualSeed(lossSeed)
		l, err := d.Loss(batches[0])
		if err != nil {
			t.Fatal(err)
		}
		loss = l.Float64Values()[0]
	})
	closeRel(t, "seeded_loss", loss, ref["seeded_loss"].Float64Values()[0])
}
