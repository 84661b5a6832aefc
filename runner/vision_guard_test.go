package main

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pngClaiming is a valid 1×1 PNG whose IHDR then claims w×h (CRC fixed), as a
// decompression bomb's header would.
func pngClaiming(t *testing.T, w, h uint32) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	raw := b.Bytes()
	ihdr := raw[8+8 : 8+8+13] // after the signature, the chunk length and "IHDR"
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	binary.BigEndian.PutUint32(raw[8+8+13:], crc32.ChecksumIEEE(raw[8+4:8+8+13]))
	return raw
}

// cifarFolders writes CIFAR-10 class folders for the train and test splits, one 32×32
// image per class, and returns the root.
func cifarFolders(t *testing.T) string {
	root := t.TempDir()
	for _, split := range []string{"train", "test"} {
		for _, c := range []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"} {
			dir := filepath.Join(root, split, c)
			os.MkdirAll(dir, 0o755)
			var b bytes.Buffer
			png.Encode(&b, image.NewRGBA(image.Rect(0, 0, 32, 32)))
			os.WriteFile(filepath.Join(dir, "a.png"), b.Bytes(), 0o644)
		}
	}
	return root
}

// An image whose header claims 100000×100000 pixels (370 bytes on disk) is refused
// before the first step, naming the file and -max-pixels; the same split for train
// and dev is refused unless -allow-dev-overlap.
func TestVisionInputGuards(t *testing.T) {
	root := cifarFolders(t)
	bomb := filepath.Join(root, "test", "cat", "bomb.png")
	os.WriteFile(bomb, pngClaiming(t, 100000, 100000), 0o644)
	args := func(extra ...string) []string {
		return append([]string{"-suite", "vision", "-task", "cifar10", "-model", "tiny", "-data", root,
			"-max-steps", "1", "-batch", "4", "-quiet", "-out", t.TempDir()}, extra...)
	}
	err := run(args(), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), bomb) || !strings.Contains(err.Error(), "100000×100000") || !strings.Contains(err.Error(), "-max-pixels") {
		t.Errorf("a 100000×100000 PNG header: %v", err)
	}
	if err == nil || !strings.Contains(err.Error(), "cifar10 (all methods and seeds)") {
		t.Errorf("the header check did not fail the task before its runs: %v", err)
	}
	os.Remove(bomb)
	err = run(args("-dev-split", "train"), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), `-train-split and -dev-split are both "train"`) {
		t.Errorf("train = dev split: %v", err)
	}
	if err := run(args("-dev-split", "train", "-allow-dev-overlap"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Errorf("train = dev split with -allow-dev-overlap: %v", err)
	}
	if err := run(args("-max-pixels", "1000"), &bytes.Buffer{}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "above the limit of 1000 pixels") {
		t.Errorf("-max-pixels 1000 with 32×32 images: %v", err)
	}
}
