package plots

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/reports"
)

func rec(task, method string, seed int64, acc float64, adapter int64, train float64) reports.Record {
	return reports.Record{
		Schema: reports.SchemaVersion, Suite: "glue", Task: task, Method: method, Seed: seed,
		Scores: map[string]float64{"accuracy": acc}, MainScore: "accuracy",
		Params: methods.Counts{Adapter: adapter, Base: 1e8},
		Timing: reports.Timing{TrainSeconds: train},
	}
}

func fixed() []reports.Record {
	return []reports.Record{
		rec("sst2", "vectorfit", 1, 0.93, 14_336, 100), rec("sst2", "vectorfit", 2, 0.95, 14_336, 110),
		rec("sst2", "lora", 1, 0.94, 1_330_000, 150), rec("sst2", "lora", 2, 0.94, 1_330_000, 160),
		rec("sst2", "hadapter", 1, 0.92, 610_000, 170),
		rec("sst2", "fullft", 1, 0.955, 184_000_000, 400),
		rec("rte", "vectorfit", 1, 0.80, 14_336, 50),
	}
}

// Both figures render to SVG and PNG; the SVG names every method of the task (as text
// a reader can search), and the PNG decodes.
func TestSaveSVGAndPNG(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		kind, task string
		want       []string
		absent     string
	}{
		{"params", "sst2", []string{"VectorFit (2 seeds)", "LoRA (2 seeds)", "Adapter^H (1 seed)", "Full FT (1 seed)", "SST-2: Acc vs trainable parameters", "1M", "10K"}, ""},
		{"time", "sst2", []string{"VectorFit", "LoRA", "Adapter^H", "Full FT", "Training time per run (s)"}, ""},
		{"time", "", []string{"every task"}, ""},
	} {
		svg := filepath.Join(dir, c.kind+c.task+".svg")
		if err := Save(fixed(), svg, Options{Kind: c.kind, Task: c.task}); err != nil {
			t.Fatalf("%s %s: %v", c.kind, c.task, err)
		}
		data, err := os.ReadFile(svg)
		if err != nil {
			t.Fatal(err)
		}
		text := svgText(string(data))
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s %s: the SVG's text lacks %q:\n%s", c.kind, c.task, w, text)
			}
		}
		pngPath := filepath.Join(dir, c.kind+c.task+".png")
		if err := Save(fixed(), pngPath, Options{Kind: c.kind, Task: c.task}); err != nil {
			t.Fatal(err)
		}
		f, err := os.ReadFile(pngPath)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(f))
		if err != nil {
			t.Fatalf("%s: %v", pngPath, err)
		}
		if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
			t.Errorf("%s is %v, want a readable figure", pngPath, b)
		}
	}
}

// svgText joins the SVG's text elements' contents, unescaped.
func svgText(svg string) string {
	var out []string
	for _, part := range strings.Split(svg, "<text")[1:] {
		start := strings.Index(part, ">")
		end := strings.Index(part, "</text>")
		if start >= 0 && end > start {
			out = append(out, part[start+1:end])
		}
	}
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#39;", "'", "&#34;", `"`).Replace(strings.Join(out, "\n"))
}

// The points sit where the records say: VectorFit's mean 94 ± 1.41 at 14,336 params.
func TestParamsPointsAndErrorBars(t *testing.T) {
	p, err := Draw(fixed(), Options{Task: "sst2"})
	if err != nil {
		t.Fatal(err)
	}
	// Axis ranges: x from the smallest count / 3 to the largest × 3; y padded by
	// max(10% of the range, 1 point) around mean ± std (lowest 92 for Adapter^H, highest
	// 95.5 for Full FT; VectorFit's 94 + 1.414 = 95.41 is below it): 10% is 0.35, so 1.
	if got, want := p.X.Min, 14_336.0/3; math.Abs(got-want) > 1e-9 {
		t.Errorf("x min %v, want %v", got, want)
	}
	if got, want := p.X.Max, 184e6*3; math.Abs(got-want) > 1e-3 {
		t.Errorf("x max %v, want %v", got, want)
	}
	if got, want := p.Y.Min, 92-1.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("y min %v, want %v", got, want)
	}
	if got, want := p.Y.Max, 95.5+1.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("y max %v, want %v", got, want)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	diverged := rec("sst2", "lora", 1, 0.5, 10, 1)
	diverged.Status = reports.StatusDiverged
	diverged.Divergence = &reports.Divergence{Step: 3, Reason: "loss is NaN"}
	nan := rec("sst2", "lora", 1, math.NaN(), 10, 1)
	for _, c := range []struct {
		name string
		rs   []reports.Record
		out  string
		o    Options
		want string
	}{
		{"no records", nil, "a.svg", Options{}, "plot: no records to plot"},
		{"unknown kind", fixed(), "a.svg", Options{Kind: "loss"}, `plot: unknown -kind "loss", want one of params, time`},
		{"absent task", fixed(), "a.svg", Options{Task: "cola"}, `plot: no records of task "cola" (the records hold sst2, rte)`},
		{"several tasks", fixed(), "a.svg", Options{}, "plot: the records hold tasks sst2, rte; choose one with -task"},
		{"bad extension", fixed(), "a.pdf", Options{Task: "sst2"}, `want a .svg or .png file`},
		{"all diverged", []reports.Record{diverged}, "a.svg", Options{}, "plot: every run of task SST-2 diverged: nothing to plot"},
		{"undefined scores", []reports.Record{nan}, "a.svg", Options{}, "plot: no method of task SST-2 has a defined Acc and trainable parameters"},
	} {
		err := Save(c.rs, filepath.Join(dir, c.out), c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}
