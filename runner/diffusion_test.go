package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vectorfit/harness/reports"
)

const dreambooth = "../../shared/data/dreambooth/dataset"

// tinyDreamBooth is a DreamBooth command on the tiny model, small enough for a test.
func tinyDreamBooth(out string, extra ...string) []string {
	return append([]string{"-suite", "diffusion", "-model", "tiny", "-max-steps", "3", "-class-images", "4",
		"-sample-steps", "2", "-images-per-prompt", "2", "-max-prompts", "2", "-out", out, "-quiet"}, extra...)
}

// The diffusion suite end to end on the tiny Stable Diffusion: the three methods on
// the synthetic subject and on a real DreamBooth subject, each a record with DINO,
// CLIP-I and CLIP-T, its images and contact sheet, and one table; class images are
// generated once and shared.
func TestDreamBoothEndToEnd(t *testing.T) {
	if _, err := os.Stat(dreambooth); err != nil {
		t.Skipf("no shared DreamBooth data: %v", err)
	}
	for _, data := range [][]string{{"-data", "synthetic"}, {"-data", dreambooth, "-subject", "dog"}} {
		out := t.TempDir()
		var stdout, stderr bytes.Buffer
		if err := run(tinyDreamBooth(out, append(data, "-method", "vectorfit,lora,fullft")...), &stdout, &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", data, err, stderr.String())
		}
		recs, err := reports.ReadDir(out)
		if err != nil || len(recs) != 3 {
			t.Fatalf("%v: %d records, %v", data, len(recs), err)
		}
		for _, r := range recs {
			if r.MainScore != "dino" || len(r.Scores) != 3 || r.Params.Adapter == 0 || len(r.Ranks) == 0 || r.Timing.Steps != 3 {
				t.Errorf("%v %s: main %q, scores %v, params %+v, ranks %v, steps %d", data, r.Method, r.MainScore, r.Scores, r.Params, r.Ranks, r.Timing.Steps)
			}
			for k, v := range r.Scores {
				if v < -1 || v > 1 {
					t.Errorf("%s: %s = %v, not a cosine", r.Method, k, v)
				}
			}
			if r.Hyperparameters["schedule"] != "linear warm-up, constant" || r.Hyperparameters["class_images"] != 4.0 {
				t.Errorf("%s: hyperparameters %v", r.Method, r.Hyperparameters)
			}
			dir := filepath.Join(out, "predictions", strings.TrimSuffix(r.FileName(), ".json"))
			for _, f := range []string{"00-0.png", "01-1.png", "sheet.png"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("%s: %v", r.Method, err)
				}
			}
		}
		classDirs, _ := filepath.Glob(filepath.Join(out, "class_images", "*", "*.png"))
		if len(classDirs) != 4 {
			t.Errorf("%v: %d class images, want 4 shared by the three methods", data, len(classDirs))
		}
		if !strings.Contains(stdout.String(), "VectorFit") || !strings.Contains(stdout.String(), "Full FT") {
			t.Errorf("the table lacks the methods:\n%s", stdout.String())
		}
		if data[1] == dreambooth && (len(recs[0].Data) != 5 || recs[0].Data[0].SHA256 == "") {
			t.Errorf("the record names %d data files, want the subject's 5 images hashed: %+v", len(recs[0].Data), recs[0].Data)
		}
	}
}

// Bad DreamBooth input stops the command before training with a line naming it.
func TestDreamBoothInputErrors(t *testing.T) {
	if _, err := os.Stat(dreambooth); err != nil {
		t.Skipf("no shared DreamBooth data: %v", err)
	}
	broken := t.TempDir()
	os.WriteFile(filepath.Join(broken, "a.jpg"), []byte("not an image"), 0o644)
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-data", dreambooth}, "name the subject with -subject"},
		{[]string{"-data", dreambooth, "-subject", "unicorn"}, `subject "unicorn" is not in`},
		{[]string{"-data", broken, "-instance-prompt", "a photo of sks dog", "-class-prompt", "a photo of dog"}, "a.jpg: not a readable image"},
		{[]string{"-data", broken}, "give -instance-prompt"},
		{[]string{"-data", empty, "-instance-prompt", "a sks dog"}, "has no images"},
		{[]string{"-data", broken, "-instance-prompt", "a sks dog"}, "prior preservation needs -class-prompt"},
		{[]string{"-task", "xsum", "-data", "synthetic"}, "the diffusion suite has one task, dreambooth"},
		{[]string{}, "the diffusion suite needs -data"},
	} {
		var stderr bytes.Buffer
		err := run(tinyDreamBooth(t.TempDir(), append(c.args, "-method", "lora", "-fail-fast")...), &bytes.Buffer{}, &stderr)
		if err == nil || !strings.Contains(err.Error()+stderr.String(), c.want) {
			t.Errorf("%v: %v\n%s\nwant %q", c.args, err, stderr.String(), c.want)
		}
	}
}
