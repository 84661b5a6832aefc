package torchx

/*
// at::_ops::addcmul_::call and addcdiv_::call (torch 2.1.0's libtorch_cpu.so) take
// (at::Tensor& self, const at::Tensor& t1, const at::Tensor& t2, const c10::Scalar&
// value) and return self. gotch's C API drops the value argument. A reference is passed
// as a pointer, and gotch's handles are exactly pointers to at::Tensor and c10::Scalar
// (libtch/torch_api.h: typedef torch::Tensor *tensor), so C calls them by their mangled
// names as autocast.go does. Weak, so a libtorch without them leaves them nil.
extern void *pw_addcmul_(void *self, void *t1, void *t2, void *value) __asm__("_ZN2at4_ops8addcmul_4callERNS_6TensorERKS2_S5_RKN3c106ScalarE") __attribute__((weak));
extern void *pw_addcdiv_(void *self, void *t1, void *t2, void *value) __asm__("_ZN2at4_ops8addcdiv_4callERNS_6TensorERKS2_S5_RKN3c106ScalarE") __attribute__((weak));

static int pw_linked(void) { return pw_addcmul_ && pw_addcdiv_; }
static void pw_call(int div, void *self, void *t1, void *t2, void *value) {
	if (div) pw_addcdiv_(self, t1, t2, value);
	else pw_addcmul_(self, t1, t2, value);
}
*/
import "C"

import (
	"fmt"
	"math"
	"unsafe"

	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"
)

// Addcmul_ is torch's self.addcmul_(t1, t2, value=v): self ← self + v·t1·t2, in place
// on self's storage (no new handle, nothing to free), without the temporary v·t1 that
// gotch's value-less addcmul_ needs. The kernel computes (v·t1)·t2, as that temporary
// did. Shapes and dtypes must agree: libtorch's error would be a C++ exception, which C
// cannot catch, so callers pass only their own consistent tensors (the optimizer's).
func Addcmul_(self, t1, t2 lib.Ctensor, v float64) {
	pointwise(0, self, t1, t2, v)
}

// Addcdiv_ is torch's self.addcdiv_(t1, t2, value=v): self ← self + v·t1/t2, as
// Addcmul_.
func Addcdiv_(self, t1, t2 lib.Ctensor, v float64) {
	pointwise(1, self, t1, t2, v)
}

// PointwiseLinked reports whether libtorch has the value-taking addcmul_/addcdiv_.
func PointwiseLinked() bool { return C.pw_linked() != 0 }

// pointwise calls addcdiv_ (div 1) or addcmul_ (div 0).
//
// libtorch refuses (by a C++ exception, fatal here) a finite value that overflows the
// tensor's dtype, e.g. a step size of 1e40 on float32 where the scaled copy would hold
// inf. Such values (beyond float16's 65504; the optimizer's are ~1e-3) take that copy:
// v·t1 first, then the value-less op, as before.
func pointwise(div C.int, self, t1, t2 lib.Ctensor, v float64) {
	if !PointwiseLinked() {
		panic("torchx: libtorch has no at::_ops::addcmul_/addcdiv_ (not torch 2.1?)")
	}
	s := lib.AtsFloat(v)
	defer lib.AtsFree(s)
	if math.Abs(v) <= 65504 || math.IsInf(v, 0) || math.IsNaN(v) {
		C.pw_call(div, unsafe.Pointer(self), unsafe.Pointer(t1), unsafe.Pointer(t2), unsafe.Pointer(s))
		return
	}
	var scaled, out lib.Ctensor
	lib.AtgMulScalar(&scaled, t1, s)
	must()
	if div == 1 {
		lib.AtgAddcdiv_(&out, self, scaled, t2)
	} else {
		lib.AtgAddcmul_(&out, self, scaled, t2)
	}
	must()
	lib.AtFree(out)
	lib.AtFree(scaled)
}

func must() {
	if err := ts.TorchErr(); err != nil {
		panic(fmt.Sprintf("torchx: libtorch: %v", err))
	}
}
