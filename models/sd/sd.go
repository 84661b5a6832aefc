// Package sd assembles Stable Diffusion v1.x from its parts as a diffusers pipeline
// folder holds them (model_index.json; text_encoder/, tokenizer/, unet/, vae/,
// scheduler/), and drives them as the DreamBooth suite asks (suites/diffusion's
// interfaces): prompts to conditioning, images to latents and back, the UNet's
// prediction, the training noise and the sampler. Tiny builds a built-in toy pipeline.
package sd

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/clip"
	"github.com/vectorfit/harness/models/scheduler"
	"github.com/vectorfit/harness/models/unet"
	"github.com/vectorfit/harness/models/vae"
)

// Pipeline is one Stable Diffusion model.
type Pipeline struct {
	Tokenizer *clip.Tokenizer
	Text      *clip.TextModel
	VAE       *vae.Model
	UNet      *unet.Model
	// Scheduler is the folder's scheduler config: its betas give the training noise
	// (as train_dreambooth.py's DDPMScheduler.from_pretrained) and its class samples.
	Scheduler      scheduler.Config
	schedule       *scheduler.Schedule
	InferenceSteps int
	// Files are the weight files read, by part, for records to hash.
	Files map[string]string
}

// modelIndex is model_index.json: each part's [library, class].
type modelIndex struct {
	ClassName string              `json:"_class_name"`
	Parts     map[string][]string `json:"-"`
}

// Load reads a diffusers Stable Diffusion folder. steps is the number of inference
// steps of sampling (50 in StableDiffusionPipeline).
func Load(dir string, steps int) (*Pipeline, error) {
	if err := checkIndex(dir); err != nil {
		return nil, err
	}
	p := &Pipeline{InferenceSteps: steps, Files: map[string]string{}}
	var err error
	if p.Tokenizer, err = clip.LoadTokenizer(filepath.Join(dir, "tokenizer")); err != nil {
		return nil, err
	}
	text, rep, err := clip.LoadText(filepath.Join(dir, "text_encoder"))
	if err != nil {
		return nil, err
	}
	p.Text, p.Files["text_encoder"] = text, rep.Weights
	v, vrep, err := vae.Load(filepath.Join(dir, "vae"))
	if err != nil {
		return nil, err
	}
	p.VAE, p.Files["vae"] = v, vrep.Weights
	u, urep, err := unet.Load(filepath.Join(dir, "unet"))
	if err != nil {
		return nil, err
	}
	p.UNet, p.Files["unet"] = u, urep.Weights
	if p.Scheduler, err = scheduler.LoadConfig(filepath.Join(dir, "scheduler", "scheduler_config.json")); err != nil {
		return nil, err
	}
	return p, p.check()
}

// checkIndex reads model_index.json: a StableDiffusionPipeline.
func checkIndex(dir string) error {
	path := filepath.Join(dir, "model_index.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w (a diffusers Stable Diffusion folder has model_index.json, text_encoder/, tokenizer/, unet/, vae/ and scheduler/)", err)
	}
	var idx modelIndex
	if err := json.Unmarshal(raw, &idx); err != nil {
		return fmt.Errorf("%s: not a model_index.json: %w", path, err)
	}
	if idx.ClassName != "StableDiffusionPipeline" {
		return fmt.Errorf("%s: _class_name %q, want StableDiffusionPipeline (Stable Diffusion v1.x)", path, idx.ClassName)
	}
	return nil
}

// check ties the parts together: the UNet's cross-attention reads the text encoder's
// width and the VAE's latent channels, and the tokenizer's ids fit the text encoder.
func (p *Pipeline) check() error {
	if w, cross := p.Text.Config.HiddenSize, p.UNet.Config.CrossAttentionDim.At(0); w != cross {
		return fmt.Errorf("sd: the text encoder is %d wide, the UNet's cross_attention_dim %d", w, cross)
	}
	if l, in := p.VAE.Config.LatentChannels, p.UNet.Config.InChannels; l != in {
		return fmt.Errorf("sd: the VAE has %d latent channels, the UNet %d in_channels", l, in)
	}
	if v, n := p.Tokenizer.VocabSize(), p.Text.Config.VocabSize; v > n {
		return fmt.Errorf("sd: the tokenizer has %d tokens, the text encoder %d", v, n)
	}
	if p.InferenceSteps < 1 {
		return fmt.Errorf("sd: %d inference steps, want ≥ 1", p.InferenceSteps)
	}
	s, err := scheduler.NewSchedule(p.Scheduler)
	if err != nil {
		return err
	}
	p.schedule = s
	return nil
}

// Tiny is the built-in toy Stable Diffusion, random weights from seed: CLIP's
// tokenizer without merges (characters), a 2-layer text encoder of 32, a VAE of 32/64
// channels (latents 4 × H/2 × W/2), a UNet of 32/64 channels, SD v1.4's PNDM scheduler
// config, with steps sampling steps.
func Tiny(seed uint64, steps int) (*Pipeline, error) {
	p := &Pipeline{Tokenizer: clip.CharTokenizer(77), InferenceSteps: steps, Files: map[string]string{}}
	var err error
	if p.Text, err = clip.NewText(clip.TinyText(p.Tokenizer.VocabSize()), seed); err != nil {
		return nil, err
	}
	if p.VAE, err = vae.New(vae.Tiny(), seed+1); err != nil {
		return nil, err
	}
	if p.UNet, err = unet.New(unet.Tiny(), seed+2); err != nil {
		return nil, err
	}
	if p.Scheduler, err = SDv14Scheduler(); err != nil {
		return nil, err
	}
	return p, p.check()
}

// SDv14Scheduler is CompVis/stable-diffusion-v1-4's scheduler/scheduler_config.json.
func SDv14Scheduler() (scheduler.Config, error) {
	raw := []byte(`{"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
		"beta_start": 0.00085, "num_train_timesteps": 1000, "set_alpha_to_one": false,
		"skip_prk_steps": true, "steps_offset": 1, "trained_betas": null, "clip_sample": false}`)
	return scheduler.ParseConfig(raw, "SD v1.4 scheduler_config.json", "")
}

// To moves the three networks to dev.
func (p *Pipeline) To(dev gotch.Device) {
	p.Text.To(dev)
	p.VAE.To(dev)
	p.UNet.To(dev)
}

// Device is where the networks are.
func (p *Pipeline) Device() gotch.Device { return p.UNet.Device() }

// EncodePrompts is the text encoder's last hidden state of the padded prompts (77
// tokens, as StableDiffusionPipeline encodes them, without an attention mask).
func (p *Pipeline) EncodePrompts(prompts []string) (*ts.Tensor, error) {
	var ids []int64
	for _, s := range prompts {
		row, _ := p.Tokenizer.EncodePadded(s)
		ids = append(ids, row...)
	}
	in := ts.MustOfSlice(ids).MustView([]int64{int64(len(prompts)), int64(p.Tokenizer.MaxLength)}, true).MustTo(p.Device(), true)
	defer in.MustDrop()
	if err := p.Text.Config.CheckIDs(in); err != nil {
		return nil, err
	}
	var out clip.TextOutput
	models.NoGrad(func() { out = p.Text.Forward(in, nil) })
	out.Pooled.MustDrop()
	return out.LastHiddenState, nil
}

// LatentDistribution is the VAE encoder's mean and standard deviation, times the
// scaling factor (a latent sample is mean + std·ε, as latent_dist.sample() ×
// scaling_factor).
func (p *Pipeline) LatentDistribution(images *ts.Tensor) (mean, std *ts.Tensor, err error) {
	m, logvar, err := p.VAE.Encode(images)
	if err != nil {
		return nil, nil, err
	}
	f := ts.FloatScalar(p.VAE.Config.ScalingFactor)
	models.NoGrad(func() {
		std = logvar.MustMulScalar(ts.FloatScalar(0.5), true).MustExp(true).MustMulScalar(f, true)
		mean = m.MustMulScalar(f, true)
	})
	return mean, std, nil
}

// DecodeLatents is the VAE decoder of scaled latents: images in [−1, 1].
func (p *Pipeline) DecodeLatents(latents *ts.Tensor) (*ts.Tensor, error) {
	return p.VAE.Decode(latents)
}

// Predict is the UNet's output.
func (p *Pipeline) Predict(latents, timesteps, conditioning *ts.Tensor) (*ts.Tensor, error) {
	if err := p.UNet.CheckInputs(latents, timesteps, conditioning); err != nil {
		return nil, err
	}
	return p.UNet.Forward(latents, timesteps, conditioning), nil
}

// SetTraining switches the UNet's training mode (the other parts stay frozen).
func (p *Pipeline) SetTraining(on bool) { p.UNet.SetTraining(on) }

// TrainTimesteps is num_train_timesteps.
func (p *Pipeline) TrainTimesteps() int64 { return int64(p.Scheduler.NumTrainTimesteps) }

// AddNoise is DDPM's forward process at the timesteps.
func (p *Pipeline) AddNoise(x0, noise *ts.Tensor, timesteps []int64) (*ts.Tensor, error) {
	return p.schedule.AddNoise(x0, noise, timesteps)
}

// Target is ε, or the velocity for v-prediction.
func (p *Pipeline) Target(x0, noise *ts.Tensor, timesteps []int64) (*ts.Tensor, error) {
	return p.schedule.Target(x0, noise, timesteps)
}

// Sample runs the scheduler's InferenceSteps steps (DDIM with η = 0; PNDM and DDPM as
// configured; DDPM's noise is refused: pass a PNDM or DDIM config).
func (p *Pipeline) Sample(latents *ts.Tensor, predict func(*ts.Tensor, int64) (*ts.Tensor, error)) (*ts.Tensor, error) {
	s, err := scheduler.New(p.Scheduler)
	if err != nil {
		return nil, err
	}
	return scheduler.Sample(s, latents, p.InferenceSteps, predict, nil, nil)
}

// InitNoiseSigma is 1 for PNDM, DDIM and DDPM.
func (p *Pipeline) InitNoiseSigma() float64 { return 1 }

// LatentFactor is the VAE's downsampling: 2^(levels − 1).
func (p *Pipeline) LatentFactor() int64 { return 1 << (len(p.VAE.Config.BlockOutChannels) - 1) }
