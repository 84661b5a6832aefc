package train

import (
	"fmt"
	"math"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/internal/torchx"
)

// Autocast is mixed precision as torch.autocast: the parameters (master weights), the
// gradients, the optimizer and the hooks stay float32; the forward passes of training
// (Task.Loss, with Config.Regularization) and evaluation run with libtorch's autocast on,
// so that its eligible ops (matmul, linear, conv, ...) compute in DType.
type Autocast struct {
	CUDA  bool        // the model is on a CUDA device (else the CPU, which offers bfloat16 only)
	DType gotch.DType // gotch.BFloat16 or gotch.Half
}

// run calls f under autocast, or plainly when a is nil.
func (a *Autocast) run(f func()) error {
	if a == nil {
		f()
		return nil
	}
	return torchx.Autocast(a.CUDA, a.DType, f)
}

// GradScaler's defaults (torch.cuda.amp.GradScaler).
const (
	DefaultInitScale      = 65536.0 // 2¹⁶
	DefaultGrowthFactor   = 2.0
	DefaultBackoffFactor  = 0.5
	DefaultGrowthInterval = 2000
)

// LossScaler is torch.cuda.amp.GradScaler's dynamic loss scaling, which float16 needs
// (its gradients underflow below 6e-8): the loss is multiplied by Scale before the
// backward pass and the gradients divided by it before clipping; a step whose
// gradients hold an Inf or NaN is skipped (no optimizer update) and halves the scale;
// GrowthInterval finite steps in a row double it.
type LossScaler struct {
	Scale          float64 `json:"scale"`
	GrowthTracker  int     `json:"growth_tracker"` // finite steps since the last change of scale
	Skipped        int     `json:"skipped"`        // steps skipped for non-finite gradients
	GrowthFactor   float64 `json:"growth_factor"`
	BackoffFactor  float64 `json:"backoff_factor"`
	GrowthInterval int     `json:"growth_interval"`
}

// NewLossScaler is a scaler with GradScaler's defaults.
func NewLossScaler() *LossScaler {
	return &LossScaler{Scale: DefaultInitScale, GrowthFactor: DefaultGrowthFactor,
		BackoffFactor: DefaultBackoffFactor, GrowthInterval: DefaultGrowthInterval}
}

func (s *LossScaler) check() error {
	if !(s.Scale > 0) || math.IsInf(s.Scale, 0) || !(s.GrowthFactor > 1) || !(s.BackoffFactor > 0 && s.BackoffFactor < 1) || s.GrowthInterval <= 0 {
		return fmt.Errorf("train: loss scaler %+v: want scale > 0, growth factor > 1, 0 < backoff < 1, growth interval > 0", *s)
	}
	return nil
}

// update is GradScaler.update after a step whose gradients were finite or not.
func (s *LossScaler) update(finite bool) {
	if !finite {
		s.Scale *= s.BackoffFactor
		s.GrowthTracker = 0
		s.Skipped++
		return
	}
	s.GrowthTracker++
	if s.GrowthTracker == s.GrowthInterval {
		s.Scale *= s.GrowthFactor
		s.GrowthTracker = 0
	}
}

// unscale divides the trained parameters' gradients by the scale (GradScaler.unscale_),
// multiplying by its inverse as torch does (exact for the powers of two it takes).
func (s *LossScaler) unscale(params []Param) {
	inv := 1 / s.Scale
	eachGrad(params, func(g cTensor) { mulScalar_(g, inv) })
}
