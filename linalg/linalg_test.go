package linalg

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
	"gonum.org/v1/gonum/mat"
)

func randomMatrix(rows, cols int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float64, rows*cols)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	return x
}

// Toolchain check: a float64 SVD through libtorch reconstructs its matrix to 1e-10 and its
// singular values equal gonum's (LAPACK in pure Go), an independent implementation.
func TestThinSVDReconstructsAndMatchesGonum(t *testing.T) {
	const rows, cols = 64, 48
	data := randomMatrix(rows, cols, 42)
	w := ts.MustOfSlice(data).MustView([]int64{rows, cols}, true)
	defer w.MustDrop()

	d, err := ThinSVD(w)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Drop()
	if got := d.U.MustSize(); got[0] != rows || got[1] != cols {
		t.Fatalf("U is %v, want [%d %d]", got, rows, cols)
	}
	if got := d.V.MustSize(); got[0] != cols || got[1] != cols {
		t.Fatalf("V is %v, want [%d %d]", got, cols, cols)
	}

	// U · diag(S) · Vᵀ
	us := d.U.MustMul(d.S, false)
	back := us.MustMatmul(d.V.MustT(false), true)
	defer back.MustDrop()
	rec := back.Float64Values()
	worst := 0.0
	for i := range data {
		worst = max(worst, math.Abs(rec[i]-data[i]))
	}
	if worst > 1e-10 {
		t.Errorf("max |U diag(S) Vᵀ − W| = %g, want ≤ 1e-10", worst)
	}

	var ref mat.SVD
	if !ref.Factorize(mat.NewDense(rows, cols, data), mat.SVDThin) {
		t.Fatal("gonum SVD did not converge")
	}
	want := ref.Values(nil)
	got := d.S.Float64Values()
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-10*want[0] {
			t.Errorf("σ%d = %.15g, gonum says %.15g", i, got[i], want[i])
		}
	}
	sv, err := SingularValues(w)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if math.Abs(sv[i]-want[i]) > 1e-10*want[0] {
			t.Errorf("SingularValues()[%d] = %.15g, gonum says %.15g", i, sv[i], want[i])
		}
	}
}

// Toolchain check: autograd through matmul gives the analytic gradient. For
// L = Σ (A·B)ᵢⱼ · Cᵢⱼ, ∂L/∂A = C · Bᵀ and ∂L/∂B = Aᵀ · C, computed here by hand in Go.
func TestMatmulBackwardIsAnalytic(t *testing.T) {
	const n, k, m = 3, 4, 2
	a := randomMatrix(n, k, 1)
	b := randomMatrix(k, m, 2)
	c := randomMatrix(n, m, 3)
	ta := ts.MustOfSlice(a).MustView([]int64{n, k}, true).MustSetRequiresGrad(true, true)
	tb := ts.MustOfSlice(b).MustView([]int64{k, m}, true).MustSetRequiresGrad(true, true)
	tc := ts.MustOfSlice(c).MustView([]int64{n, m}, true)
	loss := ta.MustMatmul(tb, false).MustMul(tc, true).MustSum(gotch.Double, true)
	loss.MustBackward()

	gotA := ta.MustGrad(false).Float64Values()
	gotB := tb.MustGrad(false).Float64Values()
	for i := range n {
		for j := range k {
			want := 0.0
			for l := range m {
				want += c[i*m+l] * b[j*m+l]
			}
			if got := gotA[i*k+j]; math.Abs(got-want) > 1e-12 {
				t.Errorf("dL/dA[%d,%d] = %g, want %g", i, j, got, want)
			}
		}
	}
	for j := range k {
		for l := range m {
			want := 0.0
			for i := range n {
				want += a[i*k+j] * c[i*m+l]
			}
			if got := gotB[j*m+l]; math.Abs(got-want) > 1e-12 {
				t.Errorf("dL/dB[%d,%d] = %g, want %g", j, l, got, want)
			}
		}
	}
}

func TestRankAndEffectiveRank(t *testing.T) {
	tests := []struct {
		name    string
		sv      []float64
		out, in int
		rank    int
		effRank float64
	}{
		{"zero matrix", []float64{0, 0, 0}, 3, 3, 0, 0},
		{"one direction", []float64{2, 0, 0}, 3, 3, 1, 1},
		{"all equal", []float64{1, 1, 1, 1}, 4, 4, 4, 4},
		// tol = 1 · 1000 · 2⁻²³ ≈ 1.19e-4: 2e-4 counts, 1e-4 does not.
		{"threshold", []float64{1, 2e-4, 1e-4}, 1000, 3, 2, math.Exp(-(entropyTerm(1/1.0003) + entropyTerm(2e-4/1.0003) + entropyTerm(1e-4/1.0003)))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Rank(tt.sv, tt.out, tt.in); got != tt.rank {
				t.Errorf("Rank = %d, want %d", got, tt.rank)
			}
			if got := EffectiveRank(tt.sv); math.Abs(got-tt.effRank) > 1e-12 {
				t.Errorf("EffectiveRank = %.15g, want %.15g", got, tt.effRank)
			}
		})
	}
}

func entropyTerm(p float64) float64 { return p * math.Log(p) }

// -svd-device: both settings are accepted and give the same float64 factors of a CPU
// matrix (on the CPU there is nothing to move); anything else is refused.
func TestSetSVDDevice(t *testing.T) {
	defer SetSVDDevice(SVDOnCPU)
	w := ts.MustOfSlice([]float32{3, 0, 0, 4, 0, 0}).MustView([]int64{3, 2}, true)
	defer w.MustDrop()
	for _, where := range []string{SVDOnCPU, SVDOnSame} {
		if err := SetSVDDevice(where); err != nil || SVDDevice() != where {
			t.Fatalf("SetSVDDevice(%q) = %v, SVDDevice() = %q", where, err, SVDDevice())
		}
		d, err := ThinSVD(w)
		if err != nil {
			t.Fatal(err)
		}
		if s := d.S.Float64Values(); d.S.DType() != gotch.Double || d.S.MustDevice().IsCuda() || s[0] != 4 || s[1] != 3 {
			t.Errorf("%s: S = %v (%v on %v), want [4 3] float64 on the CPU", where, s, d.S.DType(), d.S.MustDevice())
		}
		d.Drop()
	}
	err := SetSVDDevice("gpu")
	if err == nil || err.Error() != `linalg: SVD device "gpu", want "cpu" or "same"` {
		t.Errorf("SetSVDDevice(gpu) = %v", err)
	}
}
