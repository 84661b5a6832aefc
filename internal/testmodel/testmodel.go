// Package testmodel gives tests a small BERT encoder and a fixed padded batch, so every
// method is tested on the same model, and the training and benchmark step loops that the
// methods' tests share across models.
package testmodel

import (
	"math"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/train"
)

// Tiny returns the built-in tiny encoder with a 3-way classification head, in eval mode,
// with weights drawn from seed.
func Tiny(t testing.TB, seed uint64) *bert.Model {
	t.Helper()
	c := bert.Tiny(50)
	c.NumLabels = 3
	m, err := bert.New(c, bert.Classification, seed)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	return m
}

// Batch is a 2×6 batch with padding in its second row.
func Batch() models.Batch {
	ids := ts.MustOfSlice([]int64{1, 7, 8, 9, 2, 0, 1, 11, 12, 2, 0, 0}).MustView([]int64{2, 6}, true)
	mask := ts.MustOfSlice([]int64{1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 0, 0}).MustView([]int64{2, 6}, true)
	tt := ts.MustOfSlice([]int64{0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0}).MustView([]int64{2, 6}, true)
	return models.Batch{InputIDs: ids, AttentionMask: mask, TokenTypeIDs: tt}
}

// RelErr is max|a − b| / max|b|.
func RelErr(a, b *ts.Tensor) float64 {
	av, bv := a.Float64Values(), b.Float64Values()
	num, den := 0.0, 0.0
	for i := range av {
		num = math.Max(num, math.Abs(av[i]-bv[i]))
		den = math.Max(den, math.Abs(bv[i]))
	}
	return num / den
}

// Hidden returns the model's last hidden state on Batch, detached.
func Hidden(m *bert.Model) *ts.Tensor {
	var h *ts.Tensor
	models.NoGrad(func() { h = m.Encode(Batch()) })
	return h
}

// Train runs TrainSteps on the model's logits on Batch.
func Train(t testing.TB, m *bert.Model, meth Trainer, steps int) *train.AdamW {
	t.Helper()
	b := Batch()
	defer b.Drop()
	return TrainSteps(t, func() *ts.Tensor { return m.Forward(b) }, meth, steps)
}
