package models

import (
	"math/rand/v2"

	"github.com/sugarme/gotch/ts"
)

// Random initialisation is drawn in Go from a seeded PCG, not from libtorch's generator,
// so the same seed gives bit-identical weights on every machine and device.

// NewRNG returns the generator for a seed and a stream (e.g. one stream per purpose, so
// adding a method does not shift the base model's draws).
func NewRNG(seed, stream uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, stream)) }

// Normal returns a float32 CPU tensor of the given shape with N(0, std²) entries.
func Normal(rng *rand.Rand, std float64, shape ...int64) *ts.Tensor {
	data := make([]float32, Numel(shape))
	for i := range data {
		data[i] = float32(std * rng.NormFloat64())
	}
	return ts.MustOfSlice(data).MustView(shape, true)
}

// Uniform returns a float32 CPU tensor of the given shape with U(lo, hi) entries.
func Uniform(rng *rand.Rand, lo, hi float64, shape ...int64) *ts.Tensor {
	data := make([]float32, Numel(shape))
	for i := range data {
		data[i] = float32(lo + (hi-lo)*rng.Float64())
	}
	return ts.MustOfSlice(data).MustView(shape, true)
}
