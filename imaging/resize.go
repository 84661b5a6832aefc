// Package imaging holds what the image suites and processors share: decoded images as
// PIL holds them (8-bit RGB, JPEG colour as libjpeg gives it) and PIL's resampling,
// byte for byte, so preprocessing equals transformers' and torchvision's PIL path.
package imaging

import (
	"image"
	"image/color"
	"math"
)

// RGB is an 8-bit RGB image, row-major, 3 bytes per pixel: what PIL's "RGB" mode
// holds, and what the resampler works on.
type RGB struct {
	W, H int
	Pix  []uint8
}

// ToRGB converts a decoded image to RGB the way PIL's Image.convert("RGB") does:
// grey is replicated to three channels; alpha is dropped, not composited (PIL keeps
// the colour of transparent pixels); palette entries give their colour. For JPEG
// (YCbCr) chroma is upsampled and converted as libjpeg does it (jpeg.go).
func ToRGB(img image.Image) *RGB {
	b := img.Bounds()
	out := &RGB{W: b.Dx(), H: b.Dy(), Pix: make([]uint8, 3*b.Dx()*b.Dy())}
	i := 0
	switch src := img.(type) {
	case *image.YCbCr:
		if m, ok := ycbcrToRGB(src); ok {
			return m
		}
		generic(img, out)
	case *image.Gray:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for _, v := range src.Pix[src.PixOffset(b.Min.X, y):src.PixOffset(b.Max.X, y)] {
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = v, v, v
				i += 3
			}
		}
	case *image.RGBA: // opaque in practice (PNG without alpha, PPM, CIFAR); premultiplied otherwise
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, y):src.PixOffset(b.Max.X, y)]
			for x := 0; x < len(row); x += 4 {
				if a := row[x+3]; a != 255 {
					c := color.NRGBAModel.Convert(color.RGBA{row[x], row[x+1], row[x+2], a}).(color.NRGBA)
					out.Pix[i], out.Pix[i+1], out.Pix[i+2] = c.R, c.G, c.B
				} else {
					out.Pix[i], out.Pix[i+1], out.Pix[i+2] = row[x], row[x+1], row[x+2]
				}
				i += 3
			}
		}
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := src.Pix[src.PixOffset(b.Min.X, y):src.PixOffset(b.Max.X, y)]
			for x := 0; x < len(row); x += 4 {
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = row[x], row[x+1], row[x+2]
				i += 3
			}
		}
	case *image.Paletted:
		rgb := make([][3]uint8, len(src.Palette))
		for k, c := range src.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			if r, g, bl, a := c.RGBA(); a == 0xffff || a == 0 {
				// Opaque entries exactly; fully transparent ones keep no colour in Go,
				// PIL would use the palette's: black either way for common files.
				n = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}
			}
			rgb[k] = [3]uint8{n.R, n.G, n.B}
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for _, v := range src.Pix[src.PixOffset(b.Min.X, y):src.PixOffset(b.Max.X, y)] {
				c := rgb[v]
				out.Pix[i], out.Pix[i+1], out.Pix[i+2] = c[0], c[1], c[2]
				i += 3
			}
		}
	default: // CMYK, 16-bit, …
		generic(img, out)
	}
	return out
}

// generic converts through Go's colour models (un-premultiplying alpha).
func generic(img image.Image, out *RGB) {
	b := img.Bounds()
	i := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			out.Pix[i], out.Pix[i+1], out.Pix[i+2] = c.R, c.G, c.B
			i += 3
		}
	}
}

// Crop returns the w×h region at (left, top); it must lie inside m.
func (m *RGB) Crop(left, top, w, h int) *RGB {
	out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	for y := range h {
		copy(out.Pix[3*w*y:3*w*(y+1)], m.Pix[3*((top+y)*m.W+left):])
	}
	return out
}

// FlipLeftRight mirrors m in place.
func (m *RGB) FlipLeftRight() {
	for y := range m.H {
		row := m.Pix[3*m.W*y : 3*m.W*(y+1)]
		for l, r := 0, m.W-1; l < r; l, r = l+1, r-1 {
			for c := range 3 {
				row[3*l+c], row[3*r+c] = row[3*r+c], row[3*l+c]
			}
		}
	}
}

// PIL's resize (Image.Resize(size, Image.BILINEAR) or Image.BICUBIC,
// libImaging/Resample.c), which transformers' image processors and torchvision's PIL
// path call, reproduced exactly:
//
//   - The filter (the triangle max(0, 1 − |x|) with support 1 for bilinear, Keys'
//     cubic with support 2 for bicubic: bicubic.go) is stretched by the scale factor
//     when downscaling (support = scale × the filter's): an antialiasing, area-like
//     filter, not the 2-tap bilinear of a naive implementation or of libtorch's
//     interpolate without antialias.
//   - Weights are normalised per output pixel, then turned into fixed point with 22
//     fractional bits; sums start at ½ (rounding) and are clipped to 0..255.
//   - Two separable passes, horizontal first, with an 8-bit intermediate image.
//
// libtorch's interpolate(mode="bilinear", antialias=True) uses the same filter in
// floating point without the intermediate rounding: it differs from PIL by one level
// in about 12% of the values of the test image (scripts/fixtures/gen_vit.py), so it
// cannot match the reference processor to 1e-5; this code matches it byte for byte.

const precisionBits = 32 - 8 - 2

// resampleCoeffs are the fixed-point weights of one pass: output pixel i reads the
// n[i] input pixels from first[i], weighted by k[i*ksize:].
type resampleCoeffs struct {
	ksize    int
	first, n []int
	k        []int32
}

// filter is one of Resample.c's filters: its kernel and the support of the kernel
// at scale 1.
type filter struct {
	kernel  func(float64) float64
	support float64
}

var bilinear = filter{kernel: bilinearFilter, support: 1}

func bilinearFilter(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

// precomputeCoeffs is precompute_coeffs + normalize_coeffs_8bpc of Resample.c for an
// axis of inSize pixels mapped to outSize pixels with filter filt.
// Explicit float64 conversions keep Go from fusing multiply-adds, which the C code
// (compiled for baseline x86-64) does not do either.
func precomputeCoeffs(filt filter, inSize, outSize int) resampleCoeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1.0)
	support := filt.support * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c := resampleCoeffs{ksize: ksize, first: make([]int, outSize), n: make([]int, outSize), k: make([]int32, outSize*ksize)}
	w := make([]float64, ksize)
	for xx := range outSize {
		center := float64((float64(xx) + 0.5) * scale)
		ss := 1.0 / filterscale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		ww := 0.0
		for x := range xmax {
			w[x] = filt.kernel(float64((float64(x+xmin) - center + 0.5) * ss))
			ww += w[x]
		}
		for x := range xmax {
			v := w[x]
			if ww != 0 {
				v /= ww
			}
			f := float64(v * (1 << precisionBits))
			if v < 0 {
				c.k[xx*ksize+x] = int32(-0.5 + f)
			} else {
				c.k[xx*ksize+x] = int32(0.5 + f)
			}
		}
		c.first[xx], c.n[xx] = xmin, xmax
	}
	return c
}

// clip8 is Resample.c's clip8: the fixed-point sum back to 0..255.
func clip8(v int32) uint8 { return clamp8(v >> precisionBits) }

// Resize scales m to w×h as PIL's Image.Resize(BILINEAR) does.
func (m *RGB) Resize(w, h int) *RGB { return m.resample(bilinear, w, h) }

// resample scales m to w×h as PIL's Image.resize((w, h), f) does.
func (m *RGB) resample(f filter, w, h int) *RGB {
	horiz := precomputeCoeffs(f, m.W, w)
	vert := precomputeCoeffs(f, m.H, h)
	src := m
	if w != m.W {
		// Only the rows the vertical pass reads: from the first output row's first
		// input row to the last output row's last one.
		y0, y1 := 0, m.H
		if h > 0 {
			y0, y1 = vert.first[0], vert.first[h-1]+vert.n[h-1]
		}
		tmp := &RGB{W: w, H: y1 - y0, Pix: make([]uint8, 3*w*(y1-y0))}
		for y := y0; y < y1; y++ {
			in := m.Pix[3*m.W*y : 3*m.W*(y+1)]
			out := tmp.Pix[3*w*(y-y0) : 3*w*(y-y0+1)]
			for xx := range w {
				k := horiz.k[xx*horiz.ksize:]
				first := horiz.first[xx]
				for c := range 3 {
					ss := int32(1 << (precisionBits - 1))
					for x := range horiz.n[xx] {
						ss += int32(in[3*(first+x)+c]) * k[x]
					}
					out[3*xx+c] = clip8(ss)
				}
			}
		}
		for i := range vert.first {
			vert.first[i] -= y0
		}
		src = tmp
	}
	if h == m.H {
		return src
	}
	out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	for yy := range h {
		k := vert.k[yy*vert.ksize:]
		first := vert.first[yy]
		row := out.Pix[3*w*yy : 3*w*(yy+1)]
		for x := range 3 * w {
			ss := int32(1 << (precisionBits - 1))
			for y := range vert.n[yy] {
				ss += int32(src.Pix[3*w*(first+y)+x]) * k[y]
			}
			row[x] = clip8(ss)
		}
	}
	return out
}
