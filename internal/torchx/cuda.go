package torchx

/*
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

// torchx_has_driver says whether the NVIDIA driver's libcuda.so.1 can be loaded: a CUDA
// build of libtorch starts without it (the CUDA runtime loads it on first use), and
// then sees no device.
static int torchx_has_driver(void) {
	void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
	if (h == NULL) return 0;
	dlclose(h);
	return 1;
}

*/
import "C"

import (
	"debug/elf"
	"os"
	"slices"
)

// CUDALinked says whether this binary links libtorch's CUDA backend (built with CUDA=1
// make setup), by its ELF's needed libraries. Whether libtorch_cuda.so is loaded says
// nothing: once the CUDA libraries are in the harness cache, the wheel's libtorch_cpu
// loads libnvfuser_codegen.so, which pulls libtorch_cuda.so into a CPU build too.
func CUDALinked() bool {
	exe, err := os.Executable()
	if err != nil {
		return false
	}
	f, err := elf.Open(exe)
	if err != nil {
		return false
	}
	defer f.Close()
	libs, err := f.ImportedLibraries()
	return err == nil && slices.Contains(libs, "libtorch_cuda.so")
}

// HasNVIDIADriver says whether the NVIDIA driver library (libcuda.so.1) is installed.
func HasNVIDIADriver() bool { return C.torchx_has_driver() != 0 }
