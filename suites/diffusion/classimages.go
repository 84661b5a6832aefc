package diffusion

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vectorfit/harness/imaging"
)

// classBatch is how many class images are sampled at once (train_dreambooth.py's
// sample_batch_size).
const classBatch = 4

// ClassImages returns n class images for prior preservation: the base model's
// generations from the class prompt, kept in dir as 0000.png, 0001.png, … so that
// every method and seed of a grid, and a rerun, trains on the same ones (the caller
// names dir after everything that determines them). As train_dreambooth.py does,
// only the missing images are generated; image i always comes from seed + i/4's
// batch, so a partial cache completes to the same set.
func ClassImages(s *Sampling, prompt string, n int, dir string, seed int64, progress func(done, total int)) ([]*imaging.RGB, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("diffusion: class images: %w", err)
	}
	out := make([]*imaging.RGB, n)
	for start := 0; start < n; start += classBatch {
		count := min(classBatch, n-start)
		if have, err := readCached(dir, start, count); err != nil {
			return nil, err
		} else if have != nil {
			copy(out[start:], have)
			continue
		}
		imgs, err := s.Generate(prompt, count, seed+int64(start/classBatch))
		if err != nil {
			return nil, err
		}
		for k, m := range imgs {
			if err := WritePNG(classImagePath(dir, start+k), m); err != nil {
				return nil, err
			}
		}
		copy(out[start:], imgs)
		if progress != nil {
			progress(start+count, n)
		}
	}
	return out, nil
}

func classImagePath(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("%04d.png", i)) }

// readCached reads images start … start+count−1 of dir, or returns nil if any is
// missing (the batch is generated again).
func readCached(dir string, start, count int) ([]*imaging.RGB, error) {
	out := make([]*imaging.RGB, count)
	for k := range out {
		path := classImagePath(dir, start+k)
		if _, err := os.Stat(path); err != nil {
			return nil, nil
		}
		m, err := ReadImage(path)
		if err != nil {
			return nil, fmt.Errorf("%w (a damaged cached class image: delete it to generate it again)", err)
		}
		out[k] = m
	}
	return out, nil
}
