package torchx

/*
#include <stdint.h>
#include <stdbool.h>
// libtorch's autocast switches (ATen/autocast_mode.h) are C++ functions that neither
// gotch's C API nor its Go layer wrap. They are plain functions of bools, ints and
// c10::ScalarType (an enum class over int8_t), so C can call them by their mangled
// names (nm -D libtorch_cpu.so of torch 2.1.0); the Itanium C++ ABI passes bool and
// int8_t as C passes _Bool and int8_t. Weak, as the references above, so that a
// libtorch without them leaves the pointers nil instead of failing to load.
extern bool ac_is_enabled(void) __asm__("_ZN2at8autocast10is_enabledEv") __attribute__((weak));
extern void ac_set_enabled(bool) __asm__("_ZN2at8autocast11set_enabledEb") __attribute__((weak));
extern bool ac_is_cpu_enabled(void) __asm__("_ZN2at8autocast14is_cpu_enabledEv") __attribute__((weak));
extern void ac_set_cpu_enabled(bool) __asm__("_ZN2at8autocast15set_cpu_enabledEb") __attribute__((weak));
extern int8_t ac_get_gpu_dtype(void) __asm__("_ZN2at8autocast22get_autocast_gpu_dtypeEv") __attribute__((weak));
extern int8_t ac_get_cpu_dtype(void) __asm__("_ZN2at8autocast22get_autocast_cpu_dtypeEv") __attribute__((weak));
extern void ac_set_gpu_dtype(int8_t) __asm__("_ZN2at8autocast22set_autocast_gpu_dtypeEN3c1010ScalarTypeE") __attribute__((weak));
extern void ac_set_cpu_dtype(int8_t) __asm__("_ZN2at8autocast22set_autocast_cpu_dtypeEN3c1010ScalarTypeE") __attribute__((weak));
extern int ac_increment_nesting(void) __asm__("_ZN2at8autocast17increment_nestingEv") __attribute__((weak));
extern int ac_decrement_nesting(void) __asm__("_ZN2at8autocast17decrement_nestingEv") __attribute__((weak));
extern void ac_clear_cache(void) __asm__("_ZN2at8autocast11clear_cacheEv") __attribute__((weak));

static int ac_linked(void) {
	return ac_is_enabled && ac_set_enabled && ac_is_cpu_enabled && ac_set_cpu_enabled &&
		ac_get_gpu_dtype && ac_get_cpu_dtype && ac_set_gpu_dtype && ac_set_cpu_dtype &&
		ac_increment_nesting && ac_decrement_nesting && ac_clear_cache;
}

// ac_state is one device's autocast switch and dtype.
static void ac_get(int cuda, int *on, int8_t *dtype) {
	*on = cuda ? ac_is_enabled() : ac_is_cpu_enabled();
	*dtype = cuda ? ac_get_gpu_dtype() : ac_get_cpu_dtype();
}
static void ac_set(int cuda, int on, int8_t dtype) {
	if (cuda) { ac_set_gpu_dtype(dtype); ac_set_enabled(on); }
	else { ac_set_cpu_dtype(dtype); ac_set_cpu_enabled(on); }
}
static void ac_enter(void) { ac_increment_nesting(); }
static void ac_exit(void) { if (ac_decrement_nesting() == 0) ac_clear_cache(); }
*/
import "C"

import (
	"fmt"

	"github.com/sugarme/gotch"
)

// c10::ScalarType codes (c10/core/ScalarType.h) of the dtypes autocast runs in.
const (
	scalarHalf     = 5
	scalarFloat    = 6
	scalarBFloat16 = 15
)

func scalarType(dt gotch.DType) (C.int8_t, error) {
	switch dt {
	case gotch.Half:
		return scalarHalf, nil
	case gotch.BFloat16:
		return scalarBFloat16, nil
	}
	return 0, fmt.Errorf("torchx: autocast runs in float16 or bfloat16, not %v", dt)
}

// AutocastAvailable says whether this libtorch exports the autocast switches.
func AutocastAvailable() bool { return C.ac_linked() != 0 }

// CheckAutocast says whether autocast in dt is offered on the device (cuda: a CUDA
// device, else the CPU). libtorch 2.1's CPU autocast runs in bfloat16 only: with
// float16 it warns and disables itself, so asking for it is an error here.
func CheckAutocast(cuda bool, dt gotch.DType) error {
	if _, err := scalarType(dt); err != nil {
		return err
	}
	if !AutocastAvailable() {
		return fmt.Errorf("torchx: this libtorch does not export at::autocast (want libtorch 2.1's autocast_mode.h)")
	}
	if !cuda && dt != gotch.BFloat16 {
		return fmt.Errorf("torchx: autocast on the CPU runs in bfloat16 only (libtorch 2.1 disables CPU autocast for %v); use -dtype bfloat16 or float32, or a CUDA device", dt)
	}
	return nil
}

// Autocast runs f with autocast on for the device in dt, as `with torch.autocast(device,
// dtype)`: eligible ops (matmul, linear, conv, ...) run in dt, the parameters stay as
// they are (float32 master weights), and the previous state is restored after f, even
// when f panics. The state is thread-local in libtorch: the caller pins its goroutine
// to an OS thread (runtime.LockOSThread) across f.
func Autocast(cuda bool, dt gotch.DType, f func()) error {
	if err := CheckAutocast(cuda, dt); err != nil {
		return err
	}
	code, _ := scalarType(dt)
	dev := C.int(0)
	if cuda {
		dev = 1
	}
	var on C.int
	var prev C.int8_t
	C.ac_get(dev, &on, &prev)
	C.ac_set(dev, 1, code)
	C.ac_enter()
	defer func() {
		// torch.autocast.__exit__: the weight-cast cache lives as long as the outermost
		// autocast region.
		C.ac_exit()
		C.ac_set(dev, on, prev)
	}()
	f()
	return nil
}

// AutocastEnabled reports whether autocast is on for the device on this thread.
func AutocastEnabled(cuda bool) bool {
	if !AutocastAvailable() {
		return false
	}
	var on C.int
	var dt C.int8_t
	dev := C.int(0)
	if cuda {
		dev = 1
	}
	C.ac_get(dev, &on, &dt)
	return on != 0
}
