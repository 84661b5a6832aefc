package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/vectorfit/harness/suites/vision"
)

// Options are every setting of a training run. Zero values of the protocol fields mean
// "the task's default from SPEC §4"; -config FILE sets any of them from JSON (keys as
// the flags' names), and flags given on the command line win over the file.
type Options struct {
	Suite   string `json:"suite"`
	Tasks   string `json:"task"`
	Methods string `json:"method"`
	Model   string `json:"model"`
	Data    string `json:"data"`
	Device  string `json:"device"`
	Seeds   string `json:"seeds"`
	Out     string `json:"out"`
	Config  string `json:"-"`

	// DType is -dtype (float32, bfloat16, float16), SVDDevice -svd-device (cpu, same).
	DType     string `json:"dtype"`
	SVDDevice string `json:"svd-device"`

	Epochs         int     `json:"epochs"`
	MaxSteps       int     `json:"max-steps"`
	Batch          int     `json:"batch"`
	LR             float64 `json:"lr"`
	HeadLR         float64 `json:"head-lr"`
	MaxLen         int     `json:"max-len"`
	Warmup         int     `json:"warmup"`
	WarmupRatio    float64 `json:"warmup-ratio"`
	WeightDecay    float64 `json:"weight-decay"`
	ClsDropout     float64 `json:"cls-dropout"`
	MaxGradNorm    float64 `json:"max-grad-norm"`
	GradAccum      int     `json:"grad-accum"`
	EvalEvery      int     `json:"eval-every"`
	MaxTrain       int     `json:"max-train"`
	MaxDev         int     `json:"max-dev"`
	Version        string  `json:"version"`
	TrainData      string  `json:"train-data"`
	DevData        string  `json:"dev-data"`
	DocStride      int     `json:"doc-stride"`
	TrainSplit     string  `json:"train-split"`
	DevSplit       string  `json:"dev-split"`
	DevFraction    float64 `json:"dev-fraction"`
	TargetLen      int     `json:"target-len"`
	Beams          int     `json:"beams"`
	LabelSmoothing float64 `json:"label-smoothing"`
	SyntheticN     int     `json:"synthetic-train"`
	SyntheticDev   int     `json:"synthetic-dev"`

	// DreamBooth (-suite diffusion); zero values mean the protocol's (diffusion.go).
	Subject         string  `json:"subject"`
	Token           string  `json:"token"`
	InstancePrompt  string  `json:"instance-prompt"`
	ClassPrompt     string  `json:"class-prompt"`
	Resolution      int     `json:"resolution"`
	ClassImages     int     `json:"class-images"`
	PriorWeight     float64 `json:"prior-weight"` // < 0: the protocol's
	Guidance        float64 `json:"guidance"`
	SampleSteps     int     `json:"sample-steps"`
	ImagesPerPrompt int     `json:"images-per-prompt"`
	MaxPrompts      int     `json:"max-prompts"`
	DINOModel       string  `json:"dino-model"`
	CLIPModel       string  `json:"clip-model"`
	Quiet           bool    `json:"quiet"`

	// Per-method learning rates and options ("k=4,interval=100").
	LRVectorFit  float64 `json:"lr-vectorfit"`
	LRLoRA       float64 `json:"lr-lora"`
	LRFullFT     float64 `json:"lr-fullft"`
	VectorFitOpt string  `json:"vectorfit"`
	LoRAOpt      string  `json:"lora"`
	// The other methods' options and learning rates, by method name (-bitfit
	// biases=all, -lr-bitfit 1e-3).
	MethodOpts map[string]string  `json:"method-options"`
	MethodLR   map[string]float64 `json:"method-lr"`

	// Keeping work: checkpoints, skipping finished runs, failures.
	CheckpointEvery string `json:"checkpoint-every"` // optimizer steps ("500") or wall time ("5m")
	KeepCheckpoints bool   `json:"keep-checkpoints"`
	SaveBest        bool   `json:"save-best"`
	Force           bool   `json:"force"`
	FailFast        bool   `json:"fail-fast"`

	// Input guards.
	AllowDevOverlap bool  `json:"allow-dev-overlap"`
	MaxPixels       int64 `json:"max-pixels"`
	Threads         int   `json:"threads"`

	// InterpolatePos: vision images of another size than the checkpoint's image_size
	// resize its position embeddings (transformers' interpolate_pos_encoding).
	InterpolatePos bool `json:"interpolate-pos"`

	// GroupByLength: glue and squad training batches of similar lengths, as
	// transformers' group_by_length (train.LengthGroupedBatches). Off by default: it
	// changes the data order.
	GroupByLength bool `json:"group-by-length"`
}

func defaultOptions() Options {
	return Options{
		Suite: "glue", Tasks: "all", Methods: "vectorfit",
		Device: "auto", DType: "float32", SVDDevice: "cpu", Seeds: "1", Out: "results", MaxGradNorm: 1, GradAccum: 1,
		SyntheticN: 512, SyntheticDev: 256, WeightDecay: -1, ClsDropout: -1, Warmup: -1,
		CheckpointEvery: "5m", MaxPixels: vision.DefaultMaxPixels, Token: "sks", PriorWeight: -1,
		MethodOpts: map[string]string{}, MethodLR: map[string]float64{},
	}
}

func (o *Options) flags(fs *flag.FlagSet) {
	fs.StringVar(&o.Suite, "suite", o.Suite, "suite: glue")
	fs.StringVar(&o.Tasks, "task", o.Tasks, "comma-separated tasks, or all")
	fs.StringVar(&o.Methods, "method", o.Methods, "comma-separated methods: vectorfit, lora, fullft")
	fs.StringVar(&o.Model, "model", o.Model, "tiny (built-in), a local Hugging Face folder, or a hub id org/name[@revision] (default: the paper's model, microsoft/deberta-v3-base for glue and squad, google/vit-base-patch16-224 for vision)")
	fs.StringVar(&o.Data, "data", o.Data, "glue: synthetic (built-in), a GLUE folder (TSV or nyu-mll/glue parquet/jsonl) or a hub dataset id (default nyu-mll/glue); squad: a folder or rajpurkar/squad(_v2) (default); vision: a folder or .parquet")
	fs.StringVar(&o.Device, "device", o.Device, "auto, cpu, cuda or cuda:N")
	fs.StringVar(&o.DType, "dtype", o.DType, "float32, or mixed precision (autocast; weights and optimizer stay float32): bfloat16, or float16 with dynamic loss scaling (CUDA only)")
	fs.StringVar(&o.SVDDevice, "svd-device", o.SVDDevice, "where the float64 SVDs of a model on a GPU run: cpu (LAPACK, as CPU runs) or same (the model's device)")
	fs.StringVar(&o.Seeds, "seeds", o.Seeds, "number of seeds (1..N) or a comma-separated list")
	fs.StringVar(&o.Out, "out", o.Out, "folder for the JSON records")
	fs.StringVar(&o.Config, "config", o.Config, "JSON file with any of these settings (flags win)")
	fs.IntVar(&o.Epochs, "epochs", o.Epochs, "epochs (0: the task's protocol)")
	fs.IntVar(&o.MaxSteps, "max-steps", o.MaxSteps, "cap on optimizer steps (0: none)")
	fs.IntVar(&o.Batch, "batch", o.Batch, "batch size (0: the task's protocol)")
	fs.Float64Var(&o.LR, "lr", o.LR, "peak learning rate for every method (0: per method, see -lr-*)")
	fs.Float64Var(&o.HeadLR, "head-lr", o.HeadLR, "learning rate of the task head (0: the method's)")
	fs.IntVar(&o.MaxLen, "max-len", o.MaxLen, "max tokens (0: the task's protocol)")
	fs.IntVar(&o.Warmup, "warmup", o.Warmup, "warm-up in optimizer steps, not scaled when -max-train/-max-steps shorten the run (-1: the task's protocol)")
	fs.Float64Var(&o.WarmupRatio, "warmup-ratio", o.WarmupRatio, "warm-up as a fraction of the run's optimizer steps, ceil(ratio × steps), instead of the task's -warmup (0: unset)")
	fs.Float64Var(&o.WeightDecay, "weight-decay", o.WeightDecay, "AdamW weight decay (-1: the task's protocol)")
	fs.Float64Var(&o.ClsDropout, "cls-dropout", o.ClsDropout, "dropout before the head (-1: the task's protocol)")
	fs.Float64Var(&o.MaxGradNorm, "max-grad-norm", o.MaxGradNorm, "gradient clipping norm (0: none)")
	fs.IntVar(&o.GradAccum, "grad-accum", o.GradAccum, "micro-batches per optimizer step")
	fs.IntVar(&o.EvalEvery, "eval-every", o.EvalEvery, "evaluate every N steps (0: every epoch)")
	fs.IntVar(&o.MaxTrain, "max-train", o.MaxTrain, "use at most N training examples (0: all)")
	fs.IntVar(&o.MaxDev, "max-dev", o.MaxDev, "squad: use at most N dev questions (0: all)")
	fs.StringVar(&o.Version, "version", o.Version, "squad: 1.1 or 2.0 (sets -task to squad or squad_v2)")
	fs.StringVar(&o.TrainData, "train-data", o.TrainData, "squad: training file (SQuAD JSON or parquet), overriding -data")
	fs.StringVar(&o.DevData, "dev-data", o.DevData, "squad: dev file, overriding -data")
	fs.IntVar(&o.DocStride, "doc-stride", o.DocStride, "squad: overlap of context windows in tokens (0: 128)")
	fs.StringVar(&o.TrainSplit, "train-split", o.TrainSplit, "vision, nlg: split of -data to train on (default train)")
	fs.StringVar(&o.DevSplit, "dev-split", o.DevSplit, "vision, nlg: split of -data to evaluate on (default: vision test, nlg validation)")
	fs.IntVar(&o.TargetLen, "target-len", o.TargetLen, "nlg: max summary tokens, in training and generation (0: the task's protocol, xsum 64, cnn_dailymail 160)")
	fs.IntVar(&o.Beams, "beams", o.Beams, "nlg: beam width of generation (0: the task's protocol, xsum 8, cnn_dailymail 4; 1: greedy)")
	fs.Float64Var(&o.LabelSmoothing, "label-smoothing", o.LabelSmoothing, "nlg: label smoothing of the token cross-entropy")
	fs.Float64Var(&o.DevFraction, "dev-fraction", o.DevFraction, "vision: hold out this fraction of the training split as dev (for data without one)")
	fs.BoolVar(&o.InterpolatePos, "interpolate-pos", o.InterpolatePos, "vision: allow images of another size than the checkpoint's image_size by interpolating its position embeddings (transformers' interpolate_pos_encoding)")
	fs.BoolVar(&o.GroupByLength, "group-by-length", o.GroupByLength, "glue, squad: train on batches of similar lengths, as transformers' group_by_length (LengthGroupedSampler: megabatches of up to 50 batches sorted by length, the longest batch first); less padding, another data order, recorded as group_by_length")
	fs.StringVar(&o.CheckpointEvery, "checkpoint-every", o.CheckpointEvery, "checkpoint every N optimizer steps (\"500\") or this much wall time (\"5m\"), and at every evaluation; a rerun of the same command resumes from the latest (\"0\": only at evaluations)")
	fs.BoolVar(&o.KeepCheckpoints, "keep-checkpoints", o.KeepCheckpoints, "keep a run's checkpoint after its record is written (default: removed)")
	fs.BoolVar(&o.SaveBest, "save-best", o.SaveBest, "save the best evaluation's trainable parameters in -out/best/ (LoRA: a PEFT adapter folder; other methods: safetensors)")
	fs.BoolVar(&o.Force, "force", o.Force, "redo runs whose record exists, replacing it, and discard their checkpoints")
	fs.BoolVar(&o.FailFast, "fail-fast", o.FailFast, "stop at the first failed or diverged run (default: go on with the next and list failures at the end)")
	fs.BoolVar(&o.AllowDevOverlap, "allow-dev-overlap", o.AllowDevOverlap, "vision: allow -train-split equal to -dev-split (training and evaluating on the same images)")
	fs.Int64Var(&o.MaxPixels, "max-pixels", o.MaxPixels, "vision: refuse images whose header claims more pixels than this (checked before decoding)")
	fs.IntVar(&o.Threads, "threads", o.Threads, "libtorch intra-op threads (0: libtorch's default); recorded, since it changes the numbers")
	fs.IntVar(&o.SyntheticN, "synthetic-train", o.SyntheticN, "synthetic training examples")
	fs.IntVar(&o.SyntheticDev, "synthetic-dev", o.SyntheticDev, "synthetic dev examples per split")
	fs.BoolVar(&o.Quiet, "quiet", o.Quiet, "no progress bar")
	fs.StringVar(&o.Subject, "subject", o.Subject, "diffusion: the subject folder of a DreamBooth dataset -data (e.g. dog)")
	fs.StringVar(&o.Token, "token", o.Token, "diffusion: the unique identifier of the subject in prompts")
	fs.StringVar(&o.InstancePrompt, "instance-prompt", o.InstancePrompt, "diffusion: prompt of the subject's images (default \"a photo of <token> <class>\"; needed for a plain image folder)")
	fs.StringVar(&o.ClassPrompt, "class-prompt", o.ClassPrompt, "diffusion: prompt of the class images of prior preservation (default \"a photo of <class>\")")
	fs.IntVar(&o.Resolution, "resolution", o.Resolution, "diffusion: image size in pixels (0: 512; the tiny model 32)")
	fs.IntVar(&o.ClassImages, "class-images", o.ClassImages, "diffusion: class images for prior preservation, generated once by the base model (0: 100; the tiny model 8)")
	fs.Float64Var(&o.PriorWeight, "prior-weight", o.PriorWeight, "diffusion: weight of the prior-preservation loss (0: no prior preservation; default 1)")
	fs.Float64Var(&o.Guidance, "guidance", o.Guidance, "diffusion: classifier-free guidance scale of generation (0: 7.5)")
	fs.IntVar(&o.SampleSteps, "sample-steps", o.SampleSteps, "diffusion: sampling steps of the model's scheduler (0: 50; the tiny model 10)")
	fs.IntVar(&o.ImagesPerPrompt, "images-per-prompt", o.ImagesPerPrompt, "diffusion: images generated per evaluation prompt (0: 4)")
	fs.IntVar(&o.MaxPrompts, "max-prompts", o.MaxPrompts, "diffusion: evaluate on the first N prompts only (0: all 25)")
	fs.StringVar(&o.DINOModel, "dino-model", o.DINOModel, "diffusion: DINO checkpoint for the DINO score (default facebook/dino-vits16; the tiny model: a built-in tiny ViT)")
	fs.StringVar(&o.CLIPModel, "clip-model", o.CLIPModel, "diffusion: CLIP checkpoint for CLIP-I and CLIP-T (default openai/clip-vit-base-patch32; the tiny model: a built-in tiny CLIP)")
	fs.Float64Var(&o.LRVectorFit, "lr-vectorfit", o.LRVectorFit, "VectorFit's learning rate (0: 10 × the task's protocol rate)")
	fs.Float64Var(&o.LRLoRA, "lr-lora", o.LRLoRA, "LoRA's learning rate (0: the task's protocol rate)")
	fs.Float64Var(&o.LRFullFT, "lr-fullft", o.LRFullFT, "full fine-tuning's learning rate (0: the protocol rate / 20)")
	fs.StringVar(&o.VectorFitOpt, "vectorfit", o.VectorFitOpt, "VectorFit options, e.g. k=4,interval=100,targets=query+value,bias=true,avf=avf|none|random,strength=l1|l1-size,forward=auto")
	fs.StringVar(&o.LoRAOpt, "lora", o.LoRAOpt, "LoRA options, e.g. r=8,alpha=16,dropout=0.05,targets=all")
	for _, m := range otherMethods {
		fs.Func(m.name, m.title+" options, e.g. "+m.example, func(v string) error { o.MethodOpts[m.name] = v; return nil })
		fs.Func("lr-"+m.name, fmt.Sprintf("%s's learning rate (0: %s)", m.title, lrDefault(m.name)), func(v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f >= 0) || math.IsInf(f, 0) {
				return fmt.Errorf("want a learning rate ≥ 0")
			}
			o.MethodLR[m.name] = f
			return nil
		})
	}
}

// otherMethods are the methods beyond VectorFit, LoRA and full fine-tuning, each with
// an options flag and a learning-rate flag of its name.
var otherMethods = []struct{ name, title, example string }{
	{"bitfit", "BitFit", "biases=all|query+intermediate"},
	{"adalora", "AdaLoRA", "init_r=12,target_r=8,tinit=200,tfinal=1000,deltaT=10,orth_reg_weight=0.5"},
	{"svft", "SVFT", "pattern=plain|banded|random|top_k,off_diag=2"},
	{"hadapter", "Houlsby adapter", "reduction_factor=16"},
	{"padapter", "Pfeiffer adapter", "reduction_factor=16"},
	{"pissa", "PiSSA", "r=8,alpha=8"},
	{"dora", "DoRA", "r=8,alpha=16"},
}

// parseOptions reads flags, and -config under them.
func parseOptions(args []string, stderr io.Writer) (Options, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (flags come as -name value)", fs.Arg(0))
	}
	if o.Config == "" {
		return o, o.check()
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = f.Value.String() })
	fromFile, err := readConfig(o.Config)
	if err != nil {
		return o, err
	}
	o = fromFile
	fs = flag.NewFlagSet("runner", flag.ContinueOnError)
	o.flags(fs)
	for name, v := range set {
		if err := fs.Set(name, v); err != nil {
			return o, err
		}
	}
	return o, o.check()
}

// readConfig reads a JSON config over the defaults; an unknown key is an error naming it.
func readConfig(path string) (Options, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Options{}, err
	}
	o := defaultOptions()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return o, fmt.Errorf("%s: invalid JSON at byte %d: %w", path, se.Offset, err)
		}
		return o, fmt.Errorf("%s: %w (keys are the flag names, e.g. \"lr\", \"max-steps\")", path, err)
	}
	return o, nil
}

// seeds expands "3" to 1, 2, 3 and "7,11" to 7, 11.
func (o Options) seeds() ([]int64, error) {
	if !strings.Contains(o.Seeds, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(o.Seeds))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-seeds %q: want a count ≥ 1 or a comma-separated list", o.Seeds)
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = int64(i + 1)
		}
		return out, nil
	}
	var out []int64
	for _, s := range strings.Split(o.Seeds, ",") {
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("-seeds %q: %q is not an integer", o.Seeds, s)
		}
		if slices.Contains(out, v) {
			return nil, fmt.Errorf("-seeds %q: seed %d is listed twice (it would train the same run twice)", o.Seeds, v)
		}
		out = append(out, v)
	}
	return out, nil
}

// methodOptions parses "k=4,interval=100" into key=value pairs.
func methodOptions(flagName, s string) (map[string]string, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("-%s %q: %q is not key=value", flagName, s, part)
		}
		kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return kv, nil
}

// splits are -train-split and -dev-split, with the suite's defaults where unset.
func (o Options) splits(devDefault string) (trainSplit, devSplit string) {
	trainSplit, devSplit = o.TrainSplit, o.DevSplit
	if trainSplit == "" {
		trainSplit = "train"
	}
	if devSplit == "" {
		devSplit = devDefault
	}
	return trainSplit, devSplit
}
