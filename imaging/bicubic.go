package imaging

import "math"

// PIL's Image.resize(size, Image.BICUBIC) (libImaging/Resample.c), which CLIP's
// CLIPImageProcessor calls: the resampler of Resize (resize.go) with Keys' cubic
// (a = −0.5) of support 2 in place of the triangle.

var bicubic = filter{kernel: bicubicFilter, support: 2}

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

// ResizeBicubic scales m to w×h as PIL's Image.resize((w, h), Image.BICUBIC) does.
func (m *RGB) ResizeBicubic(w, h int) *RGB { return m.resample(bicubic, w, h) }
