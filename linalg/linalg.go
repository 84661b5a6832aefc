// Package linalg holds the float64 linear algebra the harness needs around training:
// the thin SVD VectorFit starts from, and the rank measures of a weight update (SPEC §5).
package linalg

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Float32Eps is the machine epsilon of float32, 2⁻²³: the rank threshold of SPEC §5
// uses it because the weights being compared were trained in float32.
const Float32Eps = 1.1920928955078125e-07

// SVD is the thin SVD W = U · diag(S) · Vᵀ of an out×in matrix, r = min(out, in):
// U is out×r, S has length r (descending), V is in×r. All three are float64.
type SVD struct {
	U, S, V *ts.Tensor
}

// Where SVDs of tensors on an accelerator run (SetSVDDevice).
const (
	SVDOnCPU  = "cpu"  // copy the matrix to the CPU, decompose there, copy the factors back
	SVDOnSame = "same" // decompose on the tensor's own device (CUDA: cuSOLVER/MAGMA)
)

// svdOnDevice is true for SVDOnSame. The default is the CPU: LAPACK's float64 SVD is the
// one the CPU runs and the tests check, so a GPU run starts from the same factors (up
// to the copy, which is exact) as a CPU run of the same model.
var svdOnDevice atomic.Bool

// SetSVDDevice chooses where SVDs of tensors that are not on the CPU run: SVDOnCPU
// (the default) or SVDOnSame. Either way they run in float64. Process-wide: the runner
// sets it once from -svd-device.
func SetSVDDevice(where string) error {
	switch where {
	case SVDOnCPU, "":
		svdOnDevice.Store(false)
	case SVDOnSame:
		svdOnDevice.Store(true)
	default:
		return fmt.Errorf("linalg: SVD device %q, want %q or %q", where, SVDOnCPU, SVDOnSame)
	}
	return nil
}

// SVDDevice is the current setting, SVDOnCPU or SVDOnSame.
func SVDDevice() string {
	if svdOnDevice.Load() {
		return SVDOnSame
	}
	return SVDOnCPU
}

// float64Copy is w in float64 on the device its SVD runs on (see SetSVDDevice).
func float64Copy(w *ts.Tensor) *ts.Tensor {
	if !svdOnDevice.Load() && w.MustDevice().IsCuda() {
		return w.MustTo(gotch.CPU, false).MustTotype(gotch.Double, true)
	}
	return w.MustTotype(gotch.Double, false)
}

// ThinSVD computes the thin SVD of a 2-D tensor in float64, whatever its dtype, on the
// CPU or on its device (SetSVDDevice); the factors are on w's device. float64 keeps
// the factors exact to ~1e-15 relative, so storing them afterwards in the model's dtype
// loses no more than the model's own rounding.
func ThinSVD(w *ts.Tensor) (SVD, error) {
	size := w.MustSize()
	if len(size) != 2 {
		return SVD{}, fmt.Errorf("linalg: SVD of a %d-D tensor %v, want a matrix", len(size), size)
	}
	w64 := float64Copy(w)
	defer w64.MustDrop()
	// torch.svd(some=true) is the thin SVD and returns V itself. (gotch passes
	// linalg_svd's optional driver as a string, which the CPU backend rejects.)
	u, s, v, err := w64.Svd(true, true, false)
	if err != nil {
		return SVD{}, fmt.Errorf("linalg: SVD of %v matrix: %w", size, err)
	}
	if dev := w.MustDevice(); dev.IsCuda() && !w64.MustDevice().IsCuda() {
		u, s, v = u.MustTo(dev, true), s.MustTo(dev, true), v.MustTo(dev, true)
	}
	return SVD{U: u, S: s, V: v}, nil
}

// Drop frees the factors.
func (d SVD) Drop() {
	for _, t := range []*ts.Tensor{d.U, d.S, d.V} {
		if t != nil {
			t.MustDrop()
		}
	}
}

// SingularValues returns the singular values of a 2-D tensor, computed in float64,
// in descending order.
func SingularValues(w *ts.Tensor) ([]float64, error) {
	size := w.MustSize()
	if len(size) != 2 {
		return nil, fmt.Errorf("linalg: singular values of a %d-D tensor %v, want a matrix", len(size), size)
	}
	w64 := float64Copy(w)
	defer w64.MustDrop()
	u, s, v, err := w64.Svd(true, false, false)
	if err != nil {
		return nil, fmt.Errorf("linalg: singular values of %v matrix: %w", size, err)
	}
	u.MustDrop()
	v.MustDrop()
	defer s.MustDrop()
	return s.Float64Values(), nil
}

// Rank counts the singular values above σ_max · max(out, in) · ε_float32 (SPEC §5): the
// numerical rank of an out×in update trained in float32. sv must be descending.
func Rank(sv []float64, out, in int) int {
	if len(sv) == 0 || sv[0] == 0 {
		return 0
	}
	tol := sv[0] * float64(max(out, in)) * Float32Eps
	n := 0
	for _, s := range sv {
		if s > tol {
			n++
		}
	}
	return n
}

// EffectiveRank is exp of the Shannon entropy of the normalised singular values
// p_i = σ_i / Σσ (Roy & Vetterli, 2007): between 1 (one direction) and the number of
// non-zero values (all equal). 0 for a zero matrix.
func EffectiveRank(sv []float64) float64 {
	sum := 0.0
	for _, s := range sv {
		sum += s
	}
	if sum == 0 {
		return 0
	}
	h := 0.0
	for _, s := range sv {
		if p := s / sum; p > 0 {
			h -= p * math.Log(p)
		}
	}
	return math.Exp(h)
}
