package glue

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vectorfit/harness/internal/realmodel"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/train"
)

// fileOrder is evaluation as it was before length sorting: consecutive examples.
func fileOrder(n, size int) [][]int {
	var out [][]int
	for start := 0; start < n; start += size {
		var idx []int
		for j := start; j < min(start+size, n); j++ {
			idx = append(idx, j)
		}
		out = append(out, idx)
	}
	return out
}

// TestSortedEvaluationMatchesFileOrder evaluates the first 200 dev rows of SST-2 and
// STS-B with the real MiniLM (and a fixed random head) in length-sorted batches
// (Predict) and in file-order batches: the class predictions must be identical and
// the STS-B scores equal within 1e-5 (the two pad the same sentence to other lengths).
// The predictions vary between examples, so a result left in sorted order would fail.
func TestSortedEvaluationMatchesFileOrder(t *testing.T) {
	dir := realmodel.MiniLM(t)
	requireShared(t)
	tok, err := tokenize.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sst2", "stsb"} {
		t.Run(name, func(t *testing.T) {
			task := mustTask(t, name)
			_, dev, err := Load(task, sharedGLUE, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			dev[0].Examples = dev[0].Examples[:200]
			m, _, err := bert.Load(dir, bert.Classification, int64(task.NumLabels), 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range m.Params() {
				if p.Name == "classifier.weight" { // spread the logits so the classes vary
					setValues(p.T, hashedUniform(3, int(p.Numel()), 0.5))
				}
			}
			m.SetTraining(false)
			ft, err := NewFinetune(task, m, tok, dev[0], dev, 8, 128, 1)
			if err != nil {
				t.Fatal(err)
			}
			data := ft.dev[0].enc
			var sorted, plain []float64
			models.NoGrad(func() {
				sorted = ft.Predict(data)
				plain = ft.predict(data, fileOrder(len(data), 2*ft.BatchSize))
			})
			if len(sorted) != len(data) || len(plain) != len(data) {
				t.Fatalf("%d and %d predictions for %d examples", len(sorted), len(plain), len(data))
			}
			if distinct := len(slices.Compact(slices.Sorted(slices.Values(plain)))); distinct < 2 {
				t.Fatalf("all %d predictions equal: the test could not tell orders apart", len(plain))
			}
			for i := range plain {
				if task.NumLabels > 1 && sorted[i] != plain[i] {
					t.Errorf("example %d: class %g sorted, %g in file order", i, sorted[i], plain[i])
				}
				if task.NumLabels == 1 && math.Abs(sorted[i]-plain[i]) > 1e-5 {
					t.Errorf("example %d: score %.7f sorted, %.7f in file order", i, sorted[i], plain[i])
				}
			}
			var gold []Example
			for _, ex := range dev[0].Examples {
				gold = append(gold, ex)
			}
			a, err := Compute(task, sorted, gold)
			if err != nil {
				t.Fatal(err)
			}
			b, err := Compute(task, plain, gold)
			if err != nil {
				t.Fatal(err)
			}
			for k := range b {
				if !(math.Abs(a[k]-b[k]) <= 1e-6) {
					t.Errorf("%s: %.6f sorted, %.6f in file order", k, a[k], b[k])
				}
			}
			t.Logf("%s: %v sorted, %v in file order", name, a, b)
		})
	}
}

// TestSortedEvaluationPadding counts the tokens evaluation feeds the model on the
// shared SST-2 dev (436 rows, max length 128, evaluation batches of 64 as the runner's
// -batch 32): the real tokens (README: 10 806), padded file-order batches (README:
// 22 120) and length-sorted batches, which must pad less.
func TestSortedEvaluationPadding(t *testing.T) {
	dir := realmodel.MiniLM(t)
	requireShared(t)
	tok, err := tokenize.Load(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	task := mustTask(t, "sst2")
	_, dev, err := Load(task, sharedGLUE, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encodeSplit(task, tok, dev[0], 128)
	if err != nil {
		t.Fatal(err)
	}
	lengths := lengthsOf(enc)
	padded := func(batches [][]int) (total int) {
		for _, b := range batches {
			longest := 0
			for _, i := range b {
				longest = max(longest, lengths[i])
			}
			total += len(b) * longest
		}
		return total
	}
	real := 0
	for _, n := range lengths {
		real += n
	}
	plain, sorted := padded(fileOrder(len(lengths), 64)), padded(train.LengthSortedBatches(lengths, 64))
	t.Logf("SST-2 dev: %d rows, %d real tokens, %d in file-order batches of 64, %d in length-sorted ones", len(lengths), real, plain, sorted)
	if len(lengths) != 436 || real != 10806 || plain != 22120 {
		t.Errorf("%d rows, %d real tokens, %d file-order; the README's 436, 10 806, 22 120", len(lengths), real, plain)
	}
	if sorted < real || sorted >= plain {
		t.Errorf("length-sorted batches feed %d tokens, want between %d and %d", sorted, real, plain)
	}
}
