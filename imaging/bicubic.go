package imaging

import "math"

// PIL's Image.resize(size, Image.BICUBIC) (libImaging/Resample.c), which CLIP's
// CLIPImageProcessor calls: the same two fixed-point passes as Resize (horizontal
// first, 8-bit intermediate, weights normalised per output pixel, 22 fractional bits,
// sums clipped to 0..255), with Keys' cubic (a = −0.5) of support 2, stretched by the
// scale factor when downscaling. Kept apart from Resize (which it mirrors) so that the
// bilinear path stays byte-for-byte the code its tests pin.

func bicubicFilter(x float64) float64 {
	const a = -0.5
	x = math.Abs(x)
	switch {
	case x < 1:
		return float64(float64((a+2)*x-(a+3))*x*x) + 1
	case x < 2:
		return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
	}
	return 0
}

// cubicCoeffs is precompute_coeffs + normalize_coeffs_8bpc for the bicubic filter.
func cubicCoeffs(inSize, outSize int) resampleCoeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1.0)
	support := 2.0 * filterscale
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
			w[x] = bicubicFilter(float64((float64(x+xmin) - center + 0.5) * ss))
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

// ResizeBicubic scales m to w×h as PIL's Image.resize((w, h), Image.BICUBIC) does.
func (m *RGB) ResizeBicubic(w, h int) *RGB {
	src := m
	if w != m.W {
		horiz := cubicCoeffs(m.W, w)
		tmp := &RGB{W: w, H: m.H, Pix: make([]uint8, 3*w*m.H)}
		for y := range m.H {
			in := m.Pix[3*m.W*y : 3*m.W*(y+1)]
			out := tmp.Pix[3*w*y : 3*w*(y+1)]
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
		src = tmp
	}
	if h == src.H {
		return src
	}
	vert := cubicCoeffs(src.H, h)
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
