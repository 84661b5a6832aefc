package models

import (
	"fmt"
	"math"
	"math/bits"
)

// Bounds on what a config.json may describe. Each family's Validate checks them before
// anything is built from the configuration, so that a corrupt or hostile file (a
// num_hidden_layers of 10¹², a vocabulary of 2⁶²) is one clear error instead of a loop
// that never ends, a multiplication that wraps around to a small plausible size, or an
// allocation that kills the process. They are far above every model the harness is
// meant for (DeBERTa-v2-xxlarge: 48 layers, 1.5 billion parameters, a 128k vocabulary).
const (
	// MaxDim bounds every size key (vocab_size, hidden_size, intermediate_size, ...),
	// so that the product of two of them cannot overflow an int64.
	MaxDim = 1 << 31
	// MaxLayers bounds num_hidden_layers.
	MaxLayers = 1024
	// MaxParams bounds the parameter count of the model a configuration describes:
	// 2³⁴ ≈ 17 billion, 64 GiB as float32.
	MaxParams = 1 << 34
)

// CheckSizes returns an error for every field above MaxDim, naming its key. Negative
// values are left to the family's own checks (some keys give them a meaning).
func CheckSizes(fields ...Field) []error {
	var errs []error
	for _, f := range fields {
		if f.V > MaxDim {
			errs = append(errs, fmt.Errorf("%s = %d, want at most %d", f.Key, f.V, int64(MaxDim)))
		}
	}
	return errs
}

// CheckLayers is the error for a num_hidden_layers above MaxLayers, or nil.
func CheckLayers(n int64) error {
	if n > MaxLayers {
		return fmt.Errorf("num_hidden_layers = %d, want at most %d", n, MaxLayers)
	}
	return nil
}

// CheckParamCount is the error for parameter specs that hold more than MaxParams
// parameters in all (or a shape with a negative dimension), or nil. what names the
// model for the message.
func CheckParamCount(specs []ParamSpec, what string) error {
	var total uint64
	for _, s := range specs {
		n := uint64(1)
		for _, d := range s.Shape {
			if d < 0 {
				return fmt.Errorf("%s would have a parameter %s of shape %v, with a negative dimension", what, s.Name, s.Shape)
			}
			hi, lo := bits.Mul64(n, uint64(d))
			if hi != 0 || lo > math.MaxInt64 {
				return fmt.Errorf("%s would have a parameter %s of shape %v, more than 2^63 elements", what, s.Name, s.Shape)
			}
			n = lo
		}
		if total += n; total > MaxParams {
			return fmt.Errorf("%s would have more than %d parameters (%d up to %s): check the size keys of config.json",
				what, int64(MaxParams), total, s.Name)
		}
	}
	return nil
}

// FloatField is one real-valued config.json key and its value.
type FloatField struct {
	Key string
	V   float64
}

// CheckProbs returns an error for every field outside [0, 1] (dropout probabilities:
// libtorch refuses any other value, but only once the forward pass runs).
func CheckProbs(fields ...FloatField) []error {
	var errs []error
	for _, f := range fields {
		if !(f.V >= 0 && f.V <= 1) {
			errs = append(errs, fmt.Errorf("%s = %g, want a probability in [0, 1]", f.Key, f.V))
		}
	}
	return errs
}

// CheckNonNegative returns an error for every field below 0 (layer_norm_eps: a
// negative one makes LayerNorm divide by the root of a negative number;
// initializer_range: a standard deviation).
func CheckNonNegative(fields ...FloatField) []error {
	var errs []error
	for _, f := range fields {
		if !(f.V >= 0) {
			errs = append(errs, fmt.Errorf("%s = %g, want >= 0", f.Key, f.V))
		}
	}
	return errs
}
