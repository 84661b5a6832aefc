package reports

// Precision is how a run computed (-dtype, -svd-device). Records written before it
// existed read as the zero value: float32 throughout, SVDs on the CPU.
type Precision struct {
	// DType is -dtype: float32, bfloat16 or float16. Parameters, gradients and the
	// optimizer are float32 in every case (autocast's master weights).
	DType string `json:"dtype,omitempty"`
	// Autocast is the libtorch autocast the forward passes ran under: "cpu", "cuda", or
	// empty for none (float32).
	Autocast string `json:"autocast,omitempty"`
	// SVDDevice is where the float64 SVDs (VectorFit's, SVFT's) ran: "cpu", or "same" for
	// the model's device.
	SVDDevice string `json:"svd_device,omitempty"`
	// LossScale is the float16 loss scaler's end state; nil without one.
	LossScale *LossScale `json:"loss_scale,omitempty"`
}

// LossScale is a dynamic loss scaler's (torch.cuda.amp.GradScaler's algorithm) final
// scale and the optimizer steps it skipped for Inf/NaN gradients.
type LossScale struct {
	Final        float64 `json:"final"`
	SkippedSteps int     `json:"skipped_steps"`
}

// GPUMemory is the peak device memory of a CUDA run and how it was measured (Source):
// libtorch's caching-allocator statistics are C++ only, so the runner samples the CUDA
// runtime's cudaMemGetInfo after every optimizer step; that counts what the allocator
// reserved (≥ torch.cuda.max_memory_allocated), the CUDA context and any other process
// on the device. BaselineBytes is the same measure before the model was built.
type GPUMemory struct {
	PeakBytes     int64  `json:"peak_bytes"`
	BaselineBytes int64  `json:"baseline_bytes"`
	Device        int    `json:"device"`
	Source        string `json:"source"`
}
