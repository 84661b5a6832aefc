package vision

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// MNIST comes as IDX files (LeCun's format): a 4-byte magic (two zero bytes, the
// element type 0x08 = unsigned byte, the number of dimensions), one big-endian uint32
// per dimension, then the elements in row-major order. Images are n × 28 × 28, labels
// n. The official downloads are gzipped; both forms are read.

// MNISTClasses are the ten digit classes.
var MNISTClasses = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// readIDX reads an IDX file of unsigned bytes, gunzipping it when it starts with the
// gzip magic. It returns the dimensions and the elements.
func readIDX(path string) ([]int, []byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: corrupt gzip: %w", path, err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, nil, fmt.Errorf("%s: corrupt gzip: %w", path, err)
		}
	}
	if len(raw) < 4 || raw[0] != 0 || raw[1] != 0 {
		return nil, nil, fmt.Errorf("%s: not an IDX file (want magic 00 00 08 <dims>)", path)
	}
	if raw[2] != 0x08 {
		return nil, nil, fmt.Errorf("%s: IDX element type %#02x, want 0x08 (unsigned byte)", path, raw[2])
	}
	nd := int(raw[3])
	if nd < 1 || len(raw) < 4+4*nd {
		return nil, nil, fmt.Errorf("%s: IDX header with %d dimensions is truncated", path, nd)
	}
	dims := make([]int, nd)
	n := 1
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(raw[4+4*i:]))
		n *= dims[i]
	}
	data := raw[4+4*nd:]
	if len(data) != n {
		return nil, nil, fmt.Errorf("%s: IDX dimensions %v need %d bytes of data, the file has %d", path, dims, n, len(data))
	}
	return dims, data, nil
}

// LoadMNIST reads an MNIST split from its image and label IDX files (gzipped or raw).
func LoadMNIST(imagesPath, labelsPath string) (*Dataset, error) {
	dims, pix, err := readIDX(imagesPath)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	if len(dims) != 3 {
		return nil, fmt.Errorf("vision: %s: IDX dimensions %v, want images × rows × columns", imagesPath, dims)
	}
	ldims, labels, err := readIDX(labelsPath)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	if len(ldims) != 1 || ldims[0] != dims[0] {
		return nil, fmt.Errorf("vision: %s has %v labels for the %d images of %s", labelsPath, ldims, dims[0], imagesPath)
	}
	d := &Dataset{Source: imagesPath, Classes: MNISTClasses}
	h, w := dims[1], dims[2]
	for i, l := range labels {
		if int(l) >= len(MNISTClasses) {
			return nil, fmt.Errorf("vision: %s: label %d of image %d, want 0..9", labelsPath, l, i)
		}
		img := &image.Gray{Pix: pix[i*h*w : (i+1)*h*w], Stride: w, Rect: image.Rect(0, 0, w, h)}
		d.Items = append(d.Items, Item{
			Path: imagesPath + "#" + strconv.Itoa(i), Label: int(l),
			load: func() (image.Image, error) { return img, nil },
		})
	}
	return d, nil
}

// mnistPrefix maps a split name to the official file prefix.
var mnistPrefix = map[string]string{"train": "train", "test": "t10k", "t10k": "t10k"}

// LoadMNISTDir reads split ("train" or "test") from a folder holding the official
// files, gzipped (train-images-idx3-ubyte.gz) or not.
func LoadMNISTDir(dir, split string) (*Dataset, error) {
	p, ok := mnistPrefix[split]
	if !ok {
		return nil, fmt.Errorf("vision: MNIST split %q, want train or test", split)
	}
	find := func(base string) (string, error) {
		for _, name := range []string{base + ".gz", base} {
			path := filepath.Join(dir, name)
			if _, err := os.Stat(path); err == nil {
				return path, nil
			}
		}
		return "", fmt.Errorf("vision: %s has neither %s.gz nor %s", dir, base, base)
	}
	images, err := find(p + "-images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	labels, err := find(p + "-labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	return LoadMNIST(images, labels)
}
