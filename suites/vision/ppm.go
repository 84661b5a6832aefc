package vision

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
)

// Go's image package reads PNG and JPEG but not the Netpbm formats GTSRB ships (PPM,
// "P6"). This is a small strict decoder for binary PPM (P6, RGB) and PGM (P5, grey)
// with maxval ≤ 255, registered with the image package so image.Decode reads them.
//
// Strict means: the magic number, then width, height and maxval as decimal integers
// separated by whitespace, with "#" comments allowed between header tokens (OpenCV
// writes one); exactly one whitespace byte after maxval; then width·height·channels
// sample bytes, none above maxval. 16-bit files (maxval > 255), the ASCII variants
// (P2, P3) and truncated data are errors. Samples are rescaled to 0..255 when
// maxval < 255, rounding to nearest.

func init() {
	image.RegisterFormat("ppm", "P6", DecodePNM, DecodePNMConfig)
	image.RegisterFormat("pgm", "P5", DecodePNM, DecodePNMConfig)
}

// pnmHeader is a parsed Netpbm header.
type pnmHeader struct {
	magic                 string // "P5" or "P6"
	width, height, maxval int
}

func (h pnmHeader) channels() int {
	if h.magic == "P6" {
		return 3
	}
	return 1
}

// maxPNMSide bounds width and height, so a corrupt header cannot ask for gigabytes.
const maxPNMSide = 1 << 15

func readPNMHeader(r *bufio.Reader) (pnmHeader, error) {
	var h pnmHeader
	magic := make([]byte, 2)
	if _, err := io.ReadFull(r, magic); err != nil {
		return h, fmt.Errorf("pnm: reading the magic number: %w", err)
	}
	h.magic = string(magic)
	if h.magic != "P6" && h.magic != "P5" {
		return h, fmt.Errorf("pnm: magic %q, want P6 (binary PPM) or P5 (binary PGM)", h.magic)
	}
	fields := []struct {
		name string
		dst  *int
		max  int
	}{{"width", &h.width, maxPNMSide}, {"height", &h.height, maxPNMSide}, {"maxval", &h.maxval, 255}}
	for _, f := range fields {
		v, err := readPNMInt(r)
		if err != nil {
			return h, fmt.Errorf("pnm: %s: %w", f.name, err)
		}
		if v < 1 || v > f.max {
			return h, fmt.Errorf("pnm: %s %d, want 1..%d", f.name, v, f.max)
		}
		*f.dst = v
	}
	// Exactly one whitespace byte separates maxval from the samples.
	b, err := r.ReadByte()
	if err != nil {
		return h, fmt.Errorf("pnm: no data after the header: %w", err)
	}
	if !isPNMSpace(b) {
		return h, fmt.Errorf("pnm: byte %#x after maxval, want one whitespace", b)
	}
	return h, nil
}

func isPNMSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\n' || b == '\r' || b == '\v' || b == '\f'
}

// readPNMInt skips whitespace and comments, then reads a decimal integer, leaving the
// byte after it unread.
func readPNMInt(r *bufio.Reader) (int, error) {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return 0, fmt.Errorf("header ends early: %w", err)
		}
		switch {
		case isPNMSpace(b):
			continue
		case b == '#':
			if err := skipLine(r); err != nil {
				return 0, fmt.Errorf("comment runs to the end of the file")
			}
			continue
		case b < '0' || b > '9':
			return 0, fmt.Errorf("byte %q where a decimal number was expected", b)
		}
		v := int(b - '0')
		for {
			b, err := r.ReadByte()
			if err != nil {
				return 0, fmt.Errorf("header ends early: %w", err)
			}
			if b < '0' || b > '9' {
				if !isPNMSpace(b) && b != '#' {
					return 0, fmt.Errorf("byte %q after a number, want whitespace", b)
				}
				return v, r.UnreadByte()
			}
			if v = 10*v + int(b-'0'); v > 1<<20 {
				return 0, errors.New("number too large")
			}
		}
	}
}

// skipLine discards bytes up to and including the next '\n', holding none of them (a
// comment as long as the file costs no memory).
func skipLine(r *bufio.Reader) error {
	for {
		b, err := r.ReadByte()
		if err != nil {
			return err
		}
		if b == '\n' {
			return nil
		}
	}
}

// DecodePNMConfig reads the header of a binary PPM or PGM.
func DecodePNMConfig(r io.Reader) (image.Config, error) {
	h, err := readPNMHeader(bufio.NewReader(r))
	if err != nil {
		return image.Config{}, err
	}
	model := color.RGBAModel
	if h.channels() == 1 {
		model = color.GrayModel
	}
	return image.Config{ColorModel: model, Width: h.width, Height: h.height}, nil
}

// DecodePNM decodes a binary PPM (P6) into an *image.RGBA or a binary PGM (P5) into
// an *image.Gray.
func DecodePNM(r io.Reader) (image.Image, error) {
	br := bufio.NewReader(r)
	h, err := readPNMHeader(br)
	if err != nil {
		return nil, err
	}
	c := h.channels()
	need := h.width * h.height * c
	// Read what is there (at most need bytes) rather than allocating the header's
	// claim up front: a truncated file with a large header costs only its own size.
	data, err := io.ReadAll(io.LimitReader(br, int64(need)))
	if err != nil {
		return nil, fmt.Errorf("pnm: reading the samples: %w", err)
	}
	if len(data) != need {
		return nil, fmt.Errorf("pnm: %d×%d image needs %d sample bytes, the file has %d", h.width, h.height, need, len(data))
	}
	for i, v := range data {
		if int(v) > h.maxval {
			return nil, fmt.Errorf("pnm: sample %d at byte %d exceeds maxval %d", v, i, h.maxval)
		}
		if h.maxval != 255 {
			data[i] = uint8((int(v)*255 + h.maxval/2) / h.maxval)
		}
	}
	rect := image.Rect(0, 0, h.width, h.height)
	if c == 1 {
		return &image.Gray{Pix: data, Stride: h.width, Rect: rect}, nil
	}
	img := image.NewRGBA(rect)
	for i := range h.width * h.height {
		copy(img.Pix[4*i:4*i+3], data[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	return img, nil
}
