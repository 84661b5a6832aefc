package scheduler

import (
	"fmt"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// mul is x · c. The float32 coefficient reaches libtorch as a double holding a float32
// value, which the float32 kernel reads back exactly: the same product as diffusers'
// 0-dim float32 tensor times x.
func mul(x *ts.Tensor, c float32) *ts.Tensor {
	return x.MustMulScalar(ts.FloatScalar(float64(c)), false)
}

// div is x / c (true division, as diffusers divides by a 0-dim tensor).
func div(x *ts.Tensor, c float32) *ts.Tensor {
	return x.MustDivScalar(ts.FloatScalar(float64(c)), false)
}

// axpby is a·x + b·y, evaluated as diffusers writes it: both products, then the sum.
func axpby(a float32, x *ts.Tensor, b float32, y *ts.Tensor) *ts.Tensor {
	ax, by := mul(x, a), mul(y, b)
	defer ax.MustDrop()
	defer by.MustDrop()
	return ax.MustAdd(by, false)
}

// isFloat reports whether d is a floating-point dtype.
func isFloat(d gotch.DType) bool {
	return d == gotch.Float || d == gotch.Double || d == gotch.Half || d == gotch.BFloat16
}

// checkLike refuses a tensor that cannot be combined elementwise with sample: it must
// be defined, floating point, of the same shape and on the same device.
func checkLike(what string, x, sample *ts.Tensor) error {
	if x == nil || !x.MustDefined() {
		return fmt.Errorf("scheduler: %s is missing", what)
	}
	if !isFloat(x.DType()) {
		return fmt.Errorf("scheduler: %s has dtype %v (want a floating-point tensor)", what, x.DType())
	}
	if xs, ss := x.MustSize(), sample.MustSize(); !slices.Equal(xs, ss) {
		return fmt.Errorf("scheduler: %s has shape %v, the sample %v (want equal)", what, xs, ss)
	}
	if x.MustDevice() != sample.MustDevice() {
		return fmt.Errorf("scheduler: %s is on %v, the sample on %v", what, x.MustDevice(), sample.MustDevice())
	}
	return nil
}

// checkSample refuses an unusable sample.
func checkSample(sample *ts.Tensor) error {
	if sample == nil || !sample.MustDefined() {
		return fmt.Errorf("scheduler: sample is missing")
	}
	if !isFloat(sample.DType()) {
		return fmt.Errorf("scheduler: sample has dtype %v (want a floating-point tensor)", sample.DType())
	}
	return nil
}
