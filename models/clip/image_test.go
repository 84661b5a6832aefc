package clip

import (
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/imaging"
	"github.com/vectorfit/harness/internal/testmodel/compare"
)

// dreamboothImage decodes one of the DreamBooth JPEGs the fixture processed.
func dreamboothImage(t *testing.T, rel string) image.Image {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "data", "dreambooth", "dataset", rel)
	f, err := os.Open(path)
	if err != nil {
		t.Skipf("DreamBooth data not available: %v", err)
	}
	defer f.Close()
	img, err := jpeg.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// CLIPImageProcessor (bicubic shortest-edge resize, centre crop, rescale, normalise)
// against transformers' on real JPEGs, square and (cropped to 2/3 height) non-square.
// Go's JPEG decoder is not libjpeg (its IDCT differs by about one level here and
// there), so the comparison is within one level / std ≈ 0.0151 and the mean difference
// must be small; the resize itself is PIL's exactly (TestBicubicEqualsPIL).
func TestImageProcessorMatchesTransformers(t *testing.T) {
	io := compare.LoadIO(t, filepath.Join("testdata", "images"))
	procs := map[string]ImageProcessor{}
	p := DefaultImageProcessor()
	p.ShortestEdge, p.CropHeight, p.CropWidth = 64, 64, 64
	procs["s64"] = p
	p.ShortestEdge, p.CropHeight, p.CropWidth = 72, 56, 56
	procs["s72c56"] = p
	images := map[string]string{"dog_00": "dog/00.jpg", "backpack_01": "backpack/01.jpg"}
	for pname, proc := range procs {
		for iname, rel := range images {
			t.Run(pname+"_"+iname, func(t *testing.T) {
				img := dreamboothImage(t, rel)
				if pname == "s72c56" {
					rgb := imaging.ToRGB(img)
					img = rgbImage(rgb.Crop(0, 0, rgb.W, rgb.H*2/3))
				}
				px, err := proc.Pixels(img)
				if err != nil {
					t.Fatal(err)
				}
				want := io[pname+"_"+iname]
				got := ts.MustOfSlice(px).MustView(want.MustSize(), true)
				d := compare.MaxAbsDiff(t, "pixels", got, want)
				mean := got.MustSub(want, false).MustAbs(true).MustMean(want.DType(), true).Float64Values()[0]
				t.Logf("max abs diff %.4g, mean %.3g", d, mean)
				if d > 0.0151 || mean > 1e-3 {
					t.Errorf("max abs diff %g (want ≤ 0.0151, one level), mean %g (want ≤ 1e-3)", d, mean)
				}
			})
		}
	}
}

// rgbImage wraps imaging.RGB as an image.Image.
func rgbImage(m *imaging.RGB) image.Image {
	out := image.NewRGBA(image.Rect(0, 0, m.W, m.H))
	for i := range m.W * m.H {
		copy(out.Pix[4*i:4*i+3], m.Pix[3*i:3*i+3])
		out.Pix[4*i+3] = 255
	}
	return out
}

// ResizeBicubic equals PIL's Image.resize(BICUBIC) byte for byte, shrinking, enlarging
// and both at once.
func TestBicubicEqualsPIL(t *testing.T) {
	io := compare.LoadIO(t, filepath.Join("testdata", "images"))
	in := io["bicubic_in"]
	size := in.MustSize()
	src := &imaging.RGB{W: int(size[1]), H: int(size[0]), Pix: in.MustTotype(gotch.Uint8, false).Vals().([]uint8)}
	for _, wh := range [][2]int{{16, 11}, {64, 50}, {20, 40}, {37, 13}} {
		want := io[fmt.Sprintf("bicubic_%dx%d", wh[0], wh[1])].Vals().([]uint8)
		got := src.ResizeBicubic(wh[0], wh[1]).Pix
		diff := 0
		for i := range want {
			if got[i] != want[i] {
				diff++
			}
		}
		if diff > 0 || len(got) != len(want) {
			t.Errorf("%dx%d: %d of %d bytes differ from PIL", wh[0], wh[1], diff, len(want))
		}
	}
}
