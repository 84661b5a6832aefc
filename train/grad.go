package train

import (
	"runtime"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
)

// noGrad runs f with libtorch's grad mode off and restores the previous mode after.
// Grad mode is thread-local in libtorch, and a goroutine may move to another OS thread
// between two cgo calls, so the goroutine is pinned for the duration (LockOSThread
// nests, so callers that already hold the lock keep it). torchx.SetGradEnabled, not
// gotch's GradSetEnabled, whose reported previous mode is unreliable.
func noGrad(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := torchx.SetGradEnabled(false)
	defer torchx.SetGradEnabled(prev)
	f()
}

// trainedGrad returns a new handle on t's gradient when t is trained now:
// requires_grad set and a gradient defined. The caller frees the handle (which frees
// the handle only, not the gradient).
func trainedGrad(t *ts.Tensor) (cTensor, bool) {
	h := handle(t)
	if !lib.AtRequiresGrad(h) {
		return nil, false
	}
	g := grad(h)
	if !lib.AtDefined(g) {
		lib.AtFree(g)
		return nil, false
	}
	return g, true
}

// zeroGrad zeroes t's gradient in place if it has one, as torch's
// zero_grad(set_to_none=False).
func zeroGrad(t *ts.Tensor) {
	g := grad(handle(t))
	defer lib.AtFree(g)
	if lib.AtDefined(g) {
		detach_(g)
		zero_(g)
	}
}
