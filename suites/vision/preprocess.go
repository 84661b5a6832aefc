package vision

import (
	"github.com/vectorfit/harness/imaging"

	"encoding/json"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
)

// Processor turns an image into the pixel values a ViT reads, as transformers'
// ViTImageProcessor does: convert to RGB (grey replicated), resize to Height×Width
// with PIL's bilinear filter, rescale by RescaleFactor (1/255), normalise with the
// checkpoint's per-channel Mean and Std; output channels × height × width, float32.
type Processor struct {
	Height, Width int
	DoResize      bool
	DoRescale     bool
	RescaleFactor float64
	DoNormalize   bool
	Mean, Std     [3]float32
}

// DefaultProcessor is google/vit-base-patch16-224's preprocessor_config.json: 224×224,
// bilinear, rescale 1/255, mean = std = 0.5 (pixels in [−1, 1]).
func DefaultProcessor() Processor {
	return Processor{
		Height: 224, Width: 224, DoResize: true, DoRescale: true, RescaleFactor: 1.0 / 255,
		DoNormalize: true, Mean: [3]float32{0.5, 0.5, 0.5}, Std: [3]float32{0.5, 0.5, 0.5},
	}
}

// ProcessorFor is DefaultProcessor at another size, e.g. the tiny ViT's 32×32.
func ProcessorFor(size int) Processor {
	p := DefaultProcessor()
	p.Height, p.Width = size, size
	return p
}

// pilBilinear is PIL's Image.BILINEAR, the "resample" value of ViT processors.
const pilBilinear = 2

// LoadProcessor reads a Hugging Face preprocessor_config.json. It accepts what this
// package reproduces exactly (ViTImageProcessor's steps with bilinear resampling to a
// fixed height and width) and rejects other settings by key rather than preprocess
// differently from the checkpoint's training.
func LoadProcessor(path string) (Processor, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Processor{}, err
	}
	var cfg struct {
		Type          string          `json:"image_processor_type"`
		FeatType      string          `json:"feature_extractor_type"`
		DoResize      *bool           `json:"do_resize"`
		Size          json.RawMessage `json:"size"`
		Resample      *int            `json:"resample"`
		DoRescale     *bool           `json:"do_rescale"`
		RescaleFactor *float64        `json:"rescale_factor"`
		DoNormalize   *bool           `json:"do_normalize"`
		Mean          []float64       `json:"image_mean"`
		Std           []float64       `json:"image_std"`
		DoCenterCrop  bool            `json:"do_center_crop"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return Processor{}, fmt.Errorf("%s: not a preprocessor_config.json: %w", path, err)
	}
	p := DefaultProcessor()
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if t := cfg.Type + cfg.FeatType; t != "" && t != "ViTImageProcessor" && t != "ViTFeatureExtractor" {
		bad("image_processor_type %q: only ViTImageProcessor is reproduced", t)
	}
	if cfg.DoCenterCrop {
		bad("do_center_crop is true: ViTImageProcessor does not crop")
	}
	if cfg.Resample != nil && *cfg.Resample != pilBilinear {
		bad("resample %d: only %d (PIL bilinear) is implemented", *cfg.Resample, pilBilinear)
	}
	if len(cfg.Size) > 0 {
		var hw struct {
			Height *int `json:"height"`
			Width  *int `json:"width"`
		}
		var side int
		switch {
		case json.Unmarshal(cfg.Size, &hw) == nil && hw.Height != nil && hw.Width != nil:
			p.Height, p.Width = *hw.Height, *hw.Width
		case json.Unmarshal(cfg.Size, &side) == nil: // old feature extractors: one int
			p.Height, p.Width = side, side
		default:
			bad("size %s: want {\"height\": h, \"width\": w}", cfg.Size)
		}
		if p.Height <= 0 || p.Width <= 0 {
			bad("size %d×%d, want positive", p.Height, p.Width)
		}
	}
	if cfg.DoResize != nil {
		p.DoResize = *cfg.DoResize
	}
	if cfg.DoRescale != nil {
		p.DoRescale = *cfg.DoRescale
	}
	if cfg.RescaleFactor != nil {
		p.RescaleFactor = *cfg.RescaleFactor
	}
	if cfg.DoNormalize != nil {
		p.DoNormalize = *cfg.DoNormalize
	}
	for _, ms := range []struct {
		key string
		v   []float64
		dst *[3]float32
	}{{"image_mean", cfg.Mean, &p.Mean}, {"image_std", cfg.Std, &p.Std}} {
		switch len(ms.v) {
		case 0:
		case 3:
			for i, x := range ms.v {
				ms.dst[i] = float32(x)
			}
		default:
			bad("%s has %d values, want 3 (R, G, B)", ms.key, len(ms.v))
		}
	}
	for _, s := range p.Std {
		if s == 0 {
			bad("image_std has a zero")
		}
	}
	if len(errs) > 0 {
		return Processor{}, fmt.Errorf("%s: %w", path, errors.Join(errs...))
	}
	return p, nil
}

// Size is the number of float32 values Pixels writes: 3 × Height × Width.
func (p Processor) Size() int { return 3 * p.Height * p.Width }

// table maps each 8-bit value of each channel to its output, with transformers'
// arithmetic: rescale multiplies in float64 and stores float32, normalise subtracts
// and divides in float32.
func (p Processor) table() [3][256]float32 {
	var t [3][256]float32
	for c := range 3 {
		for u := range 256 {
			v := float32(u)
			if p.DoRescale {
				v = float32(float64(u) * p.RescaleFactor)
			}
			if p.DoNormalize {
				v = (v - p.Mean[c]) / p.Std[c]
			}
			t[c][u] = v
		}
	}
	return t
}

// Pixels writes img's pixel values into dst (length Size()), channels first.
func (p Processor) Pixels(img image.Image, dst []float32) error {
	return p.write(p.prepare(imaging.ToRGB(img)), dst)
}

// prepare resizes (when the processor does) to Height×Width.
func (p Processor) prepare(m *imaging.RGB) *imaging.RGB {
	if p.DoResize {
		return m.Resize(p.Width, p.Height)
	}
	return m
}

func (p Processor) write(m *imaging.RGB, dst []float32) error {
	if m.W != p.Width || m.H != p.Height {
		return fmt.Errorf("image is %d×%d, the model reads %d×%d (do_resize is off)", m.W, m.H, p.Width, p.Height)
	}
	if len(dst) != p.Size() {
		return fmt.Errorf("vision: pixel buffer of %d values, want %d", len(dst), p.Size())
	}
	t := p.table()
	n := m.W * m.H
	for i := range n {
		for c := range 3 {
			dst[c*n+i] = t[c][m.Pix[3*i+c]]
		}
	}
	return nil
}

// Augment is the training-time augmentation of Hugging Face's image-classification
// example (run_image_classification.py), after torchvision: RandomResizedCrop to the
// processor's size, then RandomHorizontalFlip; evaluation uses the processor alone.
type Augment struct {
	RandomResizedCrop bool
	Scale             [2]float64 // fraction of the image area; torchvision's default (0.08, 1)
	Ratio             [2]float64 // aspect ratio w/h; default (3/4, 4/3)
	HorizontalFlip    bool       // with probability ½
}

// StandardAugment is torchvision's RandomResizedCrop defaults plus a horizontal flip.
func StandardAugment() Augment {
	return Augment{RandomResizedCrop: true, Scale: [2]float64{0.08, 1}, Ratio: [2]float64{3.0 / 4, 4.0 / 3}, HorizontalFlip: true}
}

// Enabled says whether a transform is on.
func (a Augment) Enabled() bool { return a.RandomResizedCrop || a.HorizontalFlip }

// TrainPixels is Pixels with augmentation a drawn from rng: crop (torchvision's
// RandomResizedCrop.get_params), resize with PIL's bilinear filter, flip.
func (p Processor) TrainPixels(img image.Image, a Augment, rng *rand.Rand, dst []float32) error {
	m := imaging.ToRGB(img)
	if a.RandomResizedCrop {
		top, left, h, w := cropParams(m.W, m.H, a.Scale, a.Ratio, rng)
		m = m.Crop(left, top, w, h).Resize(p.Width, p.Height)
	} else {
		m = p.prepare(m)
	}
	if a.HorizontalFlip && rng.Float64() < 0.5 {
		m.FlipLeftRight()
	}
	return p.write(m, dst)
}

// cropParams is torchvision's RandomResizedCrop.get_params: up to ten draws of an area
// fraction (uniform in scale) and a log-uniform aspect ratio, keeping the first crop
// that fits; otherwise the centred crop of the largest allowed aspect ratio.
func cropParams(width, height int, scale, ratio [2]float64, rng *rand.Rand) (top, left, h, w int) {
	area := float64(width * height)
	logLo, logHi := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * (scale[0] + (scale[1]-scale[0])*rng.Float64())
		aspect := math.Exp(logLo + (logHi-logLo)*rng.Float64())
		w = int(math.RoundToEven(math.Sqrt(target * aspect))) // Python's round
		h = int(math.RoundToEven(math.Sqrt(target / aspect)))
		if w > 0 && w <= width && h > 0 && h <= height {
			return rng.IntN(height - h + 1), rng.IntN(width - w + 1), h, w
		}
	}
	in := float64(width) / float64(height)
	switch {
	case in < ratio[0]:
		w, h = width, int(math.RoundToEven(float64(width)/ratio[0]))
	case in > ratio[1]:
		h, w = height, int(math.RoundToEven(float64(height)*ratio[1]))
	default:
		w, h = width, height
	}
	return (height - h) / 2, (width - w) / 2, h, w
}
