package train

import (
	"math"

	lib "github.com/sugarme/gotch/libtch"
)

// ClipGradNorm scales every gradient so that their global L2 norm is at most maxNorm,
// as torch.nn.utils.clip_grad_norm_: coef = maxNorm/(norm + 1e-6), clamped to 1. It
// returns the norm before clipping. Parameters without a gradient or with
// requires_grad == false (frozen by AVF) neither count nor get scaled.
//
// The global norm is summed on the host in float64 from each gradient's norm, which
// differs from torch's float32 stack-and-norm only in the last bits.
func ClipGradNorm(params []Param, maxNorm float64) float64 {
	var total float64
	noGrad(func() {
		var grads []cTensor
		defer func() {
			for _, g := range grads {
				lib.AtFree(g)
			}
		}()
		var sumSq float64
		for _, p := range params {
			if g, ok := trainedGrad(p.T); ok {
				grads = append(grads, g)
				n := norm(g)
				sumSq += n * n
			}
		}
		total = math.Sqrt(sumSq)
		coef := maxNorm / (total + 1e-6)
		if coef < 1 { // torch multiplies by the clamped 1 too; skipping it changes nothing
			for _, g := range grads {
				mulScalar_(g, coef)
			}
		}
	})
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
