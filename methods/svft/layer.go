package svft

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/linalg"
	"github.com/vectorfit/harness/models"
)

// Layer is one SVFT-adapted linear: y = x·W0ᵀ + b + (x·V)·(g·M)ᵀ·Uᵀ, with
// W0 = U·diag(σ)·Vᵀ the thin SVD of the pre-trained weight, M the n×n sparse matrix
// with values s at the fixed positions (rows[e], cols[e]) (repeated positions add up,
// as torch_sparse coalesces them), and g = sigmoid(gate) the official code's gate.
type Layer struct {
	linear     *models.Linear
	U, V       *ts.Tensor // frozen singular vectors, out×n and in×n, model dtype
	Ut         *ts.Tensor // Uᵀ (a view, made once)
	rows, cols *ts.Tensor // int64, length k: M's fixed positions
	flat       *ts.Tensor // rows·n + cols, for the dense M
	diagonal   bool       // rows = cols = 0..n−1: M·z is an elementwise product
	s          *ts.Tensor // trainable values of M, length k
	gate       *ts.Tensor // trainable scalar (shape [1]), scales M by sigmoid(gate)
	bias       *ts.Tensor
	forward    string
}

// positions returns M's fixed positions for an n×n matrix, as the official SVFTLayer
// builds them; coeffs supplies top_k's scores (u, v in the model's dtype).
func positions(pattern string, n, d int64, rng *rand.Rand, coeffs func() *ts.Tensor) (rows, cols []int64) {
	k := nonzeros(n, d)
	switch pattern {
	case Plain, Banded:
		// torch.sparse.spdiags(..., offsets 0..d and −1..−d).coalesce(): the band,
		// in row-major order.
		for i := int64(0); i < n; i++ {
			for j := max(0, i-d); j <= min(n-1, i+d); j++ {
				rows, cols = append(rows, i), append(cols, j)
			}
		}
	case Random:
		// torch.randint(0, n, (k,)) for the rows, then for the columns: k positions
		// anywhere in M, drawn with replacement (a repeat adds up, like the official
		// SparseTensor sum).
		rows, cols = make([]int64, k), make([]int64, k)
		for e := range rows {
			rows[e] = rng.Int64N(n)
		}
		for e := range cols {
			cols[e] = rng.Int64N(n)
		}
	case TopK:
		c := coeffs()
		flat := c.MustView([]int64{-1}, true)
		vals, idx := flat.MustTopk(k, 0, true, true, true)
		vals.MustDrop()
		for _, f := range idx.Int64Values(true) {
			rows, cols = append(rows, f/n), append(cols, f%n)
		}
	}
	return rows, cols
}

// nonzeros is the official k = n·(2d+1) − d·(d+1): the size of the band of half-width d
// in an n×n matrix. d is clamped to n−1, where the band is the whole matrix.
func nonzeros(n, d int64) int64 {
	d = min(d, n-1)
	return n*(2*d+1) - d*(d+1)
}

// topKScores is the official code's score matrix. For a square W it is u @ v.T with
// u = U and v = torch.linalg.svd's Vh = Vᵀ, i.e. the product U·V (entry (i, j) is row i
// of U times column j of V; not the paper's alignment u_iᵀv_j = (Uᵀ·V)_ij, but the code
// produced the paper's numbers). Otherwise it is whichever of U (out < in) and Vᵀ
// (in < out) is square. Scores are signed: topk takes the largest, not the largest |·|.
func topKScores(u, v *ts.Tensor) *ts.Tensor {
	out, in := u.MustSize()[0], v.MustSize()[0]
	switch {
	case out == in:
		return u.MustMatmul(v, false)
	case out < in:
		return u.MustContiguous(false)
	default:
		return v.MustT(false).MustContiguous(true)
	}
}

// newLayer decomposes l's weight in float64 (as VectorFit does), casts the factors to
// the model's dtype, fixes M's pattern and takes over l's forward pass.
func newLayer(l *models.Linear, cfg Config, pattern *rand.Rand, init *rand.Rand) (*Layer, error) {
	svd, err := linalg.ThinSVD(l.Weight)
	if err != nil {
		return nil, fmt.Errorf("svft: %s: %w", l.Name, err)
	}
	defer svd.Drop()
	dtype, dev := l.Weight.DType(), l.Weight.MustDevice()
	ly := &Layer{
		linear:  l,
		U:       svd.U.MustTotype(dtype, false),
		V:       svd.V.MustTotype(dtype, false),
		bias:    l.Bias,
		forward: cfg.Forward,
	}
	ly.Ut = ly.U.MustT(false)
	n := svd.S.MustSize()[0]
	rows, cols := positions(cfg.Pattern, n, cfg.OffDiag, pattern, func() *ts.Tensor { return topKScores(ly.U, ly.V) })
	ly.setPattern(rows, cols)
	k := int64(len(rows))
	switch cfg.Init {
	case Kaiming:
		// kaiming_normal_(s[None, :]): fan_in = k, gain √2, so std = √(2/k).
		ly.s = models.Normal(init, math.Sqrt(2/float64(k)), k).MustTotype(dtype, true)
	default:
		ly.s = ts.MustZeros([]int64{k}, dtype, gotch.CPU)
	}
	ly.s = ly.s.MustTo(dev, true)
	ly.gate = ts.MustZeros([]int64{1}, dtype, dev)
	ly.s.MustRequiresGrad_(true)
	ly.gate.MustRequiresGrad_(true)
	if l.Bias != nil {
		l.Bias.MustRequiresGrad_(cfg.TrainBias)
	}
	l.Adapter = ly
	return ly, nil
}

// setPattern fixes M's positions (also used by tests to load a reference's pattern).
func (ly *Layer) setPattern(rows, cols []int64) {
	for _, t := range []*ts.Tensor{ly.rows, ly.cols, ly.flat} {
		if t != nil {
			t.MustDrop()
		}
	}
	n := ly.rank()
	dev := ly.U.MustDevice()
	flat := make([]int64, len(rows))
	ly.diagonal = int64(len(rows)) == n
	for e := range rows {
		flat[e] = rows[e]*n + cols[e]
		ly.diagonal = ly.diagonal && rows[e] == int64(e) && cols[e] == int64(e)
	}
	ly.rows = ts.MustOfSlice(rows).MustTo(dev, true)
	ly.cols = ts.MustOfSlice(cols).MustTo(dev, true)
	ly.flat = ts.MustOfSlice(flat).MustTo(dev, true)
}

// rank is n = min(out, in).
func (ly *Layer) rank() int64 { return ly.U.MustSize()[1] }

// values are g·s, the entries of the gated M, with the graph to s and gate.
func (ly *Layer) values() *ts.Tensor {
	g := ly.gate.MustSigmoid(false)
	v := ly.s.MustMul(g, false)
	g.MustDrop()
	return v
}

// denseM scatters vals into an n×n matrix (repeats add up).
func (ly *Layer) denseM(vals *ts.Tensor) *ts.Tensor {
	n := ly.rank()
	z := ts.MustZeros([]int64{n * n}, vals.DType(), vals.MustDevice())
	m := z.MustIndexAdd(0, ly.flat, vals, true)
	return m.MustView([]int64{n, n}, true)
}

// Forward implements models.Forwarder: the base layer plus the SVFT path, whose cost is
// O(tokens·(in+out)·n) plus O(tokens·k) (sparse) or O(tokens·n²) (dense M).
func (ly *Layer) Forward(x *ts.Tensor, _ bool) *ts.Tensor {
	base := models.Dense(x, ly.linear.Weight, ly.bias)
	vals := ly.values()
	xv := x.MustMatmul(ly.V, false) // … × n
	z := ly.mix(xv, vals)           // (x·V)·Mᵀ
	xv.MustDrop()
	vals.MustDrop()
	y := z.MustMatmul(ly.Ut, true)
	out := base.MustAdd(y, true)
	y.MustDrop()
	return out
}

// mix is z·Mᵀ for the rows z of xv: (z·Mᵀ)_i = Σ_e [rows_e = i]·vals_e·z_{cols_e}.
func (ly *Layer) mix(xv, vals *ts.Tensor) *ts.Tensor {
	if ly.diagonal {
		return xv.MustMul(vals, false)
	}
	if ly.useSparse() {
		// Along dim 0 of (x·V)ᵀ, so that every gathered and scattered slice is a
		// contiguous row of tokens (along the last dim libtorch's index ops are several
		// times slower).
		size := xv.MustSize()
		n := size[len(size)-1]
		zt := xv.MustReshape([]int64{-1, n}, false).MustT(true).MustContiguous(true) // n × tokens
		g := zt.MustIndexSelect(0, ly.cols, false)                                   // k × tokens
		col := vals.MustUnsqueeze(1, false)
		g = g.MustMul(col, true)
		col.MustDrop()
		z := zt.MustZerosLike(true)
		out := z.MustIndexAdd(0, ly.rows, g, true)
		g.MustDrop()
		return out.MustT(true).MustReshape(size, true)
	}
	m := ly.denseM(vals)
	defer m.MustDrop()
	mt := m.MustT(false)
	defer mt.MustDrop()
	return xv.MustMatmul(mt, false)
}

// useSparse picks gather/scatter over a dense n×n M. By operation count the sparse path
// (k per token against n²) wins whenever 2d+1 < n, but libtorch 2.1's CPU index_select/
// index_add (and their backward) are so much slower per element than a BLAS matmul that,
// measured on a 768×768 layer with 1024 tokens (forward + backward), the dense M was
// 3–6× faster at d = 2 and d = 16. So Auto builds M densely; Sparse remains for very
// large n and for tests.
func (ly *Layer) useSparse() bool { return ly.forward == Sparse }

// delta is ΔW = U·(g·M)·Vᵀ in float64: the adapted weight minus the pre-trained one.
func (ly *Layer) delta() *ts.Tensor {
	var m *ts.Tensor
	models.NoGrad(func() {
		vals := ly.values()
		v64 := vals.MustTotype(gotch.Double, true)
		m = ly.denseM(v64)
		v64.MustDrop()
	})
	u := ly.U.MustTotype(gotch.Double, false)
	vt := ly.V.MustTotype(gotch.Double, false).MustT(true)
	defer vt.MustDrop()
	um := u.MustMatmul(m, true)
	m.MustDrop()
	return um.MustMatmul(vt, true)
}

// Positions returns M's fixed positions (for tests and reports).
func (ly *Layer) Positions() (rows, cols []int64) {
	return ly.rows.Int64Values(false), ly.cols.Int64Values(false)
}

// Values returns M's trainable values s, and Gate the trainable gate.
func (ly *Layer) Values() *ts.Tensor { return ly.s }

// Gate returns the trainable gate; M is scaled by sigmoid(gate).
func (ly *Layer) Gate() *ts.Tensor { return ly.gate }
