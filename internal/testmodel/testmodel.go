// Package testmodel gives tests a small BERT encoder and a fixed padded batch, so every
// method is tested on the same model.
package testmodel

import (
	"math"
	"runtime"
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

// Trainer is what Train needs of a method.
type Trainer interface {
	Trainable() (adapter, head []train.Param)
	Hooks() []train.Hook
}

// Train runs plain AdamW steps (lr 1e-2) of cross-entropy on Batch with labels 0 and 2,
// calling the method's hooks after each step. It returns the optimizer.
func Train(t testing.TB, m *bert.Model, meth Trainer, steps int) *train.AdamW {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	adapter, head := meth.Trainable()
	opt := train.NewAdamW([]train.Group{{Name: "adapter", Params: adapter, LR: 1e-2}, {Name: "head", Params: head, LR: 1e-2}}, 0.9, 0.999, 1e-8)
	labels := ts.MustOfSlice([]int64{0, 2})
	defer labels.MustDrop()
	b := Batch()
	defer b.Drop()
	for step := 1; step <= steps; step++ {
		logits := m.Forward(b)
		loss := logits.CrossEntropyForLogits(labels)
		logits.MustDrop()
		loss.MustBackward()
		loss.MustDrop()
		opt.Step(1)
		opt.ZeroGrad()
		for _, h := range meth.Hooks() {
			if err := h(step); err != nil {
				t.Fatal(err)
			}
		}
	}
	return opt
}
