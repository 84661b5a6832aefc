// Package vision is the image-classification suite of the VectorFit paper (SPEC §3:
// CIFAR-10, GTSRB, MNIST and RESISC45 on ViT-base, top-1 accuracy): loaders for the
// formats users keep these datasets in (MNIST IDX files, the CIFAR-10 binary batches,
// image folders with PNG/JPEG/PPM files, Hugging Face parquet image datasets),
// preprocessing exactly as transformers' ViTImageProcessor does it (PIL's bilinear
// resize, rescale, normalise), the training augmentation of Hugging Face's image-
// classification example (random-resized crop, horizontal flip), parallel decoding,
// and the fine-tuning task the training engine runs (train.Task).
//
// Data and preprocessing use no tensors; finetune.go connects them to a model.
package vision

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decoders registered with image.Decode
	_ "image/png"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
)

// DefaultMaxPixels is the pixel limit (width × height) when Dataset.MaxPixels is 0:
// 50 megapixels, far above any image of the suite's datasets (RESISC45's are 256×256)
// yet small enough that one decode stays below half a gigabyte (8 bytes per pixel for
// a 16-bit RGBA PNG). A header claiming more is refused before any pixel is allocated.
const DefaultMaxPixels int64 = 50_000_000

// Item is one labelled image. Images are decoded on demand (Image), so a dataset of
// file paths costs no memory until a batch needs it.
type Item struct {
	// Path names the image in errors and records: a file path, or for an image inside
	// a container file "file#index" (MNIST, CIFAR-10 batches) or "file#row" (parquet).
	Path  string
	Label int
	src   imageSource
}

// imageSource is where an item's pixels come from: an encoded file (fileImage), encoded
// bytes (bytesImage, a parquet row) or pixels already in memory (memImage).
type imageSource interface {
	// header reads the format and size only: no pixel is decoded or allocated.
	header() (imageHeader, error)
	decode() (image.Image, error)
}

// imageHeader is what an image's header says.
type imageHeader struct {
	format        string // "png", "jpeg", "ppm", "pgm", "idx", "cifar"
	width, height int
}

// check refuses empty images and images above the pixel limit.
func (h imageHeader) check(maxPixels int64) error {
	if h.width < 1 || h.height < 1 {
		return fmt.Errorf("empty %s image (%d×%d)", h.format, h.width, h.height)
	}
	if n := int64(h.width) * int64(h.height); n > maxPixels {
		return fmt.Errorf("%s header says %d×%d = %d pixels, above the limit of %d pixels (-max-pixels)", h.format, h.width, h.height, n, maxPixels)
	}
	return nil
}

// limit is the effective pixel limit for a configured value (0: DefaultMaxPixels).
func limit(maxPixels int64) int64 {
	if maxPixels <= 0 {
		return DefaultMaxPixels
	}
	return maxPixels
}

// Header reads the item's header (format and size, no pixels) and checks it against
// the pixel limit maxPixels (0: DefaultMaxPixels). Errors name the item's path.
func (it Item) Header(maxPixels int64) (width, height int, err error) {
	h, err := it.header(maxPixels)
	return h.width, h.height, err
}

func (it Item) header(maxPixels int64) (imageHeader, error) {
	if it.src == nil { // an Item built outside the loaders
		return imageHeader{}, fmt.Errorf("vision: %s: item has no image (not made by a loader)", it.Path)
	}
	h, err := it.src.header()
	if err == nil {
		err = h.check(limit(maxPixels))
	}
	if err != nil {
		return h, fmt.Errorf("vision: %s: %w", it.Path, err)
	}
	return h, nil
}

// Image decodes the item after reading its header and refusing it when it claims
// more than maxPixels pixels (0: DefaultMaxPixels). Errors name the item's path.
func (it Item) Image(maxPixels int64) (image.Image, error) {
	h, err := it.header(maxPixels)
	if err != nil {
		return nil, err
	}
	img, err := it.src.decode()
	if err == nil {
		// The decoders allocate what their header says; a decoder that read other
		// dimensions than the header pass would defeat the limit, so say so.
		if b := img.Bounds(); b.Dx() != h.width || b.Dy() != h.height {
			err = fmt.Errorf("decoded %s image is %d×%d, its header says %d×%d", h.format, b.Dx(), b.Dy(), h.width, h.height)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("vision: %s: %w", it.Path, err)
	}
	return img, nil
}

// fileItem is an image file, its format sniffed from its bytes (not its extension).
func fileItem(path string, label int) Item {
	return Item{Path: path, Label: label, src: fileImage(path)}
}

// fileImage is an encoded image file (PNG, JPEG, PPM, PGM), read as a stream: the
// header pass reads a few bytes, and a file is never held in memory whole.
type fileImage string

func (p fileImage) header() (imageHeader, error) {
	f, err := os.Open(string(p))
	if err != nil {
		return imageHeader{}, err
	}
	defer f.Close()
	return readHeader(bufio.NewReader(f))
}

func (p fileImage) decode() (image.Image, error) {
	f, err := os.Open(string(p))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeImage(bufio.NewReader(f))
}

// bytesImage is an encoded image held in memory (a parquet row's bytes).
type bytesImage []byte

func (b bytesImage) header() (imageHeader, error) { return readHeader(bytes.NewReader(b)) }
func (b bytesImage) decode() (image.Image, error) { return decodeImage(bytes.NewReader(b)) }

// memImage is an image already in memory (an MNIST digit, a CIFAR-10 record).
type memImage struct {
	format string
	size   image.Point
	pixels func() image.Image
}

func (m memImage) header() (imageHeader, error) {
	return imageHeader{format: m.format, width: m.size.X, height: m.size.Y}, nil
}
func (m memImage) decode() (image.Image, error) { return m.pixels(), nil }

// readFormats are the formats the suite reads; others that some imported package may
// register with the image package (GIF, WebP, …) are refused, so what is read does
// not depend on the binary's imports.
var readFormats = []string{"png", "jpeg", "ppm", "pgm"}

// readHeader reads an encoded image's format and size (image.DecodeConfig).
func readHeader(r io.Reader) (imageHeader, error) {
	cfg, format, err := image.DecodeConfig(r)
	switch {
	case errors.Is(err, image.ErrFormat):
		return imageHeader{}, fmt.Errorf("not a PNG, JPEG, PPM (P6) or PGM (P5) image")
	case err != nil:
		return imageHeader{}, fmt.Errorf("corrupt %s image header: %w", format, err)
	case !slices.Contains(readFormats, format):
		return imageHeader{}, fmt.Errorf("%s image: only PNG, JPEG, PPM (P6) and PGM (P5) are read", format)
	}
	return imageHeader{format: format, width: cfg.Width, height: cfg.Height}, nil
}

func decodeImage(r io.Reader) (image.Image, error) {
	img, format, err := image.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("corrupt %s image: %w", format, err)
	}
	return img, nil
}

// decodeBytes decodes PNG, JPEG, PPM or PGM bytes, refusing (before decoding) an
// image whose header claims more than maxPixels pixels (0: DefaultMaxPixels).
func decodeBytes(raw []byte, maxPixels int64) (image.Image, error) {
	img, err := Item{Path: "bytes", src: bytesImage(raw)}.Image(maxPixels)
	if err != nil {
		// Without the "vision: bytes: " of a nameless item; callers add the name.
		return nil, errors.Unwrap(err)
	}
	return img, nil
}

// Dataset is one split of an image-classification dataset.
type Dataset struct {
	// Source is where the split was read from (a folder or file), for messages.
	Source string
	// Classes are the class names in label order: Classes[label].
	Classes []string
	Items   []Item
	// MaxPixels limits width × height of every image read (0: DefaultMaxPixels). The
	// header is read first and a larger image refused, naming it, before any pixel is
	// allocated. Sample and Split keep it; set it on each split LoadSplit returns.
	MaxPixels int64
}

// Counts returns the number of items per label.
func (d *Dataset) Counts() []int {
	n := make([]int, len(d.Classes))
	for _, it := range d.Items {
		n[it.Label]++
	}
	return n
}

// Sample returns n items drawn without replacement with a seeded shuffle, keeping
// their order in d (all of d when n ≥ len(d.Items)).
func (d *Dataset) Sample(n int, seed uint64) *Dataset {
	if n >= len(d.Items) {
		return d
	}
	pick := rand.New(rand.NewPCG(seed, 1)).Perm(len(d.Items))[:n]
	keep := make([]bool, len(d.Items))
	for _, i := range pick {
		keep[i] = true
	}
	out := &Dataset{Source: d.Source, Classes: d.Classes, MaxPixels: d.MaxPixels}
	for i, it := range d.Items {
		if keep[i] {
			out.Items = append(out.Items, it)
		}
	}
	return out
}

// Split divides d into a train and a dev part with a seeded shuffle: for data that
// ships without a dev split (GTSRB's training images, RESISC45's folders).
func (d *Dataset) Split(devFraction float64, seed uint64) (train, dev *Dataset, err error) {
	if devFraction <= 0 || devFraction >= 1 {
		return nil, nil, fmt.Errorf("vision: dev fraction %g, want in (0, 1)", devFraction)
	}
	nDev := int(float64(len(d.Items))*devFraction + 0.5)
	if nDev == 0 || nDev == len(d.Items) {
		return nil, nil, fmt.Errorf("vision: %s: %d images cannot be split %g/%g", d.Source, len(d.Items), 1-devFraction, devFraction)
	}
	order := rand.New(rand.NewPCG(seed, 2)).Perm(len(d.Items))
	inDev := make([]bool, len(d.Items))
	for _, i := range order[:nDev] {
		inDev[i] = true
	}
	train = &Dataset{Source: d.Source, Classes: d.Classes, MaxPixels: d.MaxPixels}
	dev = &Dataset{Source: d.Source, Classes: d.Classes, MaxPixels: d.MaxPixels}
	for i, it := range d.Items {
		if inDev[i] {
			dev.Items = append(dev.Items, it)
		} else {
			train.Items = append(train.Items, it)
		}
	}
	return train, dev, nil
}

// Verify decodes every image with workers goroutines (0: one per CPU) and reports all
// that are corrupt, unreadable or above the pixel limit, by path. It costs a full
// decode of the data; CheckHeaders is the cheap check.
func (d *Dataset) Verify(workers int) error {
	return parallel(len(d.Items), workers, func(k int) error {
		_, err := d.Items[k].Image(d.MaxPixels)
		return err
	})
}

// maxHeaderErrors is how many bad items CheckHeaders lists before it just counts.
const maxHeaderErrors = 10

// CheckHeaders reads the header of every item (format signature, width and height; no
// pixel is decoded) and checks it against d.MaxPixels: run it before the first
// training step, so an unreadable, non-image, empty or oversized file fails in
// seconds rather than at the step that first draws it. The error lists the first 10
// bad items, each naming its path and the problem, and counts the rest. Corruption
// past the header (a truncated PNG stream) is found only by decoding (Verify).
func (d *Dataset) CheckHeaders() error {
	errs := parallelErrs(len(d.Items), 0, func(k int) error {
		_, err := d.Items[k].header(d.MaxPixels)
		return err
	})
	var bad []error
	n := 0
	for _, err := range errs {
		if err != nil {
			if n < maxHeaderErrors {
				bad = append(bad, err)
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	head := fmt.Errorf("vision: %s: %d of %d images fail the header check (pixel limit %d):", d.Source, n, len(d.Items), limit(d.MaxPixels))
	bad = append([]error{head}, bad...)
	if n > maxHeaderErrors {
		bad = append(bad, fmt.Errorf("… and %d more", n-maxHeaderErrors))
	}
	return errors.Join(bad...)
}

// parallel runs fn(0..n-1) on up to workers goroutines (0: runtime.NumCPU()) and
// returns every error, in job order.
func parallel(n, workers int, fn func(k int) error) error {
	return errors.Join(parallelErrs(n, workers, fn)...)
}

// parallelErrs is parallel returning fn(k)'s error at index k.
func parallelErrs(n, workers int, fn func(k int) error) []error {
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	errs := make([]error, n)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range jobs {
				errs[k] = fn(k)
			}
		}()
	}
	for k := range n {
		jobs <- k
	}
	close(jobs)
	wg.Wait()
	return errs
}
