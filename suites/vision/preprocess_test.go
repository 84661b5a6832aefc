package vision

import (
	"github.com/vectorfit/harness/imaging"

	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models/safetensors"
)

const preprocessDir = "testdata/preprocess"

func reference(t *testing.T) map[string]*ts.Tensor {
	t.Helper()
	ref, err := safetensors.Load(filepath.Join(preprocessDir, "reference.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func decodeFile(t *testing.T, name string) image.Image {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(preprocessDir, name))
	if err != nil {
		t.Fatal(err)
	}
	img, err := decodeBytes(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// chw lays an rgb8 image out channels first, as the processors return it.
func chw(m *imaging.RGB) []float64 {
	n := m.W * m.H
	out := make([]float64, 3*n)
	for i := range n {
		for c := range 3 {
			out[c*n+i] = float64(m.Pix[3*i+c])
		}
	}
	return out
}

// Our resize equals PIL's Image.Resize(BILINEAR) as ViTImageProcessor() (the
// google/vit-base settings, 224×224) calls it: a 320×240 photo downscaled (PIL's
// support-stretched filter) and a 28×28 grey digit upscaled, both to the exact byte.
func TestResizeEqualsPIL(t *testing.T) {
	ref := reference(t)
	for _, c := range []struct{ file, key string }{{"photo.png", "resized224_photo"}, {"digit.png", "resized224_digit"}} {
		got := chw(imaging.ToRGB(decodeFile(t, c.file)).Resize(224, 224))
		want := ref[c.key].Float64Values()
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", c.file, len(got), len(want))
		}
		diff := 0
		worst := 0.0
		for i := range got {
			if got[i] != want[i] {
				diff++
				worst = max(worst, math.Abs(got[i]-want[i]))
			}
		}
		if diff > 0 {
			t.Errorf("%s → 224×224: %d of %d values differ from PIL's, by up to %g levels", c.file, diff, len(got), worst)
		}
	}
}

// The whole pipeline (RGB, resize, rescale, normalise) equals transformers'
// ViTImageProcessor to 1e-5: the processor read from its preprocessor_config.json
// (64×48, ImageNet mean/std), and the vit-base settings at 32×32.
func TestProcessorEqualsTransformers(t *testing.T) {
	ref := reference(t)
	p, err := LoadProcessor(filepath.Join(preprocessDir, "preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Height != 64 || p.Width != 48 || p.Mean[0] != 0.485 || p.Std[2] != 0.225 {
		t.Fatalf("processor read as %+v", p)
	}
	for _, c := range []struct {
		proc      Processor
		file, key string
	}{
		{p, "photo.png", "pixels_photo"},
		{p, "digit.png", "pixels_digit"},
		{ProcessorFor(32), "photo.png", "pixels_photo_vitbase"},
	} {
		got := make([]float32, c.proc.Size())
		if err := c.proc.Pixels(decodeFile(t, c.file), got); err != nil {
			t.Fatal(err)
		}
		want := ref[c.key].Float64Values()
		worst := 0.0
		for i := range want {
			worst = max(worst, math.Abs(float64(got[i])-want[i]))
		}
		t.Logf("%s: max |ours − transformers| = %g", c.key, worst)
		if worst > 1e-5 {
			t.Errorf("%s: max |ours − transformers| = %g, want ≤ 1e-5", c.key, worst)
		}
	}
}

// JPEG: with libjpeg's chroma upsampling and colour conversion (jpeg.go) only the
// inverse DCTs differ from PIL's libjpeg-turbo: on this 4:2:0 image with sharp colour
// edges, mean 0.05 and max 2 levels (Go's own nearest-chroma conversion: mean 4.7, max
// 46). The bound catches a regression to the latter.
func TestJPEGDecodeCloseToPIL(t *testing.T) {
	got := imaging.ToRGB(decodeFile(t, "photo.jpg"))
	want := reference(t)["jpeg_pil"].Float64Values() // h × w × 3
	if len(want) != len(got.Pix) {
		t.Fatalf("%d values, PIL %d", len(got.Pix), len(want))
	}
	sum, worst := 0.0, 0.0
	for i, v := range got.Pix {
		d := math.Abs(float64(v) - want[i])
		sum += d
		worst = max(worst, d)
	}
	mean := sum / float64(len(want))
	t.Logf("Go vs PIL JPEG decode of a 64×48 4:2:0 image: mean |Δ| %.3f levels, max %g", mean, worst)
	if mean > 0.2 || worst > 3 {
		t.Errorf("JPEG decode differs from PIL's by mean %.3f, max %g levels: more than the decoders' known differences", mean, worst)
	}
}

// RandomResizedCrop draws crops inside the image with the configured area and aspect
// ranges, falling back to the centre crop; flipping mirrors the image.
func TestAugment(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		top, left, h, w := cropParams(40, 30, [2]float64{0.08, 1}, [2]float64{3.0 / 4, 4.0 / 3}, rng)
		if top < 0 || left < 0 || h < 1 || w < 1 || top+h > 30 || left+w > 40 {
			t.Fatalf("crop (%d,%d) %d×%d outside 40×30", left, top, w, h)
		}
	}
	// An area fraction no draw can fit falls back to the centre crop of ratio ≤ 4/3.
	top, left, h, w := cropParams(100, 10, [2]float64{2, 2}, [2]float64{3.0 / 4, 4.0 / 3}, rng)
	if h != 10 || w != 13 || top != 0 || left != 43 {
		t.Errorf("fallback crop (%d,%d) %d×%d, want (43,0) 13×10", left, top, w, h)
	}
	m := &imaging.RGB{W: 3, H: 1, Pix: []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9}}
	m.FlipLeftRight()
	if !slices.Equal(m.Pix, []uint8{7, 8, 9, 4, 5, 6, 1, 2, 3}) {
		t.Errorf("flip: %v", m.Pix)
	}
	p := ProcessorFor(16)
	dst := make([]float32, p.Size())
	img := decodeFile(t, "photo.png")
	if err := p.TrainPixels(img, StandardAugment(), rng, dst); err != nil {
		t.Fatal(err)
	}
	for _, v := range dst {
		if v < -1 || v > 1 {
			t.Fatalf("augmented pixel %g outside [−1, 1]", v)
		}
	}
}

func TestLoadProcessorRejects(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "preprocessor_config.json")
	os.WriteFile(path, []byte(`{"image_processor_type": "CLIPImageProcessor", "resample": 3, "do_center_crop": true, "image_mean": [0.5, 0.5], "size": {"shortest_edge": 224}}`), 0o644)
	_, err := LoadProcessor(path)
	for _, want := range []string{"CLIPImageProcessor", "resample 3", "do_center_crop", "image_mean has 2 values", "size"} {
		if err == nil || !contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}
