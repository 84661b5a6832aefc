package lora

import (
	"path/filepath"
	"testing"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/safetensors"
)

const fixtures = "../../models/testdata/bert"

func TestInitialisationReproducesBaseModel(t *testing.T) {
	m := testmodel.Tiny(t, 1)
	want := testmodel.Hidden(m)
	lo, _ := New(DefaultConfig())
	if err := lo.Apply(m); err != nil {
		t.Fatal(err)
	}
	if e := testmodel.RelErr(testmodel.Hidden(m), want); e > 1e-5 {
		t.Errorf("relative error %g after Apply, want ≤ 1e-5", e)
	}
}

// A PEFT LoRA adapter with non-zero A and B, loaded into our LoRA, gives the outputs
// peft gives on the same base model; merged, too (scripts/fixtures/gen_bert.py).
func TestMatchesPEFT(t *testing.T) {
	m, _, err := bert.Load(fixtures, bert.Classification, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	lo, err := New(Config{R: 4, Alpha: 8})
	if err != nil {
		t.Fatal(err)
	}
	if err := lo.Apply(m); err != nil {
		t.Fatal(err)
	}
	if err := lo.LoadPEFT(filepath.Join(fixtures, "lora")); err != nil {
		t.Fatal(err)
	}
	io, err := safetensors.Load(filepath.Join(fixtures, "inputs_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := safetensors.Load(filepath.Join(fixtures, "lora_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	b := models.Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], TokenTypeIDs: io["token_type_ids"]}
	models.NoGrad(func() {
		if e := testmodel.RelErr(m.Encode(b), want["last_hidden_state"]); e > 1e-5 {
			t.Errorf("last_hidden_state: relative error %g against peft", e)
		}
		if e := testmodel.RelErr(m.Forward(b), want["logits"]); e > 1e-5 {
			t.Errorf("logits: relative error %g against peft", e)
		}
		if e := testmodel.RelErr(m.Forward(b), io["logits"]); e < 1e-2 {
			t.Errorf("LoRA logits equal the base model's (%g): the adapter did nothing", e)
		}
		lo.Merge()
		if e := testmodel.RelErr(m.Forward(b), want["lora_merged_logits"]); e > 1e-5 {
			t.Errorf("merged logits: relative error %g against peft's merge_and_unload", e)
		}
	})
}

func TestLoadPEFTRejectsMismatch(t *testing.T) {
	m, _, _ := bert.Load(fixtures, bert.Classification, 0, 1)
	lo, _ := New(Config{R: 8, Alpha: 8})
	_ = lo.Apply(m)
	if err := lo.LoadPEFT(filepath.Join(fixtures, "lora")); err == nil {
		t.Error("an r=4 adapter loaded into r=8 layers")
	}
}

// LoRA's ΔW = (α/r)·B·A has rank ≤ r, and reaches r after training.
func TestTrainedRankAtMostR(t *testing.T) {
	m := testmodel.Tiny(t, 2)
	lo, _ := New(Config{R: 3, Alpha: 6})
	if err := lo.Apply(m); err != nil {
		t.Fatal(err)
	}
	testmodel.Train(t, m, lo, 5)
	per, _, err := methods.Ranks(lo)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range per {
		if r.Rank > 3 || r.Rank == 0 {
			t.Errorf("%s: rank(ΔW) = %d, want 1..3", r.Name, r.Rank)
		}
	}
}

func TestTrainableCounts(t *testing.T) {
	m := testmodel.Tiny(t, 3)
	lo, _ := New(Config{R: 8, Alpha: 16})
	_ = lo.Apply(m)
	// per layer: 4 × 8·(64+64) + 8·(64+128) × 2 (FFN up and down)
	want := int64(2 * (4*8*128 + 2*8*192))
	if c := methods.Count(lo, m); c.Adapter != want {
		t.Errorf("tiny: %d adapter parameters, want %d", c.Adapter, want)
	}
	if got := lo.CountAdapter(models.ShapeOf(m)); got != want {
		t.Errorf("tiny: CountAdapter = %d, want %d", got, want)
	}
	// bert-base, r = 8: 12 × (4 × 8·1536 + 2 × 8·3840) = 1,327,104
	if got := lo.CountAdapter(bert.ShapeOf(bert.BaseShape(), bert.Classification)); got != 1327104 {
		t.Errorf("bert-base: %d, want 1,327,104", got)
	}
}
