package models

import (
	"math/rand/v2"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// Init says how a parameter is initialised when no checkpoint provides it, as the
// transformers models' _init_weights do.
type Init int

const (
	InitNormal Init = iota // N(0, initializer_range²)
	InitZero
	InitOne
)

// ParamSpec is one parameter's name and shape, known from a configuration alone.
type ParamSpec struct {
	Name  string
	Shape []int64
	// Head marks the task head (see Param.Head).
	Head bool
	Init Init
}

// InitTensor draws a fresh float32 CPU tensor for s: N(0, std²) entries from rng, or
// zeros, or ones.
func InitTensor(s ParamSpec, std float64, rng *rand.Rand) *ts.Tensor {
	switch s.Init {
	case InitZero:
		return ts.MustZeros(s.Shape, gotch.Float, gotch.CPU)
	case InitOne:
		return ts.MustOnes(s.Shape, gotch.Float, gotch.CPU)
	}
	return Normal(rng, std, s.Shape...)
}

// ShapeOfSpecs is the shape of a model from its parameter specs (the head not counted
// in BaseParams) and its adaptable linears, without building it.
func ShapeOfSpecs(specs []ParamSpec, linears []LinearSpec) Shape {
	s := Shape{Linears: linears}
	for _, p := range specs {
		if !p.Head {
			s.BaseParams += Numel(p.Shape)
			if IsBias(p.Name) {
				s.BaseBiases += Numel(p.Shape)
			}
		}
	}
	return s
}

// SpecList collects a family's parameter specs in checkpoint order.
type SpecList []ParamSpec

// Add appends one parameter.
func (s *SpecList) Add(name string, init Init, shape ...int64) {
	*s = append(*s, ParamSpec{Name: name, Shape: shape, Init: init})
}

// Linear appends a linear layer's weight (out × in, normal) and bias (zeros).
func (s *SpecList) Linear(name string, out, in int64) {
	s.Add(name+".weight", InitNormal, out, in)
	s.Add(name+".bias", InitZero, out)
}

// LayerNorm appends a LayerNorm's weight (ones) and bias (zeros) of the given size.
func (s *SpecList) LayerNorm(name string, size int64) {
	s.Add(name+".weight", InitOne, size)
	s.Add(name+".bias", InitZero, size)
}
