package models

import (
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// A deferred Drop frees what was kept after the defer statement.
func TestScratchDropSeesLaterKeeps(t *testing.T) {
	var kept []*ts.Tensor
	func() {
		var s Scratch
		defer s.Drop()
		for range 3 {
			kept = append(kept, s.Keep(ts.MustOnes([]int64{2}, gotch.Float, gotch.CPU)))
		}
	}()
	for i, k := range kept {
		if k.Ctensor() != nil {
			t.Errorf("tensor %d still held after the deferred Drop", i)
		}
	}
}
