package torchx

import (
	"strings"
	"testing"
)

// Without a GPU (this machine) the query says so and calls nothing of CUDA (and so
// cannot crash), whatever the device number, even though the CUDA runtime is loaded
// (the wheel's libtorch_cpu.so links it) and, with the nvidia-* libraries installed,
// libc10_cuda.so too.
func TestDeviceMemoryWithoutCUDA(t *testing.T) {
	for _, dev := range []int{0, 3} {
		used, ok, err := DeviceMemoryUsed(dev)
		if ok || err != nil || used != 0 {
			t.Errorf("DeviceMemoryUsed(%d) = %d, %v, %v; want 0, false, nil without a CUDA runtime", dev, used, ok, err)
		}
	}
}

// A loaded library without the CUDA entry points is reported, not called: libc is
// always loaded and has no cudaMemGetInfo. (This is the path a loaded runtime takes,
// so the test shows RTLD_NOLOAD finds loaded libraries.)
func TestDeviceMemoryLoadedLibraryWithoutSymbols(t *testing.T) {
	_, ok, err := deviceMemoryUsed(0, "libc.so.6", "libc.so.6")
	if ok || err == nil || !strings.Contains(err.Error(), "has no cudaMemGetInfo") {
		t.Fatalf("libc.so.6: ok %v, err %v; want a missing-symbol error", ok, err)
	}
}

// With the runtime loaded (as here) but no GPU or driver, the query fails with an
// error, not a crash: the path of a CUDA build started on a machine without a GPU.
func TestDeviceMemoryRuntimeWithoutGPU(t *testing.T) {
	_, ok, err := deviceMemoryUsed(0, "libc.so.6", cudaRuntime)
	if ok {
		t.Skip("a CUDA device answered: this machine has a GPU")
	}
	if err == nil || !strings.Contains(err.Error(), "cudaMemGetInfo on CUDA device 0 failed") {
		t.Fatalf("ok %v, err %v; want the CUDA error", ok, err)
	}
}
