package diffusion

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Preprocess equals torchvision's Resize + CenterCrop + ToTensor + Normalize on real
// DreamBooth photos (scripts/fixtures/gen_dreambooth_preprocess.py), up to the JPEG
// decoders' own differences (Go's inverse DCT is not libjpeg's: about ±1 level).
func TestPreprocessEqualsTorchvision(t *testing.T) {
	raw, err := os.ReadFile("testdata/preprocess.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Cases []struct {
			Image  string
			Size   int
			Shape  []int
			Values string
		}
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	for _, c := range fx.Cases {
		b, _ := base64.StdEncoding.DecodeString(c.Values)
		want := make([]float32, len(b)/4)
		for i := range want {
			want[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		path := filepath.Join(shared, c.Image)
		if name, ok := strings.CutPrefix(c.Image, "testdata:"); ok {
			path = filepath.Join("testdata", name)
		}
		m, err := ReadImage(path)
		if err != nil {
			t.Fatal(err)
		}
		got := Preprocess(m, c.Size)
		if len(got) != len(want) {
			t.Fatalf("%s: %d values, want %d", c.Image, len(got), len(want))
		}
		level := 2.0 / 255 // one 8-bit level in [−1, 1]
		var sum, worst float64
		for i := range got {
			d := math.Abs(float64(got[i] - want[i]))
			sum += d
			worst = max(worst, d)
		}
		mean := sum / float64(len(got)) / level
		if strings.HasSuffix(c.Image, ".png") && worst != 0 { // no decoder differences: exact
			t.Errorf("%s at %d: max %.1f levels from torchvision, want 0", c.Image, c.Size, worst/level)
		}
		if worst > 3*level || mean > 0.5 {
			t.Errorf("%s at %d: mean %.3f, max %.1f levels from torchvision", c.Image, c.Size, mean, worst/level)
		}
	}
}

func TestLoadDreamBooth(t *testing.T) {
	s, err := LoadDreamBooth(shared, "dog", "sks")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Images) != 5 || s.Class != "dog" || s.InstancePrompt != "a photo of sks dog" || s.ClassPrompt != "a photo of dog" || len(s.EvalPrompts) != 25 {
		t.Errorf("%+v", s)
	}
	if _, err := LoadDreamBooth(shared, "dog9", "sks"); err == nil || !strings.Contains(err.Error(), `subject "dog9" is not in`) {
		t.Errorf("missing subject: %v", err)
	}
}

func TestBadImages(t *testing.T) {
	dir := t.TempDir()
	if _, err := ImagesIn(dir); err == nil || !strings.Contains(err.Error(), "has no images") {
		t.Errorf("empty folder: %v", err)
	}
	bad := filepath.Join(dir, "broken.jpg")
	os.WriteFile(bad, []byte("not a jpeg"), 0o644)
	if _, err := LoadImages([]string{bad}); err == nil || !strings.Contains(err.Error(), bad+": not a readable image") {
		t.Errorf("garbage: %v", err)
	}
	good, _ := os.ReadFile(filepath.Join(shared, "dog", "04.jpg"))
	cut := filepath.Join(dir, "cut.jpg")
	os.WriteFile(cut, good[:len(good)/2], 0o644)
	if _, err := LoadImages([]string{cut}); err == nil || !strings.Contains(err.Error(), cut+": jpeg data is damaged") {
		t.Errorf("truncated: %v", err)
	}
	if _, err := LoadFolder(dir, "", ""); err == nil || !strings.Contains(err.Error(), "give -instance-prompt") {
		t.Errorf("no prompt: %v", err)
	}
}
