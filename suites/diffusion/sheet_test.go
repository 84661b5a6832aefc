package diffusion

import (
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/vectorfit/harness/imaging"
)

// diffusers' postprocess: x/2 + 0.5, clamp, round(255·x) (numpy rounds half to even).
func TestToImage(t *testing.T) {
	// Channels first: pixel 0 is (−1, 0, 0.2) → (0, 127.5 → 128 (half to even),
	// 0.6·255 = 153); pixel 1 is (1, −2, 3) → (255, clamped 0, clamped 255).
	chw := []float32{-1, 1, 0, -2, 0.2, 3}
	m, err := ToImage(chw, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []uint8{0, 128, 153, 255, 0, 255}
	for i := range want {
		if m.Pix[i] != want[i] {
			t.Fatalf("pixels %v, want %v", m.Pix, want)
		}
	}
	if _, err := ToImage(chw, 2, 2); err == nil {
		t.Error("wrong size accepted")
	}
}

func TestContactSheet(t *testing.T) {
	red := &imaging.RGB{W: 2, H: 3, Pix: []uint8{255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0, 255, 0, 0}}
	path := filepath.Join(t.TempDir(), "sheet.png")
	if err := WriteContactSheet(path, [][]*imaging.RGB{{red, red, red}, {red}}); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if b.Dx() != 3*(2+sheetGutter)+sheetGutter || b.Dy() != 2*(3+sheetGutter)+sheetGutter {
		t.Errorf("sheet %v", b)
	}
	if r, g, _, _ := img.At(sheetGutter, sheetGutter).RGBA(); r != 0xffff || g != 0 {
		t.Error("first image not at the gutter offset")
	}
	if r, g, bl, _ := img.At(sheetGutter+2+sheetGutter+2+sheetGutter, 2*sheetGutter+3).RGBA(); r != 0xffff || g != 0xffff || bl != 0xffff {
		t.Error("the missing cell of row 2 is not white")
	}
}
