package bitfit

import (
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
	"github.com/vectorfit/harness/models/safetensors"
)

const fixtures = "../../models/testdata/bert"

// One AdamW step of BitFit on the tiny BERT equals PyTorch's step with requires_grad on
// the same biases and the classifier (scripts/fixtures/gen_bitfit.py): the same
// tensors train, each ends where torch's does, and so do the logits.
func TestStepMatchesPyTorch(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	want, err := safetensors.Load("testdata/step.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	in, err := safetensors.Load(fixtures + "/inputs_outputs.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	b := models.Batch{InputIDs: in["input_ids"], AttentionMask: in["attention_mask"], TokenTypeIDs: in["token_type_ids"]}
	for _, v := range []Biases{All, QueryIntermediate} {
		t.Run(string(v), func(t *testing.T) {
			m, _, err := bert.Load(fixtures, bert.Classification, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			m.SetTraining(false)
			bf, err := New(v)
			if err != nil {
				t.Fatal(err)
			}
			if err := bf.Apply(m); err != nil {
				t.Fatal(err)
			}
			adapter, head := bf.Trainable()
			var got, ref []string
			for _, p := range slices.Concat(adapter, head) {
				got = append(got, p.Name)
			}
			prefix := string(v) + "/"
			for k := range want {
				if name, ok := strings.CutPrefix(k, prefix); ok && name != "logits" && name != "trainable" {
					ref = append(ref, name)
				}
			}
			slices.Sort(got)
			slices.Sort(ref)
			if !slices.Equal(got, ref) {
				t.Fatalf("trains %v, torch trains %v", got, ref)
			}
			if n, w := methods.Count(bf, m).Adapter, want[prefix+"trainable"].Int64Values()[0]; n != w {
				t.Errorf("adapter count %d, torch %d", n, w)
			}
			before := map[string]*ts.Tensor{}
			for _, p := range adapter {
				before[p.Name] = p.T.MustDetachCopy(false)
			}
			const lr = 1e-2
			step, _ := testmodel.Step(adapter, head, lr, func() *ts.Tensor { return m.Forward(b) }, want["labels"])
			step()
			worst := 0.0
			for _, p := range slices.Concat(adapter, head) {
				if strings.HasSuffix(p.Name, "attention.self.key.bias") {
					// q·(k + b) = q·k + q·b is the same for every key, and softmax ignores a
					// per-row constant: the key bias's gradient is exactly 0, its computed
					// value float32 rounding noise (~1e-8), which Adam's first step
					// (lr·g/(|g| + 1e-8)) blows up to anything within ±lr, in torch too. So
					// only that bound is checkable.
					for _, x := range []*ts.Tensor{p.T, want[prefix+p.Name]} {
						if d := x.MustSub(before[p.Name], false).MustAbs(true).MustMax(true).Float64Values()[0]; d > lr*(1+1e-6) {
							t.Errorf("%s moved by %g, more than lr", p.Name, d)
						}
					}
					continue
				}
				e := testmodel.RelErr(p.T, want[prefix+p.Name])
				worst = max(worst, e)
				if e > 1e-5 {
					t.Errorf("%s after the step: relative error %g against torch", p.Name, e)
				}
			}
			t.Logf("worst relative error of a trained tensor: %.2g", worst)
			models.NoGrad(func() {
				e := testmodel.RelErr(m.Forward(b), want[prefix+"logits"])
				if e > 1e-5 {
					t.Errorf("logits after the step: relative error %g against torch", e)
				}
				t.Logf("logits after the step: relative error %.2g", e)
			})
		})
	}
}

// Parameter counts from the shape alone, against hand counts: BERT-base and
// DeBERTaV3-base (hidden 768, FFN 3072, 12 layers). Per layer: q, k, v, o 4·768, two
// LayerNorms 2·768, up 3072, down 768 = 8448; ×12 = 101,376; + the embeddings'
// LayerNorm 768, + BERT's pre-trained pooler 768 or DeBERTa's relative-embedding
// LayerNorm 768 = 102,912. The sparse variant: 12·(768 + 3072) = 46,080.
func TestCounts(t *testing.T) {
	bertBase := bert.ShapeOf(bert.BaseShape(), bert.Classification)
	debertaBase := deberta.ShapeOf(deberta.BaseShape(), deberta.Classification)
	for _, c := range []struct {
		name   string
		shape  models.Shape
		biases Biases
		want   int64
	}{
		{"bert-base all", bertBase, All, 102912},
		{"bert-base sparse", bertBase, QueryIntermediate, 46080},
		{"deberta-v3-base all", debertaBase, All, 102912},
		{"deberta-v3-base sparse", debertaBase, QueryIntermediate, 46080},
	} {
		bf, err := New(c.biases)
		if err != nil {
			t.Fatal(err)
		}
		got := bf.CountAdapter(c.shape)
		if got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
		t.Logf("%s: %d = %.4f%% of %d", c.name, got, 100*float64(got)/float64(c.shape.BaseParams), c.shape.BaseParams)
	}
	// On a built model the shape count is what Apply trains.
	for _, v := range []Biases{All, QueryIntermediate} {
		m := testmodel.Tiny(t, 1)
		bf, _ := New(v)
		if err := bf.Apply(m); err != nil {
			t.Fatal(err)
		}
		if got, want := bf.CountAdapter(models.ShapeOf(m)), methods.Count(bf, m).Adapter; got != want {
			t.Errorf("%s on the tiny model: CountAdapter %d, trains %d", v, got, want)
		}
	}
}

// BitFit moves no weight matrix: Deltas is empty and the rank report is empty, not an
// error; training changes biases only.
func TestNoWeightChanges(t *testing.T) {
	m := testmodel.Tiny(t, 2)
	w0 := map[string]*ts.Tensor{}
	for _, l := range m.Linears() {
		w0[l.Name] = l.Weight.MustDetachCopy(false)
	}
	bf, _ := New(All)
	if err := bf.Apply(m); err != nil {
		t.Fatal(err)
	}
	testmodel.Train(t, m, bf, 3)
	for _, l := range m.Linears() {
		if !l.Weight.MustEqual(w0[l.Name], false) {
			t.Errorf("%s: weight changed", l.Name)
		}
	}
	moved := 0
	for _, p := range bf.adapter {
		if p.T.MustAbs(false).MustMax(true).Float64Values()[0] > 0 {
			moved++
		}
	}
	if moved == 0 {
		t.Error("no bias moved in training")
	}
	per, sum, err := methods.Ranks(bf)
	if err != nil || len(per) != 0 || len(sum) != 0 {
		t.Errorf("Ranks = %v, %v, %v; want empty and no error", per, sum, err)
	}
}

// noBias is a model whose only linear has no bias.
type noBias struct{ l *models.Linear }

func (n noBias) Params() []models.Param {
	return []models.Param{{Name: n.l.Name + ".weight", T: n.l.Weight}}
}
func (n noBias) Linears() []*models.Linear { return []*models.Linear{n.l} }
func (noBias) SetTraining(bool)            {}

func TestErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		kv   map[string]string
		want string
	}{
		{"bad variant", map[string]string{"biases": "key"}, `bitfit: biases = "key", want "all" or "query+intermediate"`},
		{"unknown key", map[string]string{"bias": "all"}, "bitfit has no option bias (it has biases)"},
	} {
		_, err := Factory(methods.NewOptions("bitfit", c.kv))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	bf, err := Factory(methods.NewOptions("bitfit", map[string]string{"biases": "query+intermediate"}))
	if err != nil {
		t.Fatal(err)
	}
	m := noBias{&models.Linear{Name: "q", Type: models.Query, Weight: ts.MustOnes([]int64{2, 2}, gotch.Float, gotch.CPU)}}
	err = bf.Apply(m)
	if want := "bitfit: the model has no bias to train (biases=query+intermediate)"; err == nil || err.Error() != want {
		t.Errorf("no bias: error %v, want %q", err, want)
	}
	tiny := testmodel.Tiny(t, 1)
	bf, _ = New(All)
	if err := bf.Apply(tiny); err != nil {
		t.Fatal(err)
	}
	if err := bf.Apply(tiny); err == nil || err.Error() != "bitfit: Apply called twice" {
		t.Errorf("second Apply: %v", err)
	}
}
