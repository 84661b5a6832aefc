package diffusion

import (
	"fmt"
	"path/filepath"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/imaging"
	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/train"
)

// Options are DreamBooth's settings (train_dreambooth.py's flags where the paper is
// silent).
type Options struct {
	Resolution int // pixels, square
	BatchSize  int // instance images per batch (with prior preservation, as many class images besides)
	// PriorLossWeight weighs the class images' loss (prior preservation); 0 turns
	// prior preservation off.
	PriorLossWeight float64
	GuidanceScale   float64 // classifier-free guidance at evaluation
	ImagesPerPrompt int     // generated per evaluation prompt
	MaxPrompts      int     // > 0: evaluate on the first MaxPrompts prompts only
	Seed            uint64
}

// latentDist is one image's latent distribution (scaled mean and std, 1 × C × h × w).
type latentDist struct{ mean, std *ts.Tensor }

// DreamBooth is the fine-tuning task for train.Run: the denoising loss on the
// subject's images under the instance prompt, plus the prior-preservation loss on
// class images under the class prompt; evaluation generates from the evaluation
// prompts and scores DINO, CLIP-I and CLIP-T.
type DreamBooth struct {
	pipe     Pipeline
	scorers  Scorers
	subject  Subject
	o        Options
	device   gotch.Device
	instance []latentDist
	class    []latentDist
	// The frozen text encoder's conditioning of the instance and class prompts,
	// computed once.
	instanceCond, classCond *ts.Tensor
	sampling                *Sampling
	realDINO, realCLIP      [][]float32
	// ImagesDir, when set, receives the generated images of every evaluation that is
	// the best so far (<prompt>-<k>.png) and their contact sheet (sheet.png).
	ImagesDir string
	best      float64
	haveBest  bool
}

// MainScore picks the best evaluation: DINO, the DreamBooth paper's measure of
// subject fidelity (CLIP-I and CLIP-T are recorded beside it).
const MainScore = MetricDINO

// NewDreamBooth encodes the subject's images and class images (already
// preprocessed, channels × resolution × resolution) into latent distributions and the
// prompts into conditioning, and embeds the real images for scoring.
func NewDreamBooth(pipe Pipeline, scorers Scorers, subject Subject, instance, class [][]float32, realImages []*imaging.RGB, device gotch.Device, o Options) (*DreamBooth, error) {
	if o.Resolution < 8 || o.BatchSize < 1 || o.ImagesPerPrompt < 1 || o.PriorLossWeight < 0 {
		return nil, fmt.Errorf("diffusion: resolution %d, batch %d, images per prompt %d, prior loss weight %g: want ≥ 8, ≥ 1, ≥ 1, ≥ 0",
			o.Resolution, o.BatchSize, o.ImagesPerPrompt, o.PriorLossWeight)
	}
	if len(instance) == 0 || (o.PriorLossWeight > 0 && len(class) == 0) {
		return nil, fmt.Errorf("diffusion: %d instance and %d class images; prior preservation (weight %g) needs class images", len(instance), len(class), o.PriorLossWeight)
	}
	d := &DreamBooth{pipe: pipe, scorers: scorers, subject: subject, o: o, device: device}
	var err error
	if d.instance, err = d.encodeImages(instance); err != nil {
		return nil, err
	}
	if o.PriorLossWeight > 0 {
		if d.class, err = d.encodeImages(class); err != nil {
			return nil, err
		}
	}
	if d.instanceCond, err = pipe.Text.EncodePrompts([]string{subject.InstancePrompt}); err != nil {
		return nil, err
	}
	if d.classCond, err = pipe.Text.EncodePrompts([]string{subject.ClassPrompt}); err != nil {
		return nil, err
	}
	d.sampling = &Sampling{Pipe: pipe, Device: device, Resolution: o.Resolution, GuidanceScale: o.GuidanceScale}
	if d.realDINO, err = scorers.DINO(realImages); err != nil {
		return nil, err
	}
	if d.realCLIP, err = scorers.CLIPImage(realImages); err != nil {
		return nil, err
	}
	return d, nil
}

// encodeImages runs the frozen VAE once per image: training then samples latents from
// the stored distribution at every step, as train_dreambooth.py's
// latent_dist.sample() does, without encoding again.
func (d *DreamBooth) encodeImages(images [][]float32) ([]latentDist, error) {
	out := make([]latentDist, len(images))
	r := int64(d.o.Resolution)
	for i, px := range images {
		if len(px) != int(3*r*r) {
			return nil, fmt.Errorf("diffusion: image %d has %d values, want 3×%d×%d", i, len(px), r, r)
		}
		x := ts.MustOfSlice(px).MustView([]int64{1, 3, r, r}, true).MustTo(d.device, true)
		var err error
		models.NoGrad(func() { out[i].mean, out[i].std, err = d.pipe.VAE.LatentDistribution(x) })
		x.MustDrop()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// pairs are one batch's (instance, class) image indices.
type pairs [][2]int

// Batches implements train.Task: DreamBoothDataset's length is the larger of the
// instance and class image counts, example i pairing instance i mod n with class i
// mod m; shuffled per epoch with the seed.
func (d *DreamBooth) Batches(epoch int) ([]any, error) {
	n := max(len(d.instance), len(d.class))
	var out []any
	for _, idx := range train.ShuffledBatches(n, d.o.BatchSize, d.o.Seed, epoch) {
		b := make(pairs, len(idx))
		for k, i := range idx {
			b[k] = [2]int{i % len(d.instance), 0}
			if len(d.class) > 0 {
				b[k][1] = i % len(d.class)
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// Loss implements train.Task: sample latents, add noise at uniform timesteps, and
// the mean squared error of the UNet's prediction against the schedule's target;
// with prior preservation, the class half's error weighted by PriorLossWeight.
func (d *DreamBooth) Loss(batch any) (*ts.Tensor, error) {
	b, ok := batch.(pairs)
	if !ok {
		return nil, fmt.Errorf("diffusion: batch of type %T", batch)
	}
	var dists []latentDist
	var conds []*ts.Tensor
	for _, p := range b {
		dists, conds = append(dists, d.instance[p[0]]), append(conds, d.instanceCond)
	}
	if d.o.PriorLossWeight > 0 {
		for _, p := range b {
			dists, conds = append(dists, d.class[p[1]]), append(conds, d.classCond)
		}
	}
	pred, target, err := d.denoise(dists, conds)
	if err != nil {
		return nil, err
	}
	defer pred.MustDrop()
	defer target.MustDrop()
	if d.o.PriorLossWeight == 0 {
		return pred.MustMseLoss(target, 1, false), nil
	}
	n := int64(len(b))
	predI, predC := pred.MustNarrow(0, 0, n, false), pred.MustNarrow(0, n, n, false)
	targI, targC := target.MustNarrow(0, 0, n, false), target.MustNarrow(0, n, n, false)
	lossI, lossC := predI.MustMseLoss(targI, 1, true), predC.MustMseLoss(targC, 1, true)
	targI.MustDrop()
	targC.MustDrop()
	weighted := lossC.MustMulScalar(ts.FloatScalar(d.o.PriorLossWeight), true)
	return lossI.MustAdd(weighted, true), nil
}

// denoise draws latents from dists, noise and timesteps, and returns the UNet's
// prediction and the schedule's target.
func (d *DreamBooth) denoise(dists []latentDist, conds []*ts.Tensor) (pred, target *ts.Tensor, err error) {
	means, stds := make([]*ts.Tensor, len(dists)), make([]*ts.Tensor, len(dists))
	for i, l := range dists {
		means[i], stds[i] = l.mean, l.std
	}
	mean, std := ts.MustCat(means, 0), ts.MustCat(stds, 0)
	eps := mean.MustRandnLike(false)
	latents := std.MustMul(eps, true).MustAdd(mean, true)
	mean.MustDrop()
	eps.MustDrop()
	defer latents.MustDrop()
	noise := randnChannelsLast(latents.MustSize(), d.device)
	defer noise.MustDrop()
	// Timesteps from libtorch's generator (re-seeded every step by train.Run), on the
	// CPU so that they are the same on any device.
	tCPU := ts.MustRandint(d.pipe.Schedule.TrainTimesteps(), []int64{int64(len(dists))}, gotch.Int64, gotch.CPU)
	steps := tCPU.Vals().([]int64)
	t := tCPU.MustTo(d.device, true)
	defer t.MustDrop()
	noisy, err := d.pipe.Schedule.AddNoise(latents, noise, steps)
	if err != nil {
		return nil, nil, err
	}
	defer noisy.MustDrop()
	cond := ts.MustCat(conds, 0)
	defer cond.MustDrop()
	if target, err = d.pipe.Schedule.Target(latents, noise, steps); err != nil {
		return nil, nil, err
	}
	if pred, err = d.pipe.UNet.Predict(noisy, t, cond); err != nil {
		target.MustDrop()
		return nil, nil, err
	}
	return pred, target, nil
}

// randnChannelsLast is Gaussian noise as train_dreambooth.py's torch.randn_like(latents)
// draws it: diffusers' VAE returns channels-last latents (its mid-block attention
// reshapes them so, and the convolutions after keep the layout), randn_like keeps that
// layout, and libtorch then fills the values one by one in N·H·W·C memory order. A
// contiguous draw has the same distribution but, for a given seed, other values.
func randnChannelsLast(size []int64, device gotch.Device) *ts.Tensor {
	nhwc := ts.MustEmpty([]int64{size[0], size[2], size[3], size[1]}, gotch.Float, device)
	x := nhwc.MustPermute([]int64{0, 3, 1, 2}, true)
	torchx.InPlace(x, func() { x.MustNormal_(0, 1) })
	return x
}

// SetTraining implements train.Task.
func (d *DreamBooth) SetTraining(on bool) { d.pipe.UNet.SetTraining(on) }

// Evaluate implements train.Task: ImagesPerPrompt images per evaluation prompt, each
// prompt's initial latents drawn from its own seed (so every evaluation and every
// method sees the same noise), then DINO and CLIP-I against the real images and
// CLIP-T against the prompts.
func (d *DreamBooth) Evaluate() (train.Scores, error) {
	prompts := d.subject.EvalPrompts
	if d.o.MaxPrompts > 0 && d.o.MaxPrompts < len(prompts) {
		prompts = prompts[:d.o.MaxPrompts]
	}
	var images []*imaging.RGB
	var imagePrompts []string
	rows := make([][]*imaging.RGB, len(prompts))
	for i, p := range prompts {
		row, err := d.sampling.Generate(p, d.o.ImagesPerPrompt, int64(d.o.Seed)*1_000_003+int64(i))
		if err != nil {
			return train.Scores{}, err
		}
		rows[i] = row
		for range row {
			imagePrompts = append(imagePrompts, p)
		}
		images = append(images, row...)
	}
	scores, err := d.score(images, imagePrompts)
	if err != nil {
		return train.Scores{}, err
	}
	if main := scores[MainScore]; d.ImagesDir != "" && (!d.haveBest || main > d.best) {
		d.best, d.haveBest = main, true
		if err := writeImages(d.ImagesDir, rows); err != nil {
			return train.Scores{}, err
		}
	}
	return train.Scores{Main: MainScore, Values: scores}, nil
}

// score computes the three metrics of generated images.
func (d *DreamBooth) score(images []*imaging.RGB, prompts []string) (map[string]float64, error) {
	dino, err := d.scorers.DINO(images)
	if err != nil {
		return nil, err
	}
	clipImages, err := d.scorers.CLIPImage(images)
	if err != nil {
		return nil, err
	}
	clipTexts, err := d.scorers.CLIPText(prompts)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	if out[MetricDINO], err = MeanPairwiseCosine(dino, d.realDINO); err != nil {
		return nil, err
	}
	if out[MetricCLIPI], err = MeanPairwiseCosine(clipImages, d.realCLIP); err != nil {
		return nil, err
	}
	if out[MetricCLIPT], err = MeanCosine(clipImages, clipTexts); err != nil {
		return nil, err
	}
	return out, nil
}

// writeImages saves one evaluation's images and contact sheet.
func writeImages(dir string, rows [][]*imaging.RGB) error {
	for i, row := range rows {
		for k, m := range row {
			if err := WritePNG(filepath.Join(dir, fmt.Sprintf("%02d-%d.png", i, k)), m); err != nil {
				return err
			}
		}
	}
	return WriteContactSheet(filepath.Join(dir, "sheet.png"), rows)
}
