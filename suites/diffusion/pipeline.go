package diffusion

import (
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/imaging"
)

// The suite drives Stable Diffusion through these interfaces; the runner adapts
// models/clip, models/vae, models/unet and models/scheduler to them, and a test can
// put small fakes in their place. Tensors are float32 on the model's device;
// callers own what is returned.

// TextEncoder turns prompts into the UNet's conditioning (batch × tokens × width):
// the CLIP tokenizer padded to its 77 tokens, then the text model's last hidden
// state.
type TextEncoder interface {
	EncodePrompts(prompts []string) (*ts.Tensor, error)
}

// Autoencoder is the frozen VAE: images (batch × 3 × H × W in [−1, 1]) to the mean
// and standard deviation of their latent distribution, already multiplied by the
// scaling factor (so a sample is mean + std·ε), and scaled latents back to images.
type Autoencoder interface {
	LatentDistribution(images *ts.Tensor) (mean, std *ts.Tensor, err error)
	DecodeLatents(latents *ts.Tensor) (*ts.Tensor, error)
}

// Denoiser is the UNet: the prediction (noise or velocity, as the schedule says) for
// noisy latents at timesteps (int64, batch) under the conditioning.
type Denoiser interface {
	Predict(latents, timesteps, conditioning *ts.Tensor) (*ts.Tensor, error)
	SetTraining(bool)
}

// NoiseSchedule is the training side of the scheduler (DDPM's forward process).
type NoiseSchedule interface {
	TrainTimesteps() int64
	// AddNoise is √ᾱ_t·x0 + √(1−ᾱ_t)·ε, one timestep per row.
	AddNoise(x0, noise *ts.Tensor, timesteps []int64) (*ts.Tensor, error)
	// Target is what the UNet learns to predict: ε, or the velocity for v-prediction.
	Target(x0, noise *ts.Tensor, timesteps []int64) (*ts.Tensor, error)
}

// Sampler runs the inference scheduler from initial latents; predict gives the
// (guided) model output for the current latents and timestep.
type Sampler interface {
	Sample(latents *ts.Tensor, predict func(latents *ts.Tensor, timestep int64) (*ts.Tensor, error)) (*ts.Tensor, error)
	// InitNoiseSigma scales the initial Gaussian latents (1 for DDIM and PNDM).
	InitNoiseSigma() float64
}

// ImageEmbedder embeds images for DINO or CLIP-I (one vector per image).
type ImageEmbedder func(images []*imaging.RGB) ([][]float32, error)

// TextEmbedder embeds prompts for CLIP-T (CLIP's projected text features).
type TextEmbedder func(prompts []string) ([][]float32, error)

// Pipeline is one Stable Diffusion model as the suite uses it.
type Pipeline struct {
	Text     TextEncoder
	VAE      Autoencoder
	UNet     Denoiser
	Schedule NoiseSchedule
	Sampler  Sampler
	// LatentChannels and LatentFactor shape the latents: channels × H/f × W/f.
	LatentChannels, LatentFactor int64
}

// Scorers are the evaluation models.
type Scorers struct {
	DINO      ImageEmbedder
	CLIPImage ImageEmbedder
	CLIPText  TextEmbedder
}
