package models

import (
	"slices"
	"testing"

	"github.com/sugarme/gotch"
)

func TestPadBatch(t *testing.T) {
	b := PadBatch([][]int64{{5, 6, 7}, {8}}, [][]int64{{0, 1, 1}, {0}}, 9, gotch.CPU)
	defer b.Drop()
	for _, c := range []struct {
		name string
		got  []int64
		want []int64
	}{
		{"ids", b.InputIDs.Int64Values(), []int64{5, 6, 7, 8, 9, 9}},
		{"types", b.TokenTypeIDs.Int64Values(), []int64{0, 1, 1, 0, 0, 0}},
		{"mask", b.AttentionMask.Int64Values(), []int64{1, 1, 1, 1, 0, 0}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s := b.InputIDs.MustSize(); !slices.Equal(s, []int64{2, 3}) {
		t.Errorf("shape %v, want [2 3]", s)
	}
}
