package imaging

import "image"

// JPEG colour as PIL (libjpeg-turbo) produces it. Go's image/jpeg returns the decoded
// planes (Y at full size, Cb and Cr subsampled); its At() then takes the nearest chroma
// sample. libjpeg instead upsamples chroma with a triangle filter ("fancy upsampling",
// jdsample.c) and converts with its own fixed-point tables (jdcolor.c). On a 4:2:0
// image with sharp colour edges nearest-sample chroma is off by several levels on
// average (tens at edges); redoing both steps as libjpeg does leaves only the inverse
// DCTs' differences (Go's is not libjpeg's ISLOW), about ±1 level.

// ycbcrToRGB converts 4:4:4, 4:2:2 and 4:2:0 images the libjpeg way; ok is false for
// other subsamplings (then Go's conversion is used).
func ycbcrToRGB(src *image.YCbCr) (out *RGB, ok bool) {
	b := src.Rect
	if b.Min != (image.Point{}) { // a sub-image: chroma phase differs; not from a decoder
		return nil, false
	}
	w, h := b.Dx(), b.Dy()
	var cb, cr []uint8 // full-size chroma planes, row-major w × h
	switch src.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		cb, cr = plane(src.Cb, src.CStride, w, h), plane(src.Cr, src.CStride, w, h)
	case image.YCbCrSubsampleRatio422:
		cw := (w + 1) / 2
		if cw < 2 {
			return nil, false
		}
		cb, cr = upsampleH2V1(plane(src.Cb, src.CStride, cw, h), cw, w, h), upsampleH2V1(plane(src.Cr, src.CStride, cw, h), cw, w, h)
	case image.YCbCrSubsampleRatio420:
		cw, ch := (w+1)/2, (h+1)/2
		if cw < 2 {
			return nil, false
		}
		cb, cr = upsampleH2V2(plane(src.Cb, src.CStride, cw, ch), cw, ch, w, h), upsampleH2V2(plane(src.Cr, src.CStride, cw, ch), cw, ch, w, h)
	default:
		return nil, false
	}
	out = &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	for y := range h {
		for x := range w {
			yy := int32(src.Y[y*src.YStride+x])
			i := y*w + x
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = libjpegRGB(yy, int32(cb[i]), int32(cr[i]))
		}
	}
	return out, true
}

// plane copies a w × h plane out of a strided buffer (Go's decoder pads rows).
func plane(buf []uint8, stride, w, h int) []uint8 {
	out := make([]uint8, w*h)
	for y := range h {
		copy(out[y*w:(y+1)*w], buf[y*stride:y*stride+w])
	}
	return out
}

// upsampleH2V1 is jdsample.c's h2v1_fancy_upsample: each output pixel is ¾ of its
// nearer and ¼ of its further input sample, rounding alternately up and down.
func upsampleH2V1(in []uint8, cw, w, h int) []uint8 {
	out := make([]uint8, w*h)
	row := make([]uint8, 2*cw)
	for y := range h {
		upsampleRowH2(in[y*cw:(y+1)*cw], row)
		copy(out[y*w:(y+1)*w], row[:w])
	}
	return out
}

func upsampleRowH2(in, out []uint8) {
	n := len(in)
	out[0] = in[0]
	out[1] = uint8((int(in[0])*3 + int(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := int(in[i]) * 3
		out[2*i] = uint8((v + int(in[i-1]) + 1) >> 2)
		out[2*i+1] = uint8((v + int(in[i+1]) + 2) >> 2)
	}
	out[2*n-2] = uint8((int(in[n-1])*3 + int(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// upsampleH2V2 is jdsample.c's h2v2_fancy_upsample: a separable triangle filter, ¾
// nearer + ¼ further input row, then the same across columns, in one rounding step.
// Above the first and below the last row, libjpeg repeats the edge row.
func upsampleH2V2(in []uint8, cw, ch, w, h int) []uint8 {
	out := make([]uint8, w*h)
	row := make([]int, 2*cw)
	for r := range ch {
		for v := range 2 {
			y := 2*r + v
			if y >= h {
				break
			}
			nb := max(r-1, 0) // the neighbour row: above for the upper output row
			if v == 1 {
				nb = min(r+1, ch-1)
			}
			in0, in1 := in[r*cw:(r+1)*cw], in[nb*cw:(nb+1)*cw]
			colsum := func(i int) int { return int(in0[i])*3 + int(in1[i]) }
			this, next := colsum(0), colsum(1)
			row[0] = (this*4 + 8) >> 4
			row[1] = (this*3 + next + 7) >> 4
			last := this
			this = next
			for i := 2; i < cw; i++ {
				next = colsum(i)
				row[2*i-2] = (this*3 + last + 8) >> 4
				row[2*i-1] = (this*3 + next + 7) >> 4
				last, this = this, next
			}
			row[2*cw-2] = (this*3 + last + 8) >> 4
			row[2*cw-1] = (this*4 + 7) >> 4
			for x := range w {
				out[y*w+x] = uint8(row[x])
			}
		}
	}
	return out
}

// libjpegRGB is jdcolor.c's ycc_rgb_convert: 16-bit fixed-point JFIF constants.
func libjpegRGB(y, cb, cr int32) (r, g, b uint8) {
	const (
		half = 1 << 15
		crR  = 91881  // FIX(1.40200)
		cbB  = 116130 // FIX(1.77200)
		crG  = 46802  // FIX(0.71414)
		cbG  = 22554  // FIX(0.34414)
	)
	cb -= 128
	cr -= 128
	r = clamp8(y + (crR*cr+half)>>16)
	g = clamp8(y + (-cbG*cb+half-crG*cr)>>16)
	b = clamp8(y + (cbB*cb+half)>>16)
	return
}

func clamp8(v int32) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}
