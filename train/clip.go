package train

import (
	"math"

	"github.com/sugarme/gotch/ts"
)

// ClipGradNorm scales every gradient so that their global L2 norm is at most maxNorm,
// as torch.nn.utils.clip_grad_norm_: coef = maxNorm/(norm + 1e-6), clamped to 1. It
// returns the norm before clipping. Parameters without a gradient or with
// requires_grad == false (frozen by AVF) neither count nor get scaled.
//
// The global norm is summed on the host in float64 from each gradient's norm, which
// differs from torch's float32 stack-and-norm only in the last bits.
func ClipGradNorm(params []Param, maxNorm float64) float64 {
	var grads []*ts.Tensor
	defer func() {
		for _, g := range grads {
			g.MustDrop()
		}
	}()
	var sumSq float64
	noGrad(func() {
		for _, p := range params {
			g, ok := gradOf(p.T)
			if !ok {
				continue
			}
			grads = append(grads, g)
			n := g.MustNorm(false)
			norm := n.MustFloat64Value([]int64{})
			n.MustDrop()
			sumSq += norm * norm
		}
	})
	total := math.Sqrt(sumSq)
	coef := maxNorm / (total + 1e-6)
	if coef < 1 {
		noGrad(func() {
			for _, g := range grads {
				g.MustMulScalar_(ts.FloatScalar(coef))
			}
		})
	}
	return total
}

// allParams flattens the groups' parameters.
func allParams(groups []Group) []Param {
	var ps []Param
	for _, g := range groups {
		ps = append(ps, g.Params...)
	}
	return ps
}
