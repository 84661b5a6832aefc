package diffusion

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"

	"github.com/vectorfit/harness/imaging"
)

// ToImage turns one decoded image (channels × height × width in [−1, 1], what the
// VAE returns) into 8-bit RGB as diffusers' VaeImageProcessor.postprocess and
// numpy_to_pil do: x/2 + 0.5 clamped to [0, 1], then round(255·x).
func ToImage(chw []float32, height, width int) (*imaging.RGB, error) {
	plane := height * width
	if len(chw) != 3*plane {
		return nil, fmt.Errorf("diffusion: %d values for a 3×%d×%d image", len(chw), height, width)
	}
	m := &imaging.RGB{W: width, H: height, Pix: make([]uint8, 3*plane)}
	for i := range plane {
		for c := range 3 {
			v := min(max(chw[c*plane+i]/2+0.5, 0), 1)
			m.Pix[3*i+c] = uint8(math.RoundToEven(float64(v * 255)))
		}
	}
	return m, nil
}

// nrgba is m as a Go image for the PNG encoder.
func nrgba(m *imaging.RGB) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, m.W, m.H))
	for i := range m.W * m.H {
		copy(out.Pix[4*i:4*i+3], m.Pix[3*i:3*i+3])
		out.Pix[4*i+3] = 255
	}
	return out
}

// WritePNG writes m to path atomically (a temporary file renamed into place).
func WritePNG(path string, m *imaging.RGB) error {
	return writeImage(path, nrgba(m))
}

func writeImage(path string, img image.Image) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("diffusion: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*.png")
	if err != nil {
		return fmt.Errorf("diffusion: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := png.Encode(tmp, img); err != nil {
		tmp.Close()
		return fmt.Errorf("diffusion: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("diffusion: writing %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

// sheetGutter is the white space between a contact sheet's images, in pixels.
const sheetGutter = 4

// ContactSheet lays rows of images (one row per prompt, all images of one size) on
// a white grid, so that a person sees a run's generations at a glance.
func ContactSheet(rows [][]*imaging.RGB) (*image.NRGBA, error) {
	if len(rows) == 0 || len(rows[0]) == 0 {
		return nil, fmt.Errorf("diffusion: a contact sheet of no images")
	}
	w, h := rows[0][0].W, rows[0][0].H
	cols := 0
	for _, r := range rows {
		cols = max(cols, len(r))
	}
	sheet := image.NewNRGBA(image.Rect(0, 0, cols*(w+sheetGutter)+sheetGutter, len(rows)*(h+sheetGutter)+sheetGutter))
	for i := range sheet.Pix {
		sheet.Pix[i] = 255
	}
	for y, r := range rows {
		for x, m := range r {
			if m.W != w || m.H != h {
				return nil, fmt.Errorf("diffusion: contact sheet image %d,%d is %d×%d, want %d×%d", y, x, m.W, m.H, w, h)
			}
			x0, y0 := sheetGutter+x*(w+sheetGutter), sheetGutter+y*(h+sheetGutter)
			for py := range h {
				for px := range w {
					i := 3 * (py*w + px)
					sheet.SetNRGBA(x0+px, y0+py, color.NRGBA{m.Pix[i], m.Pix[i+1], m.Pix[i+2], 255})
				}
			}
		}
	}
	return sheet, nil
}

// WriteContactSheet writes ContactSheet(rows) to path.
func WriteContactSheet(path string, rows [][]*imaging.RGB) error {
	sheet, err := ContactSheet(rows)
	if err != nil {
		return err
	}
	return writeImage(path, sheet)
}
