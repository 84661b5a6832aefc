package diffusion

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/imaging"
	"github.com/vectorfit/harness/models/clip"
	"github.com/vectorfit/harness/models/vit"
	"github.com/vectorfit/harness/suites/vision"
)

// metricsReference is testdata/metrics/reference.json, written by
// scripts/fixtures/gen_dreambooth_metrics.py with transformers 4.44.2.
type metricsReference struct {
	Prompts            []string           `json:"prompts"`
	Generated          []string           `json:"generated"`
	Real               []string           `json:"real"`
	InputIDs           [][]int64          `json:"input_ids"`
	AttentionMask      [][]int64          `json:"attention_mask"`
	DINOGenerated      [][]float32        `json:"dino_generated"`
	DINOReal           [][]float32        `json:"dino_real"`
	CLIPImageGenerated [][]float32        `json:"clip_image_generated"`
	CLIPImageReal      [][]float32        `json:"clip_image_real"`
	CLIPText           [][]float32        `json:"clip_text"`
	Scores             map[string]float64 `json:"scores"`
}

func readImages(t *testing.T, dir string, names []string) []*imaging.RGB {
	t.Helper()
	out := make([]*imaging.RGB, len(names))
	for i, n := range names {
		img, err := ReadImage(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = img
	}
	return out
}

// closeRows fails unless got and want have one shape and agree within tol.
func closeRows(t *testing.T, what string, got, want [][]float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s row %d: length %d, want %d", what, i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			worst = math.Max(worst, math.Abs(float64(got[i][j])-float64(want[i][j])))
		}
	}
	t.Logf("%-22s max |Go − HF| = %.3g", what, worst)
	if worst > tol {
		t.Errorf("%s: max |Go − HF| = %.3g > %g", what, worst, tol)
	}
}

// TestScoresMatchTransformers runs the DreamBooth scorers on a tiny random DINO ViT
// and CLIP model and real photos (PNG, so both sides decode the same pixels) and
// compares the embeddings and the three scores with transformers' (the generator
// computes the scores with F.cosine_similarity in float64, as the paper defines them).
func TestScoresMatchTransformers(t *testing.T) {
	dir := filepath.Join("testdata", "metrics")
	raw, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref metricsReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}

	dinoModel, _, err := vit.Load(filepath.Join(dir, "dino"), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	dinoProc, err := vision.LoadProcessor(filepath.Join(dir, "dino", "preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	clipModel, _, err := clip.Load(filepath.Join(dir, "clip"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := clip.LoadTokenizer(filepath.Join(dir, "clip"))
	if err != nil {
		t.Fatal(err)
	}
	clipProc := clip.DefaultImageProcessor()
	clipProc.ShortestEdge, clipProc.CropHeight, clipProc.CropWidth = 32, 32, 32

	// The tokenisation first: a mismatch here would explain one in clip_text.
	for i, p := range ref.Prompts {
		ids, mask := tok.EncodePadded(p)
		if !equalInts(ids, ref.InputIDs[i]) || !equalInts(mask, ref.AttentionMask[i]) {
			t.Errorf("prompt %q: ids %v mask %v, want %v %v", p, ids, mask, ref.InputIDs[i], ref.AttentionMask[i])
		}
	}

	dino := DINO(dinoModel, dinoProc, gotch.CPU)
	clipImage, clipText := CLIP(clipModel, tok, clipProc, gotch.CPU)
	generated := readImages(t, filepath.Join(dir, "images"), ref.Generated)
	real := readImages(t, filepath.Join(dir, "images"), ref.Real)

	for _, c := range []struct {
		name  string
		embed ImageEmbedder
		imgs  []*imaging.RGB
		want  [][]float32
	}{
		{"dino_generated", dino, generated, ref.DINOGenerated},
		{"dino_real", dino, real, ref.DINOReal},
		{"clip_image_generated", clipImage, generated, ref.CLIPImageGenerated},
		{"clip_image_real", clipImage, real, ref.CLIPImageReal},
	} {
		got, err := c.embed(c.imgs)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		closeRows(t, c.name, got, c.want, 1e-5)
	}
	texts, err := clipText(ref.Prompts)
	if err != nil {
		t.Fatal(err)
	}
	closeRows(t, "clip_text", texts, ref.CLIPText, 1e-5)

	// The scores through DreamBooth.score itself, with the real images embedded as
	// NewDreamBooth embeds them.
	d := &DreamBooth{scorers: Scorers{DINO: dino, CLIPImage: clipImage, CLIPText: clipText}}
	if d.realDINO, err = dino(real); err != nil {
		t.Fatal(err)
	}
	if d.realCLIP, err = clipImage(real); err != nil {
		t.Fatal(err)
	}
	scores, err := d.score(generated, ref.Prompts)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{MetricDINO, MetricCLIPI, MetricCLIPT} {
		want, ok := ref.Scores[name]
		if !ok {
			t.Fatalf("reference.json has no score %q", name)
		}
		diff := math.Abs(scores[name] - want)
		t.Logf("%-7s Go %.9f  HF %.9f  |diff| %.3g", name, scores[name], want, diff)
		if diff > 1e-6 {
			t.Errorf("%s = %.9f, transformers %.9f (|diff| %.3g > 1e-6)", name, scores[name], want, diff)
		}
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
