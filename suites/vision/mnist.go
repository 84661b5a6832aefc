package vision

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// MNIST comes as IDX files (LeCun's format): a 4-byte magic (two zero bytes, the
// element type 0x08 = unsigned byte, the number of dimensions), one big-endian uint32
// per dimension, then the elements in row-major order. Images are n × 28 × 28, labels
// n. The official downloads are gzipped; both forms are read.

// MNISTClasses are the ten digit classes.
var MNISTClasses = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// maxDeflateRatio bounds how many bytes deflate can expand one compressed byte into
// (RFC 1951: a 258-byte match costs at least 2 bits, so about 1032); a gzipped IDX
// header claiming more data than that is refused before anything is read.
const maxDeflateRatio = 1032

// readIDX reads an IDX file of unsigned bytes, gunzipping it when it starts with the
// gzip magic. It returns the dimensions and the elements.
func readIDX(path string) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	return parseIDX(path, f, st.Size())
}

// parseIDX reads an IDX stream of size bytes (gzipped or raw); name is the file in
// errors. The dimensions in the header are checked against what the file can hold
// before the data is read, and the data is read as it arrives (never allocated from
// the header's claim), so a corrupt header or a gzip bomb costs no memory.
func parseIDX(name string, r io.Reader, size int64) ([]int, []byte, error) {
	br := bufio.NewReader(r)
	capacity, what := size, "file"
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: corrupt gzip: %w", name, err)
		}
		r, capacity, what = zr, size*maxDeflateRatio, "gunzipped file"
	} else {
		r = br
	}
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil || head[0] != 0 || head[1] != 0 {
		return nil, nil, fmt.Errorf("%s: not an IDX file (want magic 00 00 08 <dims>)", name)
	}
	if head[2] != 0x08 {
		return nil, nil, fmt.Errorf("%s: IDX element type %#02x, want 0x08 (unsigned byte)", name, head[2])
	}
	nd := int(head[3])
	dimBytes := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, dimBytes); nd < 1 || err != nil {
		return nil, nil, fmt.Errorf("%s: IDX header with %d dimensions is truncated", name, nd)
	}
	if what == "file" {
		capacity -= int64(4 + 4*nd)
	}
	dims := make([]int, nd)
	for i := range dims {
		dims[i] = int(binary.BigEndian.Uint32(dimBytes[4*i:]))
	}
	n := int64(0)
	if !slices.Contains(dims, 0) {
		n = 1
		for _, d := range dims {
			if n > (1<<62)/int64(d) {
				return nil, nil, fmt.Errorf("%s: IDX dimensions %v need more than 2^62 bytes of data", name, dims)
			}
			n *= int64(d)
		}
	}
	if n > capacity { // before reading: a header's claim allocates nothing
		if what == "file" {
			return nil, nil, fmt.Errorf("%s: IDX dimensions %v need %d bytes of data, the file has %d", name, dims, n, max(capacity, 0))
		}
		return nil, nil, fmt.Errorf("%s: IDX dimensions %v need %d bytes of data, more than the %d-byte gzip file can hold (%d×)", name, dims, n, size, maxDeflateRatio)
	}
	data, err := io.ReadAll(io.LimitReader(r, n+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: corrupt gzip: %w", name, err)
	}
	if int64(len(data)) != n {
		have := fmt.Sprint(len(data))
		if int64(len(data)) > n {
			have = "more"
		}
		return nil, nil, fmt.Errorf("%s: IDX dimensions %v need %d bytes of data, the %s has %s", name, dims, n, what, have)
	}
	return dims, data, nil
}

// LoadMNIST reads an MNIST split from its image and label IDX files (gzipped or raw).
func LoadMNIST(imagesPath, labelsPath string) (*Dataset, error) {
	dims, pix, err := readIDX(imagesPath)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	ldims, labels, err := readIDX(labelsPath)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	return mnistDataset(imagesPath, dims, pix, labelsPath, ldims, labels)
}

// mnistDataset pairs the images of an idx3 file with the labels of an idx1 file.
func mnistDataset(imagesPath string, dims []int, pix []byte, labelsPath string, ldims []int, labels []byte) (*Dataset, error) {
	if len(dims) != 3 || dims[0] < 1 || dims[1] < 1 || dims[2] < 1 {
		return nil, fmt.Errorf("vision: %s: IDX dimensions %v, want images × rows × columns, each ≥ 1", imagesPath, dims)
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
			src: memImage{format: "idx", size: image.Pt(w, h), pixels: func() image.Image { return img }},
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
