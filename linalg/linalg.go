// Package linalg holds the float64 linear algebra the harness needs around training:
// the thin SVD VectorFit starts from, and the rank measures of a weight update (SPEC §5).
package linalg

import (
	"fmt"
	"math"

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

// ThinSVD computes the thin SVD of a 2-D tensor in float64, whatever its dtype, on its
// device. float64 keeps the factors exact to ~1e-15 relative, so storing them afterwards
// in the model's dtype loses no more than the model's own rounding.
func ThinSVD(w *ts.Tensor) (SVD, error) {
	size := w.MustSize()
	if len(size) != 2 {
		return SVD{}, fmt.Errorf("linalg: SVD of a %d-D tensor %v, want a matrix", len(size), size)
	}
	w64 := w.MustTotype(gotch.Double, false)
	defer w64.MustDrop()
	// torch.svd(some=true) is the thin SVD and returns V itself. (gotch passes
	// linalg_svd's optional driver as a string, which the CPU backend rejects.)
	u, s, v, err := w64.Svd(true, true, false)
	if err != nil {
		return SVD{}, fmt.Errorf("linalg: SVD of %v matrix: %w", size, err)
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
	w64 := w.MustTotype(gotch.Double, false)
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
