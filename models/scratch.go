package models

import "github.com/sugarme/gotch/ts"

// Scratch holds a function's intermediate tensors until it returns:
//
//	var s models.Scratch
//	defer s.Drop()
//	up := s.Keep(fc1.Forward(h))
//
// Keeping them referenced also keeps Go's finalizers from freeing an argument while
// libtorch still reads it. Drop has a pointer receiver on purpose: `defer s.Drop()`
// then sees what Keep adds later (with a value receiver the deferred call would get
// the empty slice of the moment it was deferred, drop nothing, and keep nothing
// alive).
type Scratch []*ts.Tensor

// Keep holds t until Drop and returns it.
func (s *Scratch) Keep(t *ts.Tensor) *ts.Tensor {
	*s = append(*s, t)
	return t
}

// Drop frees every kept tensor.
func (s *Scratch) Drop() {
	for _, t := range *s {
		t.MustDrop()
	}
	*s = nil
}
