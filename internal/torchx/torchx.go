// Package torchx reaches the few libtorch entry points that gotch v0.9.1 compiles into
// its C API (libtch/torch_api.cpp) but does not wrap in Go: the global RNG seed and the
// intra-op thread count. Seeding libtorch's generator is what makes dropout and
// torch-side random initialisation repeatable for a given -seed.
package torchx

/*
#include <malloc.h>
#include <stdint.h>
// Weak references: resolved at the final link to gotch's definitions (extern "C" in
// libtch/torch_api.h). Weak so that this package's own cgo link step, which does not see
// libtch's objects, does not fail on them.
extern void at_manual_seed(int64_t) __attribute__((weak));
extern void at_set_num_threads(int) __attribute__((weak));
extern int at_get_num_threads(void) __attribute__((weak));
extern int at_grad_set_enabled(int) __attribute__((weak));

static int torchx_linked(void) {
	return at_manual_seed != 0 && at_set_num_threads != 0 && at_get_num_threads != 0 && at_grad_set_enabled != 0;
}
static int torchx_set_grad(int on) { return at_grad_set_enabled(on); }
static void torchx_seed(int64_t s) { at_manual_seed(s); }
static void torchx_set_threads(int n) { at_set_num_threads(n); }
static int torchx_threads(void) { return at_get_num_threads(); }
static void torchx_limit_arenas(void) { mallopt(M_ARENA_MAX, 2); }
*/
import "C"

import (
	_ "github.com/sugarme/gotch/libtch" // links torch_api.cpp, which defines the symbols above
)

// init caps glibc's malloc arenas at 2. libtorch allocates from many threads; with one
// arena per thread, freed tensor memory is not reused across arenas, and building a few
// large models in one process (a benchmark, a multi-method run) grew by ~6 GB per model
// (the same effect as MALLOC_ARENA_MAX=2).
func init() { C.torchx_limit_arenas() }

func linked() {
	if C.torchx_linked() == 0 {
		// Cannot happen while libtch is imported above; a loud stop beats a silent no-op seed.
		panic("torchx: gotch's libtch C API is not linked into this binary")
	}
}

// ManualSeed seeds libtorch's default CPU (and CUDA) generators, as torch.manual_seed.
func ManualSeed(seed int64) {
	linked()
	C.torchx_seed(C.int64_t(seed))
}

// SetGradEnabled switches autograd on or off for the calling OS thread and returns the
// previous state. (gotch's ts.GradSetEnabled reads the C int result as a Go int, 8
// bytes, and so always reports false: restoring "the previous state" with it leaves
// autograd off.) Callers pin the goroutine with runtime.LockOSThread: the mode is
// thread-local in libtorch.
func SetGradEnabled(on bool) bool {
	linked()
	arg := C.int(0)
	if on {
		arg = 1
	}
	return C.torchx_set_grad(arg) == 1
}

// SetNumThreads sets libtorch's intra-op thread count.
func SetNumThreads(n int) {
	linked()
	C.torchx_set_threads(C.int(n))
}

// NumThreads returns libtorch's intra-op thread count.
func NumThreads() int {
	linked()
	return int(C.torchx_threads())
}
