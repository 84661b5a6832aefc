package train

import (
	"fmt"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// The engine calls libtorch through gotch's C layer (libtch) for the ops it runs every
// step, instead of gotch's Tensor methods, because in gotch v0.9.1:
//
//   - every in-place method (MulScalar_, Lerp_, Zero_, …) points the Go tensor at the
//     new handle libtorch returns and orphans the old one, which keeps a reference to
//     the tensor: a few hundred bytes per call on a long-lived parameter, and the whole
//     storage of a temporary once it is dropped (measured: 16 KB leaked per call on a
//     16 KB tensor);
//   - every method leaks the C.malloc(0) it receives the result in (~32 bytes), and
//     every FloatScalar waits for a finalizer.
//
// Handles made here (cTensor) have no Go finalizer: whoever makes one frees it.

// cTensor is a libtorch tensor handle (torch::Tensor*).
type cTensor = lib.Ctensor

// handle is the libtorch handle of a gotch tensor, still owned by that tensor.
func handle(t *ts.Tensor) cTensor { return cTensor(t.Ctensor()) }

// call runs one atg_* function, which writes a new handle into its first argument,
// and returns that handle. libtorch errors here are programming errors (shape or dtype
// mismatches between a parameter, its grad and its state), so they panic.
func call(op func(out *cTensor)) cTensor {
	var out cTensor
	op(&out)
	if err := ts.TorchErr(); err != nil {
		panic(fmt.Sprintf("train: libtorch: %v", err))
	}
	return out
}

// inPlace runs an in-place atg_* function and frees the extra handle it returns.
func inPlace(op func(out *cTensor)) { lib.AtFree(call(op)) }

// withScalar passes a libtorch scalar holding v to f and frees it after.
func withScalar(v float64, f func(s lib.Cscalar)) {
	s := lib.AtsFloat(v)
	defer lib.AtsFree(s)
	f(s)
}

func mulScalar_(t cTensor, v float64) {
	withScalar(v, func(s lib.Cscalar) { inPlace(func(o *cTensor) { lib.AtgMulScalar_(o, t, s) }) })
}

func divScalar_(t cTensor, v float64) {
	withScalar(v, func(s lib.Cscalar) { inPlace(func(o *cTensor) { lib.AtgDivScalar_(o, t, s) }) })
}

func addScalar_(t cTensor, v float64) {
	withScalar(v, func(s lib.Cscalar) { inPlace(func(o *cTensor) { lib.AtgAddScalar_(o, t, s) }) })
}

// lerp_ is t ← t + w·(end − t).
func lerp_(t, end cTensor, w float64) {
	withScalar(w, func(s lib.Cscalar) { inPlace(func(o *cTensor) { lib.AtgLerp_(o, t, end, s) }) })
}

func zero_(t cTensor)   { inPlace(func(o *cTensor) { lib.AtgZero_(o, t) }) }
func detach_(t cTensor) { inPlace(func(o *cTensor) { lib.AtgDetach_(o, t) }) }

// mulScalar returns a new tensor t·v; the caller frees it.
func mulScalar(t cTensor, v float64) cTensor {
	var r cTensor
	withScalar(v, func(s lib.Cscalar) { r = call(func(o *cTensor) { lib.AtgMulScalar(o, t, s) }) })
	return r
}

// divScalar returns a new tensor t/v; the caller frees it.
func divScalar(t cTensor, v float64) cTensor {
	var r cTensor
	withScalar(v, func(s lib.Cscalar) { r = call(func(o *cTensor) { lib.AtgDivScalar(o, t, s) }) })
	return r
}

// sqrt returns a new tensor √t; the caller frees it.
func sqrt(t cTensor) cTensor { return call(func(o *cTensor) { lib.AtgSqrt(o, t) }) }

// grad returns a new handle on t's gradient (possibly undefined); the caller frees it.
func grad(t cTensor) cTensor { return call(func(o *cTensor) { lib.AtgGrad(o, t) }) }

// item is the value of a one-element tensor.
func item(t cTensor) float64 {
	v := lib.AtDoubleValueAtIndexes(t, nil, 0)
	if err := ts.TorchErr(); err != nil {
		panic(fmt.Sprintf("train: libtorch: %v", err))
	}
	return v
}

// norm is the L2 norm of all of t's elements.
func norm(t cTensor) float64 {
	n := call(func(o *cTensor) { lib.AtgNorm(o, t) })
	defer lib.AtFree(n)
	return item(n)
}
