package models

import (
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

func TestMatchCheckpoint(t *testing.T) {
	specs := []ParamSpec{
		{Name: "m.w", Shape: []int64{2, 3}},
		{Name: "m.b", Shape: []int64{2}, Init: InitZero},
		{Name: "head.w", Shape: []int64{4, 2}, Head: true},
		{Name: "head.b", Shape: []int64{4}, Head: true, Init: InitZero},
	}
	zeros := func(shape ...int64) *ts.Tensor { return ts.MustZeros(shape, gotch.Double, gotch.CPU) }
	rng := NewRNG(1, 0)
	match := Match{
		Prefix:    "m.",
		Ignorable: func(name string) bool { return strings.HasPrefix(name, "lm.") },
		Init:      func(s ParamSpec) *ts.Tensor { return InitTensor(s, 0.02, rng) },
		Model:     "a test model",
	}
	// A bare base checkpoint (no prefix), a pre-training head and a 3-class head.
	ckpt := map[string]*ts.Tensor{"w": zeros(2, 3), "b": zeros(2), "lm.x": zeros(1), "head.w": zeros(3, 2)}
	if _, _, err := MatchCheckpoint(specs, ckpt, "ck", match); err == nil ||
		err.Error() != "ck does not fit a test model: mis-shaped tensors: head.w: checkpoint [3 2], model [4 2]" {
		t.Fatalf("err = %v", err)
	}
	match.ReplaceHead = true
	got, rep, err := MatchCheckpoint(specs, ckpt, "ck", match)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.NewlyInitialised, []string{"head.b"}) || !slices.Equal(rep.Ignored, []string{"lm.x"}) ||
		!slices.Equal(rep.Replaced, []string{"head.w: checkpoint [3 2], model [4 2]"}) {
		t.Errorf("report = %+v", rep)
	}
	if len(got) != 4 || got["m.w"].DType() != gotch.Float || !slices.Equal(got["head.w"].MustSize(), []int64{4, 2}) {
		t.Errorf("tensors = %v", got)
	}
	delete(ckpt, "w")
	ckpt["x"] = zeros(1)
	_, _, err = MatchCheckpoint(specs, ckpt, "ck", match)
	if err == nil || !strings.Contains(err.Error(), "missing tensors: m.w") || !strings.Contains(err.Error(), "unexpected tensors: x") {
		t.Errorf("err = %v", err)
	}
}
