package diffusion

import (
	"image"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/imaging"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/clip"
	"github.com/vectorfit/harness/models/vit"
	"github.com/vectorfit/harness/suites/vision"
)

// DINO is the DINO embedding of the DreamBooth paper: ViTModel's [CLS] of the last
// hidden state (after the final LayerNorm) of a DINO checkpoint (facebook/dino-vits16),
// on pixels prepared by its ViTImageProcessor.
func DINO(m *vit.Model, proc vision.Processor, dev gotch.Device) ImageEmbedder {
	m.To(dev)
	return func(images []*imaging.RGB) ([][]float32, error) {
		pixels := make([]float32, 0, len(images)*proc.Size())
		for _, img := range images {
			px := make([]float32, proc.Size())
			if err := proc.Pixels(goImage(img), px); err != nil {
				return nil, err
			}
			pixels = append(pixels, px...)
		}
		in := ts.MustOfSlice(pixels).MustView([]int64{int64(len(images)), 3, int64(proc.Height), int64(proc.Width)}, true).MustTo(dev, true)
		defer in.MustDrop()
		var cls *ts.Tensor
		models.NoGrad(func() { cls = m.Encode(in).MustSelect(1, 0, true) })
		return rows(cls), nil
	}
}

// CLIP is CLIPModel's projected image features (CLIP-I) and text features (CLIP-T:
// prompts padded to the tokenizer's length with their attention mask, as
// CLIPProcessor(padding="max_length") gives them).
func CLIP(m *clip.Model, tok *clip.Tokenizer, proc clip.ImageProcessor, dev gotch.Device) (ImageEmbedder, TextEmbedder) {
	m.To(dev)
	images := func(imgs []*imaging.RGB) ([][]float32, error) {
		goImgs := make([]image.Image, len(imgs))
		for i, img := range imgs {
			goImgs[i] = goImage(img)
		}
		px, err := proc.PixelValues(goImgs)
		if err != nil {
			return nil, err
		}
		px = px.MustTo(dev, true)
		defer px.MustDrop()
		var f *ts.Tensor
		models.NoGrad(func() { f = m.ImageFeatures(px) })
		return rows(f), nil
	}
	texts := func(prompts []string) ([][]float32, error) {
		var ids, mask []int64
		for _, p := range prompts {
			i, k := tok.EncodePadded(p)
			ids, mask = append(ids, i...), append(mask, k...)
		}
		shape := []int64{int64(len(prompts)), int64(tok.MaxLength)}
		in := ts.MustOfSlice(ids).MustView(shape, true).MustTo(dev, true)
		msk := ts.MustOfSlice(mask).MustView(shape, true).MustTo(dev, true)
		defer in.MustDrop()
		defer msk.MustDrop()
		if err := m.Config.Text.CheckIDs(in); err != nil {
			return nil, err
		}
		var f *ts.Tensor
		models.NoGrad(func() { f = m.TextFeatures(in, msk) })
		return rows(f), nil
	}
	return images, texts
}

// rows copies a batch × d tensor to Go and drops it.
func rows(t *ts.Tensor) [][]float32 {
	cpu := t.MustTo(gotch.CPU, true).MustTotype(gotch.Float, true).MustContiguous(true) // bfloat16/float16 under -dtype's autocast
	defer cpu.MustDrop()
	size := cpu.MustSize()
	vals := cpu.Vals().([]float32)
	out := make([][]float32, size[0])
	for i := range out {
		out[i] = vals[int64(i)*size[1] : int64(i+1)*size[1]]
	}
	return out
}

// goImage wraps an 8-bit RGB image as an image.Image for the processors.
func goImage(m *imaging.RGB) image.Image {
	out := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
	for i := range m.W * m.H {
		copy(out.Pix[4*i:4*i+3], m.Pix[3*i:3*i+3])
		out.Pix[4*i+3] = 255
	}
	return out
}
