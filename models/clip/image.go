package clip

import (
	"fmt"
	"image"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/imaging"
)

// ImageProcessor is transformers' CLIPImageProcessor with CLIP's settings: convert to
// RGB, resize the shortest side to ShortestEdge with PIL's bicubic filter (the long
// side to int(ShortestEdge · long / short)), centre-crop CropHeight × CropWidth, rescale
// by 1/255, normalise with Mean and Std.
type ImageProcessor struct {
	ShortestEdge          int
	CropHeight, CropWidth int
	Mean, Std             [3]float32
}

// DefaultImageProcessor is openai/clip-vit-*'s preprocessor_config.json: 224, crop 224,
// OpenAI's mean and std.
func DefaultImageProcessor() ImageProcessor {
	return ImageProcessor{ShortestEdge: 224, CropHeight: 224, CropWidth: 224,
		Mean: [3]float32{0.48145466, 0.4578275, 0.40821073},
		Std:  [3]float32{0.26862954, 0.26130258, 0.27577711}}
}

// resizedSize is get_resize_output_image_size(default_to_square=False): width, height.
func (p ImageProcessor) resizedSize(w, h int) (int, int) {
	if w <= h {
		return p.ShortestEdge, int(float64(p.ShortestEdge) * float64(h) / float64(w))
	}
	return int(float64(p.ShortestEdge) * float64(w) / float64(h)), p.ShortestEdge
}

// Pixels preprocesses one image into channels × CropHeight × CropWidth float32 values
// (row-major), the pixel_values of one image.
func (p ImageProcessor) Pixels(img image.Image) ([]float32, error) {
	if p.ShortestEdge <= 0 || p.CropHeight <= 0 || p.CropWidth <= 0 {
		return nil, fmt.Errorf("image processor: shortest edge %d, crop %d×%d, want positive sizes", p.ShortestEdge, p.CropHeight, p.CropWidth)
	}
	rgb := imaging.ToRGB(img)
	if rgb.W == 0 || rgb.H == 0 {
		return nil, fmt.Errorf("image processor: an empty %d×%d image", rgb.W, rgb.H)
	}
	w, h := p.resizedSize(rgb.W, rgb.H)
	if w < p.CropWidth || h < p.CropHeight {
		// transformers would pad with zeros; no CLIP setting asks for that.
		return nil, fmt.Errorf("image processor: a %d×%d image resizes to %d×%d, smaller than the %d×%d crop", rgb.W, rgb.H, w, h, p.CropWidth, p.CropHeight)
	}
	resized := rgb.ResizeBicubic(w, h)
	top, left := (h-p.CropHeight)/2, (w-p.CropWidth)/2
	out := make([]float32, 3*p.CropHeight*p.CropWidth)
	plane := p.CropHeight * p.CropWidth
	for y := range p.CropHeight {
		for x := range p.CropWidth {
			px := resized.Pix[3*((top+y)*w+left+x):]
			for c := range 3 {
				// rescale in float64 then cast (transformers' rescale), normalise in float32.
				v := float32(float64(px[c]) * (1.0 / 255))
				out[c*plane+y*p.CropWidth+x] = (v - p.Mean[c]) / p.Std[c]
			}
		}
	}
	return out, nil
}

// PixelValues stacks preprocessed images into a float32 batch × 3 × h × w tensor.
func (p ImageProcessor) PixelValues(imgs []image.Image) (*ts.Tensor, error) {
	var all []float32
	for i, img := range imgs {
		px, err := p.Pixels(img)
		if err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
		all = append(all, px...)
	}
	return ts.MustOfSlice(all).MustView([]int64{int64(len(imgs)), 3, int64(p.CropHeight), int64(p.CropWidth)}, true).MustTo(gotch.CPU, true), nil
}
