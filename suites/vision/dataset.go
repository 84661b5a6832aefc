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
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // decoders registered with image.Decode
	_ "image/png"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
)

// Item is one labelled image. Images are decoded on demand (Image), so a dataset of
// file paths costs no memory until a batch needs it.
type Item struct {
	// Path names the image in errors and records: a file path, or for an image inside
	// a container file "file#index" (MNIST, CIFAR-10 batches) or "file#row" (parquet).
	Path  string
	Label int
	load  func() (image.Image, error)
}

// Image decodes the item. Errors name the item's path.
func (it Item) Image() (image.Image, error) {
	img, err := it.load()
	if err != nil {
		return nil, fmt.Errorf("vision: %s: %w", it.Path, err)
	}
	return img, nil
}

// fileItem is an image file decoded by extension-independent sniffing (image.Decode).
func fileItem(path string, label int) Item {
	return Item{Path: path, Label: label, load: func() (image.Image, error) {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return decodeBytes(raw)
	}}
}

// decodeBytes decodes PNG, JPEG, PPM or PGM bytes.
func decodeBytes(raw []byte) (image.Image, error) {
	img, format, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, fmt.Errorf("not a PNG, JPEG, PPM (P6) or PGM (P5) image")
		}
		return nil, fmt.Errorf("corrupt %s image: %w", format, err)
	}
	if b := img.Bounds(); b.Dx() < 1 || b.Dy() < 1 {
		return nil, fmt.Errorf("empty %s image (%d×%d)", format, b.Dx(), b.Dy())
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
	out := &Dataset{Source: d.Source, Classes: d.Classes}
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
	train = &Dataset{Source: d.Source, Classes: d.Classes}
	dev = &Dataset{Source: d.Source, Classes: d.Classes}
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
// that are corrupt or unreadable, by path. Run it before a long training run, so a bad
// file fails in seconds rather than at the step that first draws it.
func (d *Dataset) Verify(workers int) error {
	return parallel(len(d.Items), workers, func(k int) error {
		_, err := d.Items[k].Image()
		return err
	})
}

// parallel runs fn(0..n-1) on up to workers goroutines (0: runtime.NumCPU()) and
// returns every error, in job order.
func parallel(n, workers int, fn func(k int) error) error {
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
	return errors.Join(errs...)
}
