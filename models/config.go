package models

import (
	"fmt"

	"github.com/sugarme/gotch/ts"
)

// NumLabelsFrom is a config.json's label count as transformers' PretrainedConfig
// derives it: num_labels when given, else the size of id2label, else 2.
func NumLabelsFrom(numLabels int64, id2label map[string]string) int64 {
	if numLabels == 0 {
		numLabels = int64(len(id2label))
	}
	if numLabels == 0 {
		numLabels = 2
	}
	return numLabels
}

// Field is one integer config.json key and its value, for CheckPositive.
type Field struct {
	Key string
	V   int64
}

// CheckPositive returns an error for every field that is not > 0, naming its key.
func CheckPositive(fields ...Field) []error {
	var errs []error
	for _, f := range fields {
		if f.V <= 0 {
			errs = append(errs, fmt.Errorf("%s = %d, want > 0", f.Key, f.V))
		}
	}
	return errs
}

// CheckHeads is the error for a hidden size the heads do not divide, or nil.
func CheckHeads(hidden, heads int64) error {
	if heads > 0 && hidden%heads != 0 {
		return fmt.Errorf("hidden_size %d is not a multiple of num_attention_heads %d", hidden, heads)
	}
	return nil
}

// Activation applies the hidden_act named name as transformers' ACT2FN does: "gelu"
// (exact, the default), "gelu_new" and "gelu_pytorch_tanh" (the tanh approximation),
// "relu", "tanh". Each family's Validate decides which names it accepts.
func Activation(name string, x *ts.Tensor) *ts.Tensor {
	switch name {
	case "gelu_new", "gelu_pytorch_tanh":
		return x.MustGelu("tanh", false)
	case "relu":
		return x.MustRelu(false)
	case "tanh":
		return x.MustTanh(false)
	}
	return x.MustGelu("none", false)
}

// ResidualNorm is the post-LayerNorm residual of BERT-style blocks:
// LayerNorm(dropout(x) + residual) with the LayerNorm "<name>.weight", "<name>.bias" over
// the last size features. x stays the caller's to drop.
func (w *Weights) ResidualNorm(name string, x, residual *ts.Tensor, dropout float64, size int64, eps float64) *ts.Tensor {
	d := w.Dropout(x, dropout)
	sum := d.MustAdd(residual, true)
	out := w.LayerNorm(name, sum, size, eps)
	sum.MustDrop()
	return out
}

// Assemble wires named tensors into Weights in the order of specs (every spec's tensor
// must be present) with the given adaptable linears. family prefixes the errors.
func Assemble(family string, specs []ParamSpec, linears []LinearSpec, tensors map[string]*ts.Tensor) (Weights, error) {
	params := make([]Param, 0, len(specs))
	for _, s := range specs {
		t, ok := tensors[s.Name]
		if !ok {
			return Weights{}, fmt.Errorf("%s: no tensor %q", family, s.Name)
		}
		params = append(params, Param{Name: s.Name, T: t, Head: s.Head})
	}
	w, err := NewWeights(params, linears)
	if err != nil {
		return Weights{}, fmt.Errorf("%s: %w", family, err)
	}
	return w, nil
}

// InitAll draws a fresh tensor for every spec with init, in order (the order fixes
// which random draws each tensor gets).
func InitAll(specs []ParamSpec, init func(ParamSpec) *ts.Tensor) map[string]*ts.Tensor {
	tensors := make(map[string]*ts.Tensor, len(specs))
	for _, s := range specs {
		tensors[s.Name] = init(s)
	}
	return tensors
}
