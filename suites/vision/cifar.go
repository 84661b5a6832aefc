package vision

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The CIFAR-10 binary version (cifar-10-binary.tar.gz, folder cifar-10-batches-bin)
// holds data_batch_1.bin … data_batch_5.bin (train) and test_batch.bin, each 10000
// records of 1 label byte followed by 3072 pixel bytes: the 1024 red values of the
// 32×32 image row by row, then the 1024 green, then the 1024 blue. batches.meta.txt
// names the classes, one per line.

// CIFAR10Classes are CIFAR-10's classes in label order (as batches.meta.txt lists them).
var CIFAR10Classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

const (
	cifarSide   = 32
	cifarRecord = 1 + 3*cifarSide*cifarSide
)

// LoadCIFAR10Batches reads records from CIFAR-10 binary batch files into one split.
func LoadCIFAR10Batches(paths ...string) (*Dataset, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("vision: no CIFAR-10 batch files")
	}
	d := &Dataset{Source: paths[0], Classes: CIFAR10Classes}
	for _, path := range paths {
		// The size is checked before the file is read: a wrong path to a large file
		// fails at once, without reading it into memory.
		st, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("vision: %w", err)
		}
		if err := checkCIFARSize(path, st.Size()); err != nil {
			return nil, err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vision: %w", err)
		}
		if err := addCIFARRecords(d, path, raw); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func checkCIFARSize(path string, size int64) error {
	if size == 0 || size%cifarRecord != 0 {
		return fmt.Errorf("vision: %s: %d bytes is not a whole number of %d-byte CIFAR-10 records (label + 3×32×32)", path, size, cifarRecord)
	}
	return nil
}

// addCIFARRecords appends the records of one batch file's bytes to d.
func addCIFARRecords(d *Dataset, path string, raw []byte) error {
	if err := checkCIFARSize(path, int64(len(raw))); err != nil {
		return err
	}
	for i := range len(raw) / cifarRecord {
		rec := raw[i*cifarRecord : (i+1)*cifarRecord]
		if int(rec[0]) >= len(CIFAR10Classes) {
			return fmt.Errorf("vision: %s: record %d (byte %d) has label %d, want 0..9", path, i, i*cifarRecord, rec[0])
		}
		planes := rec[1:]
		d.Items = append(d.Items, Item{
			Path: path + "#" + strconv.Itoa(i), Label: int(rec[0]),
			src: memImage{format: "cifar", size: image.Pt(cifarSide, cifarSide), pixels: func() image.Image { return cifarImage(planes) }},
		})
	}
	return nil
}

// cifarImage interleaves the R, G and B planes of one record.
func cifarImage(planes []byte) image.Image {
	const n = cifarSide * cifarSide
	img := image.NewRGBA(image.Rect(0, 0, cifarSide, cifarSide))
	for i := range n {
		img.Pix[4*i] = planes[i]
		img.Pix[4*i+1] = planes[n+i]
		img.Pix[4*i+2] = planes[2*n+i]
		img.Pix[4*i+3] = 255
	}
	return img
}

// LoadCIFAR10Dir reads split ("train": data_batch_1..5.bin, "test": test_batch.bin)
// from the binary version's folder (or the folder that contains cifar-10-batches-bin).
// Every train batch must be present: a missing one would silently shrink the data.
// Class names come from batches.meta.txt when it is there, and must be CIFAR-10's.
func LoadCIFAR10Dir(dir, split string) (*Dataset, error) {
	if sub := filepath.Join(dir, "cifar-10-batches-bin"); isDir(sub) {
		dir = sub
	}
	var names []string
	switch split {
	case "train":
		for i := 1; i <= 5; i++ {
			names = append(names, fmt.Sprintf("data_batch_%d.bin", i))
		}
	case "test":
		names = []string{"test_batch.bin"}
	default:
		return nil, fmt.Errorf("vision: CIFAR-10 split %q, want train or test", split)
	}
	var paths, missing []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, n)
		}
		paths = append(paths, p)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("vision: %s lacks the CIFAR-10 %s batches %s", dir, split, strings.Join(missing, ", "))
	}
	if err := checkCIFARMeta(filepath.Join(dir, "batches.meta.txt")); err != nil {
		return nil, err
	}
	return LoadCIFAR10Batches(paths...)
}

func checkCIFARMeta(path string) error {
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("vision: %w", err)
	}
	got := strings.Fields(string(raw))
	if strings.Join(got, ",") != strings.Join(CIFAR10Classes, ",") {
		return fmt.Errorf("vision: %s lists classes %v, want CIFAR-10's %v", path, got, CIFAR10Classes)
	}
	return nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
