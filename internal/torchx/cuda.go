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

// torchx_cuda_linked says whether libtorch_cuda.so is loaded in this process (a binary
// built with CUDA=1 make setup), by its path in /proc/self/maps.
static int torchx_cuda_linked(void) {
	FILE *f = fopen("/proc/self/maps", "r");
	if (f == NULL) return 0;
	char line[4096];
	int found = 0;
	while (!found && fgets(line, sizeof line, f) != NULL) {
		found = strstr(line, "/libtorch_cuda.so") != NULL;
	}
	fclose(f);
	return found;
}
*/
import "C"

// CUDALinked says whether this binary loaded libtorch's CUDA backend (built with
// CUDA=1 make setup).
func CUDALinked() bool { return C.torchx_cuda_linked() != 0 }

// HasNVIDIADriver says whether the NVIDIA driver library (libcuda.so.1) is installed.
func HasNVIDIADriver() bool { return C.torchx_has_driver() != 0 }
