package squad

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vectorfit/harness/internal/realmodel"
	"github.com/vectorfit/harness/models/tokenize"
)

// With the real all-MiniLM-L6-v2 tokenizer (whose tokenizer.json pads to 128),
// BuildFeatures makes, for every question of the shared SQuAD dev subsets, as many
// windows as Hugging Face tokenizers 0.19.1 makes for run_qa at 384/128 and 192/64
// (models/tokenize/testdata/minilm/window_counts.json, made by
// scripts/fixtures/gen_minilm_tokenizer.py). With the file's padding applied, the
// question took 128 tokens of every window: more windows at 384/128, an error at 192/64.
func TestMiniLMWindowCountsMatchHuggingFace(t *testing.T) {
	if testing.Short() {
		t.Skip("tokenises 7267 SQuAD questions twice")
	}
	tok, err := tokenize.Load(filepath.Join(realmodel.MiniLM(t), "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../models/tokenize/testdata/minilm/window_counts.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string][]int
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		file           string
		maxLen, stride int
	}{
		{"dev-v1.1.subset.json", 384, 128}, {"dev-v1.1.subset.json", 192, 64},
		{"dev-v2.0.subset.json", 384, 128}, {"dev-v2.0.subset.json", 192, 64},
	}
	for _, c := range cases {
		key := fmt.Sprintf("%s %d/%d", c.file, c.maxLen, c.stride)
		counts, ok := want[key]
		if !ok {
			t.Fatalf("window_counts.json has no %q", key)
		}
		ds := mustLoad(t, filepath.Join(sharedSQuAD, c.file), "")
		if len(ds.Examples) != len(counts) {
			t.Fatalf("%s: %d questions, the fixture %d", c.file, len(ds.Examples), len(counts))
		}
		// run_qa has no max query length: 0.
		fs, err := BuildFeatures(ds.Examples, tok, c.maxLen, c.stride, 0)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		got := make([]int, len(ds.Examples))
		for _, f := range fs {
			got[f.Example]++
		}
		total, wrong := 0, 0
		for i, n := range counts {
			total += n
			if got[i] != n {
				if wrong < 5 {
					t.Errorf("%s question %s: %d windows, want %d", key, ds.Examples[i].ID, got[i], n)
				}
				wrong++
			}
		}
		t.Logf("%s: %d questions, %d windows (Hugging Face %d), %d questions differ", key, len(counts), len(fs), total, wrong)
		if len(fs) != total {
			t.Errorf("%s: %d windows, want %d", key, len(fs), total)
		}
	}
}
