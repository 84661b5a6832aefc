package torchx

import (
	"github.com/sugarme/gotch/ts"

	lib "github.com/sugarme/gotch/libtch"
)

// InPlace runs gotch's in-place op f on t (t.MustMulScalar_, t.MustNormal_, …) and
// frees the C handle f replaced. gotch v0.9.1's in-place ops point t at a new handle
// without freeing the old one, and that leaked handle keeps t's storage alive after t
// is dropped: a temporary updated in place every step leaked its whole size every step
// (DoRA's weight norm: 65 MB per step on MiniLM).
func InPlace(t *ts.Tensor, f func()) {
	old := t.Ctensor()
	f()
	if t.Ctensor() != old {
		lib.AtFree(lib.Ctensor(old))
	}
}
