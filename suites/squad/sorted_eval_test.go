package squad

import (
	"math"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/train"
)

// TestSortedLogitsMatchFileOrder runs 48 shared dev questions' windows (max length
// 128, stride 32: windows of many lengths) through the tiny span model in
// length-sorted batches (Logits) and in file-order batches, as evaluation did before:
// every window's start and end logits must agree within 1e-5, at the window's index.
func TestSortedLogitsMatchFileOrder(t *testing.T) {
	ds := mustLoad(t, filepath.Join(sharedSQuAD, "dev-v1.1.subset.json"), "")
	ds.Examples = ds.Examples[:48]
	tok := tokenize.Builtin()
	m, err := bert.New(bert.Tiny(tok.VocabSize()), bert.Span, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	ft, err := NewFinetune(m, tok, ds, ds, Options{BatchSize: 4, MaxLen: 128, DocStride: 32})
	if err != nil {
		t.Fatal(err)
	}
	data := ft.DevFeatures
	lengths := featureLengths(data)
	if slices.Min(lengths) == slices.Max(lengths) {
		t.Fatalf("all %d windows have %d tokens: the test could not tell orders apart", len(data), lengths[0])
	}
	var plain [][]int
	for from := 0; from < len(data); from += 8 {
		var idx []int
		for j := from; j < min(from+8, len(data)); j++ {
			idx = append(idx, j)
		}
		plain = append(plain, idx)
	}
	var s1, e1, s2, e2 [][]float32
	var err1, err2 error
	models.NoGrad(func() {
		s1, e1, err1 = ft.Logits(data)
		s2, e2, err2 = ft.logits(data, plain)
	})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	for j := range data {
		if len(s1[j]) != lengths[j] || len(e1[j]) != lengths[j] {
			t.Fatalf("window %d: %d and %d logits, want %d", j, len(s1[j]), len(e1[j]), lengths[j])
		}
		for k := range lengths[j] {
			if math.Abs(float64(s1[j][k]-s2[j][k])) > 1e-5 || math.Abs(float64(e1[j][k]-e2[j][k])) > 1e-5 {
				t.Fatalf("window %d token %d: (%g, %g) sorted, (%g, %g) in file order", j, k, s1[j][k], e1[j][k], s2[j][k], e2[j][k])
			}
		}
	}
	padded := func(batches [][]int) (n int) {
		for _, b := range batches {
			longest := 0
			for _, i := range b {
				longest = max(longest, lengths[i])
			}
			n += longest * len(b)
		}
		return n
	}
	t.Logf("%d windows: %d tokens padded in file order, %d length-sorted", len(data), padded(plain), padded(train.LengthSortedBatches(lengths, 8)))
}
