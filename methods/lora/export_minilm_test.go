package lora

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/realmodel"
	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
)

// exportFixtures are adapters SavePEFT wrote, and what peft 0.12.0 computes with them
// (scripts/fixtures/gen_lora_export.py; testdata/README.md).
const exportFixtures = "testdata/export"

// updateExport rewrites the exported adapters of exportFixtures instead of comparing
// with them: go test ./methods/lora/ -run 'TestSavePEFT(MatchesPEFTOnMiniLM|KeepsPatterns)' -update-export
var updateExport = flag.Bool("update-export", false, "rewrite testdata/export's adapters (then rerun scripts/fixtures/gen_lora_export.py)")

// minilmBase is base_model_name_or_path of the MiniLM export: where peft users get it.
const minilmBase = "sentence-transformers/all-MiniLM-L6-v2"

// peftReference is testdata/export/minilm_peft.json.
type peftReference struct {
	Batches []struct {
		Name          string      `json:"name"`
		InputIDs      [][]int64   `json:"input_ids"`
		AttentionMask [][]int64   `json:"attention_mask"`
		TokenTypeIDs  [][]int64   `json:"token_type_ids"`
		Logits        [][]float64 `json:"logits"`
	} `json:"batches"`
}

func int64Tensor(rows [][]int64) *ts.Tensor {
	var flat []int64
	for _, r := range rows {
		flat = append(flat, r...)
	}
	return ts.MustOfSlice(flat).MustView([]int64{int64(len(rows)), int64(len(rows[0]))}, true)
}

func float32Tensor(rows [][]float64) *ts.Tensor {
	var flat []float32
	for _, r := range rows {
		for _, v := range r {
			flat = append(flat, float32(v))
		}
	}
	return ts.MustOfSlice(flat).MustView([]int64{int64(len(rows)), int64(len(rows[0]))}, true)
}

// A LoRA on the real all-MiniLM-L6-v2 (r 2, α 4 on query and value of the 6 layers, B
// and a 3-way head drawn from a seed), exported with SavePEFT: the files have the bytes
// of the committed export, which peft 0.12.0 loads with PeftModel.from_pretrained
// (re-saving it gives the same bytes) and runs on real sentences; our model's logits
// equal peft's within 1e-4, as the other MiniLM tests hold transformers'. With the
// adapters' B set to zero the logits are far from peft's: the LoRA part is checked,
// not only the head.
func TestSavePEFTMatchesPEFTOnMiniLM(t *testing.T) {
	dir := realmodel.MiniLM(t)
	m, _, err := bert.Load(dir, bert.Classification, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	lo, err := New(Config{R: 2, Alpha: 4, Dropout: 0.1, Targets: []models.LayerType{models.Query, models.Value}, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := lo.Apply(m); err != nil {
		t.Fatal(err)
	}
	perturb(lo, 6)

	out := filepath.Join(t.TempDir(), "adapter")
	if *updateExport {
		out = filepath.Join(exportFixtures, "minilm")
	}
	if err := lo.SavePEFT(out, minilmBase); err != nil {
		t.Fatal(err)
	}
	if !*updateExport {
		sameFiles(t, out, filepath.Join(exportFixtures, "minilm"))
	}

	raw, err := os.ReadFile(filepath.Join(exportFixtures, "minilm_peft.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref peftReference
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatalf("minilm_peft.json: %v", err)
	}
	if len(ref.Batches) == 0 {
		t.Fatal("minilm_peft.json has no batches")
	}
	for _, batch := range ref.Batches {
		b := models.Batch{InputIDs: int64Tensor(batch.InputIDs), AttentionMask: int64Tensor(batch.AttentionMask), TokenTypeIDs: int64Tensor(batch.TokenTypeIDs)}
		want := float32Tensor(batch.Logits)
		var got *ts.Tensor
		models.NoGrad(func() { got = m.Forward(b) })
		compare.Close(t, batch.Name+" logits vs peft", got, want, 1e-4)

		saved := make([]*ts.Tensor, len(lo.layers))
		models.NoGrad(func() {
			for i, ly := range lo.layers {
				saved[i] = ly.B.MustMulScalar(ts.FloatScalar(1), false) // a copy
				ly.B.MustZero_()
			}
			got = m.Forward(b)
			for i, ly := range lo.layers {
				ly.B.Copy_(saved[i])
			}
		})
		d := compare.MaxAbsDiff(t, batch.Name, got, want)
		t.Logf("%s: max |logits without the LoRA part − peft's| = %.3g", batch.Name, d)
		if d < 1e-2 {
			t.Errorf("%s: the logits without the adapters are within %g of peft's: the fixture cannot tell a missing LoRA", batch.Name, d)
		}
	}
}
