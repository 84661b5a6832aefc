package train

import (
	"math"

	lib "github.com/sugarme/gotch/libtch"
)

// GradNorm is the global L2 norm of the gradients of the trained parameters (those
// with a gradient and requires_grad; AVF-frozen ones neither count nor get scaled).
// It is summed on the host in float64 from each gradient's norm, which differs from
// torch's float32 stack-and-norm only in the last bits.
func GradNorm(params []Param) float64 {
	var sumSq float64
	eachGrad(params, func(g cTensor) {
		n := norm(g)
		sumSq += n * n
	})
	return math.Sqrt(sumSq)
}

// ClipGradNorm scales every gradient so that their global L2 norm is at most maxNorm,
// as torch.nn.utils.clip_grad_norm_: coef = maxNorm/(norm + 1e-6), clamped to 1. It
// returns the norm before clipping.
func ClipGradNorm(params []Param, maxNorm float64) float64 {
	total := GradNorm(params)
	clipTo(params, maxNorm, total)
	return total
}

// clipTo scales the gradients whose global norm is total to at most maxNorm.
func clipTo(params []Param, maxNorm, total float64) {
	coef := maxNorm / (total + 1e-6)
	if coef >= 1 { // torch multiplies by the clamped 1 too; skipping it changes nothing
		return
	}
	eachGrad(params, func(g cTensor) { mulScalar_(g, coef) })
}

// eachGrad calls f on the gradient of every trained parameter, under no-grad.
func eachGrad(params []Param, f func(g cTensor)) {
	noGrad(func() {
		for _, p := range params {
			if g, ok := trainedGrad(p.T); ok {
				f(g)
				lib.AtFree(g)
			}
		}
	})
}

// allParams flattens the groups' parameters.
func allParams(groups []Group) []Param {
	var ps []Param
	for _, g := range groups {
		ps = append(ps, g.Params...)
	}
	return ps
}
