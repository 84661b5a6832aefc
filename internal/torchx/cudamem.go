package torchx

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

// cudamem_used asks the CUDA runtime already loaded into this process how much of
// device dev is in use, total − free, in bytes, if libtorch's CUDA backend (gate) is
// loaded too. RTLD_NOLOAD never loads a library: in a CPU build, where gate is absent,
// it returns -1 and calls nothing. (The PyPI wheel's libtorch_cpu.so itself links
// libcudart.so.12, for its profiler, so the runtime alone does not mean a CUDA build.)
// The current device is restored after the query.
// Returns -1 (not a CUDA build), -2 (symbols missing) or -3 (a CUDA error).
static long long cudamem_used(int dev, const char *gate, const char *lib) {
	void *g = dlopen(gate, RTLD_LAZY | RTLD_NOLOAD);
	if (!g) return -1;
	dlclose(g);
	void *h = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);
	if (!h) return -1;
	int (*getinfo)(size_t*, size_t*) = (int (*)(size_t*, size_t*))dlsym(h, "cudaMemGetInfo");
	int (*getdev)(int*) = (int (*)(int*))dlsym(h, "cudaGetDevice");
	int (*setdev)(int) = (int (*)(int))dlsym(h, "cudaSetDevice");
	long long r = -2;
	if (getinfo && getdev && setdev) {
		int prev = 0;
		size_t freeb = 0, total = 0;
		r = -3;
		if (getdev(&prev) == 0 && setdev(dev) == 0) {
			if (getinfo(&freeb, &total) == 0) r = (long long)(total - freeb);
			setdev(prev);
		}
	}
	dlclose(h); // drops the reference RTLD_NOLOAD took; the library stays loaded
	return r;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/sugarme/gotch"
)

// cudaRuntime is the CUDA runtime torch 2.1.0's CUDA 12.1 build links
// (nvidia-cuda-runtime-cu12); cudaBackend is libtorch's CUDA library, loaded only by a
// build linked with CUDA=1.
const (
	cudaRuntime = "libcudart.so.12"
	cudaBackend = "libc10_cuda.so"
)

// DeviceMemorySource names how DeviceMemoryUsed measures, for the record.
const DeviceMemorySource = "cudaMemGetInfo (total − free of the device, via the loaded libcudart.so.12): includes libtorch's caching-allocator reserve, the CUDA context and other processes on the device"

// DeviceMemoryUsed is the memory in use on CUDA device dev (total − free), in bytes.
// ok is false, and the CUDA runtime is not called, when libtorch sees no CUDA device
// or its CUDA backend is not loaded (a CPU build); err reports a CUDA runtime that
// failed to answer. (libc10_cuda.so alone is no proof of a CUDA build: the wheel's
// libtorch_cpu.so loads libnvfuser_codegen.so, and with it libtorch_cuda.so and
// libc10_cuda.so, whenever the nvidia-* libraries are installed beside it.)
func DeviceMemoryUsed(dev int) (used int64, ok bool, err error) {
	if !gotch.CUDA.IsAvailable() {
		return 0, false, nil
	}
	return deviceMemoryUsed(dev, cudaBackend, cudaRuntime)
}

func deviceMemoryUsed(dev int, gate, lib string) (int64, bool, error) {
	cgate, name := C.CString(gate), C.CString(lib)
	defer C.free(unsafe.Pointer(cgate))
	defer C.free(unsafe.Pointer(name))
	switch r := int64(C.cudamem_used(C.int(dev), cgate, name)); r {
	case -1:
		return 0, false, nil
	case -2:
		return 0, false, fmt.Errorf("torchx: %s is loaded but has no cudaMemGetInfo/cudaGetDevice/cudaSetDevice", lib)
	case -3:
		return 0, false, fmt.Errorf("torchx: cudaMemGetInfo on CUDA device %d failed", dev)
	default:
		return r, true, nil
	}
}
