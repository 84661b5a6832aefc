package train

import (
	"runtime"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
)

// noGrad runs f with libtorch's grad mode off and restores the previous mode after.
// Grad mode is thread-local in libtorch, and a goroutine may move to another OS thread
// between two cgo calls, so the goroutine is pinned for the duration (LockOSThread
// nests, so callers that already hold the lock keep it).
func noGrad(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := torchx.SetGradEnabled(false) // not ts.MustGradSetEnabled: it misreports the previous mode
	defer torchx.SetGradEnabled(prev)
	f()
}

// gradOf returns t's gradient when t is trained now: requires_grad set and a gradient
// defined. The returned handle shares the gradient's storage; the caller drops it.
func gradOf(t *ts.Tensor) (*ts.Tensor, bool) {
	if !t.MustRequiresGrad() {
		return nil, false
	}
	g := t.MustGrad(false)
	if !g.MustDefined() {
		g.MustDrop()
		return nil, false
	}
	return g, true
}

// zeroGrad zeroes t's gradient in place if it has one, as torch's
// zero_grad(set_to_none=False).
func zeroGrad(t *ts.Tensor) {
	g := t.MustGrad(false)
	defer g.MustDrop()
	if g.MustDefined() {
		g.MustDetach_()
		g.MustZero_()
	}
}
