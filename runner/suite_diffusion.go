package main

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/hub"
	"github.com/vectorfit/harness/imaging"
	"github.com/vectorfit/harness/models/clip"
	"github.com/vectorfit/harness/models/sd"
	"github.com/vectorfit/harness/models/vit"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/suites/diffusion"
	"github.com/vectorfit/harness/suites/vision"
	"github.com/vectorfit/harness/train"
)

// The DreamBooth protocol. SPEC gives none for diffusion, so it is diffusers'
// train_dreambooth.py (README's commands and flag defaults) and the DreamBooth paper's
// evaluation: batch 1, 400 steps at a constant rate (LoRA-family 1e-4: VectorFit 10×,
// full fine-tuning 5e-6 by methodLR's ratios, the example's full-fine-tuning rate),
// AdamW weight decay 1e-2, prior preservation with 100 class images at weight 1,
// 512×512; evaluation once at the end: 4 images for each of the 25 prompts, 50
// sampling steps of the model's scheduler at guidance 7.5.
var dreamboothProtocol = struct {
	steps, batch, resolution, classImages, sampleSteps, imagesPerPrompt int
	lr, weightDecay, priorWeight, guidance                              float64
}{steps: 400, batch: 1, resolution: 512, classImages: 100, sampleSteps: 50, imagesPerPrompt: 4,
	lr: 1e-4, weightDecay: 1e-2, priorWeight: 1, guidance: 7.5}

// The tiny model's protocol differs in size only: 32×32 images, 8 class images, 10
// sampling steps, 5 prompts.
const (
	tinyResolution  = 32
	tinyClassImages = 8
	tinySampleSteps = 10
)

// sdFiles are what a diffusers Stable Diffusion folder must hold (the hub fetches them).
var sdFiles = []string{"model_index.json", "scheduler/scheduler_config.json", "text_encoder/config.json",
	"tokenizer/vocab.json", "tokenizer/merges.txt", "unet/config.json", "vae/config.json"}

type diffusionSuite struct{}

func (diffusionSuite) tasks(o Options) ([]string, error) {
	if o.Tasks != "all" && o.Tasks != "dreambooth" {
		return nil, fmt.Errorf("-task %q: the diffusion suite has one task, dreambooth", o.Tasks)
	}
	return []string{"dreambooth"}, nil
}

type diffusionTask struct {
	log     io.Writer
	subject diffusion.Subject
	data    []reports.DataFile
	scorers *diffusion.Scorers // loaded once per command
}

// prepare reads the subject: -data synthetic (the built-in ring), a DreamBooth dataset
// folder (prompts_and_classes.txt and one folder per subject, -subject), or a plain
// folder of images (-instance-prompt, -class-prompt). Every image is decoded now, so a
// bad one stops the command before any training.
func (diffusionSuite) prepare(o Options, _ string) (prepared, error) {
	d := &diffusionTask{}
	var err error
	switch {
	case o.Data == "synthetic":
		d.subject = diffusion.Synthetic(5, resolution(o), 0)
		d.data = []reports.DataFile{{Role: "instance", Path: "synthetic:ring", Examples: 5}}
		return d, nil
	case o.Data == "":
		return nil, fmt.Errorf("the diffusion suite needs -data: a DreamBooth dataset folder with -subject, a folder of images with -instance-prompt, or synthetic")
	}
	if _, statErr := os.Stat(filepath.Join(o.Data, diffusion.PromptsFile)); statErr == nil {
		if o.Subject == "" {
			return nil, fmt.Errorf("-data %s is a DreamBooth dataset: name the subject with -subject (a folder of it, e.g. dog)", o.Data)
		}
		d.subject, err = diffusion.LoadDreamBooth(o.Data, o.Subject, o.Token)
	} else {
		d.subject, err = diffusion.LoadFolder(o.Data, o.InstancePrompt, o.ClassPrompt)
	}
	if err != nil {
		return nil, err
	}
	if o.InstancePrompt != "" {
		d.subject.InstancePrompt = o.InstancePrompt
	}
	if o.ClassPrompt != "" {
		d.subject.ClassPrompt = o.ClassPrompt
	}
	if d.subject.ClassPrompt == "" && priorWeight(o) > 0 {
		return nil, fmt.Errorf("prior preservation needs -class-prompt (e.g. \"a photo of dog\"), or -prior-weight 0 to train without it")
	}
	if d.subject.Decoded, err = diffusion.LoadImages(d.subject.Images); err != nil {
		return nil, err
	}
	d.data, err = hashFiles("instance", d.subject.Images, len(d.subject.Images))
	return d, err
}

func (d *diffusionTask) files() []reports.DataFile { return d.data }

func (d *diffusionTask) setLog(w io.Writer) { d.log = w }

func tinyOr[T any](o Options, tiny, full T) T {
	if o.Model == "tiny" {
		return tiny
	}
	return full
}

func resolution(o Options) int {
	if o.Resolution > 0 {
		return o.Resolution
	}
	return tinyOr(o, tinyResolution, dreamboothProtocol.resolution)
}

func priorWeight(o Options) float64 {
	if o.PriorWeight >= 0 {
		return o.PriorWeight
	}
	return dreamboothProtocol.priorWeight
}

func positiveOr[T int | float64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// dreamboothSettings are the suite's settings of a run, recorded in its hyperparameters.
type dreamboothSettings struct {
	resolution, classImages, sampleSteps, imagesPerPrompt, maxPrompts int
	priorWeight, guidance                                             float64
	dinoModel, clipModel                                              string
}

func settingsOf(o Options) dreamboothSettings {
	p := dreamboothProtocol
	return dreamboothSettings{
		resolution: resolution(o), classImages: positiveOr(o.ClassImages, tinyOr(o, tinyClassImages, p.classImages)),
		sampleSteps: positiveOr(o.SampleSteps, tinyOr(o, tinySampleSteps, p.sampleSteps)), imagesPerPrompt: positiveOr(o.ImagesPerPrompt, p.imagesPerPrompt),
		maxPrompts: o.MaxPrompts, priorWeight: priorWeight(o), guidance: positiveOr(o.Guidance, p.guidance),
		dinoModel: cmp.Or(o.DINOModel, tinyOr(o, "tiny", "facebook/dino-vits16")),
		clipModel: cmp.Or(o.CLIPModel, tinyOr(o, "tiny", "openai/clip-vit-base-patch32")),
	}
}

func (d *diffusionTask) protocol(o Options, method string) protocol {
	p := dreamboothProtocol
	pr := baseProtocol(o, protocol{epochs: 1, batch: p.batch, lr: p.lr, weightDecay: p.weightDecay,
		maxSteps: p.steps, constantLR: true}, method)
	if o.EvalEvery == 0 {
		pr.evalEvery = pr.maxSteps // once, at the end: generation is the expensive part
	}
	s := settingsOf(o)
	pr.extra = map[string]any{"resolution": s.resolution, "class_images": s.classImages, "prior_loss_weight": s.priorWeight,
		"guidance_scale": s.guidance, "sample_steps": s.sampleSteps, "images_per_prompt": s.imagesPerPrompt,
		"max_prompts": s.maxPrompts, "instance_prompt": d.subject.InstancePrompt, "class_prompt": d.subject.ClassPrompt,
		"dino_model": s.dinoModel, "clip_model": s.clipModel, "protocol": "diffusers train_dreambooth.py; DreamBooth paper evaluation"}
	return pr
}

type diffusionExtras struct {
	pipe  *sd.Pipeline
	class []*imaging.RGB
}

// model builds the pipeline on the run's device and, for prior preservation, the
// class images the base model generates (cached in -out/class_images, shared by every
// method and seed: they come from the base model before any method touches it).
func (d *diffusionTask) model(src modelSource, o Options, _ int64) (built, error) {
	s := settingsOf(o)
	var pipe *sd.Pipeline
	var err error
	if src.dir == "" {
		pipe, err = sd.Tiny(tinySeed, s.sampleSteps)
	} else {
		pipe, err = sd.Load(src.dir, s.sampleSteps)
	}
	if err != nil {
		return built{}, err
	}
	dev, err := resolveDevice(o.Device)
	if err != nil {
		return built{}, err
	}
	pipe.To(dev)
	x := diffusionExtras{pipe: pipe}
	if s.priorWeight > 0 {
		if x.class, err = d.classImages(pipe, src, o, s); err != nil {
			return built{}, err
		}
	}
	return built{model: pipe.UNet, info: src.info, extras: x, to: pipe.To}, nil
}

// classImages generates (or reads back) the prior-preservation images into a folder
// named by a hash of everything that determines them.
func (d *diffusionTask) classImages(pipe *sd.Pipeline, src modelSource, o Options, s dreamboothSettings) ([]*imaging.RGB, error) {
	key, _ := json.Marshal([]any{src.info, d.subject.ClassPrompt, s.resolution, s.sampleSteps, s.guidance, pipe.Scheduler})
	dir := filepath.Join(o.Out, "class_images", fmt.Sprintf("%x", sha256.Sum256(key))[:16])
	sampling := &diffusion.Sampling{Pipe: diffusionPipe(pipe), Device: pipe.Device(), Resolution: s.resolution, GuidanceScale: s.guidance}
	var progress func(done, total int)
	if !o.Quiet && d.log != nil {
		progress = func(done, total int) { fmt.Fprintf(d.log, "\rclass images %d/%d (%s)", done, total, dir) }
		defer fmt.Fprintln(d.log)
	}
	return diffusion.ClassImages(sampling, d.subject.ClassPrompt, s.classImages, dir, 0, progress)
}

func diffusionPipe(p *sd.Pipeline) diffusion.Pipeline {
	return diffusion.Pipeline{Text: p, VAE: p, UNet: p, Schedule: p, Sampler: p,
		LatentChannels: p.VAE.Config.LatentChannels, LatentFactor: p.LatentFactor()}
}

func (d *diffusionTask) newTask(b built, p protocol, seed int64, predDir string) (train.Task, string, error) {
	x := b.extras.(diffusionExtras)
	s := dreamboothSettings{resolution: p.extra["resolution"].(int), imagesPerPrompt: p.extra["images_per_prompt"].(int),
		maxPrompts: p.extra["max_prompts"].(int), priorWeight: p.extra["prior_loss_weight"].(float64),
		guidance: p.extra["guidance_scale"].(float64), dinoModel: p.extra["dino_model"].(string), clipModel: p.extra["clip_model"].(string)}
	if d.scorers == nil {
		sc, err := loadScorers(s, x.pipe.Device())
		if err != nil {
			return nil, "", err
		}
		d.scorers = sc
	}
	instance := diffusion.PreprocessAll(d.subject.Decoded, s.resolution)
	class := diffusion.PreprocessAll(x.class, s.resolution)
	task, err := diffusion.NewDreamBooth(diffusionPipe(x.pipe), *d.scorers, d.subject, instance, class, d.subject.Decoded, x.pipe.Device(),
		diffusion.Options{Resolution: s.resolution, BatchSize: p.batch, PriorLossWeight: s.priorWeight, GuidanceScale: s.guidance,
			ImagesPerPrompt: s.imagesPerPrompt, MaxPrompts: s.maxPrompts, Seed: uint64(seed)})
	if err != nil {
		return nil, "", err
	}
	task.ImagesDir = predDir
	return task, diffusion.MainScore, nil
}

// loadScorers builds DINO and CLIP: checkpoints (resolved like -model), or the
// built-in tiny ones (random weights: the scores then only prove the plumbing).
func loadScorers(s dreamboothSettings, dev gotch.Device) (*diffusion.Scorers, error) {
	dino, err := loadDINO(s.dinoModel, dev)
	if err != nil {
		return nil, err
	}
	imageFeatures, textFeatures, err := loadCLIP(s.clipModel, dev)
	if err != nil {
		return nil, err
	}
	return &diffusion.Scorers{DINO: dino, CLIPImage: imageFeatures, CLIPText: textFeatures}, nil
}

// loadDINO loads DINO (a ViTModel checkpoint and its ViTImageProcessor), or the
// built-in tiny ViT.
func loadDINO(ref string, dev gotch.Device) (diffusion.ImageEmbedder, error) {
	if ref == "tiny" {
		m, err := vit.New(vit.Tiny(), tinySeed)
		if err != nil {
			return nil, err
		}
		return diffusion.DINO(m, vision.ProcessorFor(tinyResolution), dev), nil
	}
	dir, err := hub.FromEnv().Resolve("model", ref, []string{"config.json", "model.safetensors", "preprocessor_config.json"})
	if err != nil {
		return nil, fmt.Errorf("-dino-model: %w", err)
	}
	m, _, err := vit.Load(dir, 0, tinySeed)
	if err != nil {
		return nil, err
	}
	proc, err := vision.LoadProcessor(filepath.Join(dir, "preprocessor_config.json"))
	if err != nil {
		return nil, err
	}
	return diffusion.DINO(m, proc, dev), nil
}

// loadCLIP loads CLIP (a CLIPModel checkpoint with its tokenizer), or the built-in
// tiny one.
func loadCLIP(ref string, dev gotch.Device) (diffusion.ImageEmbedder, diffusion.TextEmbedder, error) {
	proc := clip.DefaultImageProcessor()
	if ref == "tiny" {
		tok := clip.CharTokenizer(77)
		m, err := clip.New(clip.Tiny(tok.VocabSize()), tinySeed)
		if err != nil {
			return nil, nil, err
		}
		proc.ShortestEdge, proc.CropHeight, proc.CropWidth = tinyResolution, tinyResolution, tinyResolution
		images, texts := diffusion.CLIP(m, tok, proc, dev)
		return images, texts, nil
	}
	dir, err := hub.FromEnv().Resolve("model", ref, []string{"config.json", "model.safetensors", "vocab.json", "merges.txt"})
	if err != nil {
		return nil, nil, fmt.Errorf("-clip-model: %w", err)
	}
	m, _, err := clip.Load(dir)
	if err != nil {
		return nil, nil, err
	}
	tok, err := clip.LoadTokenizer(dir)
	if err != nil {
		return nil, nil, err
	}
	images, texts := diffusion.CLIP(m, tok, proc, dev)
	return images, texts, nil
}
