// Package models holds what every model of the harness shares with the methods: named
// parameters and adaptable linear layers. A method sees a model only through Model, so
// the same VectorFit, LoRA or full fine-tuning code runs on an encoder, a ViT or BART.
package models

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
)

// LayerType is the role of an adaptable linear layer in a transformer block.
type LayerType string

// The six linears of a transformer block (SPEC §1).
const (
	Query   LayerType = "query"
	Key     LayerType = "key"
	Value   LayerType = "value"
	AttnOut LayerType = "attn_out"
	FFNUp   LayerType = "ffn_up"
	FFNDown LayerType = "ffn_down"
)

// LayerTypes lists every LayerType in block order.
var LayerTypes = []LayerType{Query, Key, Value, AttnOut, FFNUp, FFNDown}

// ParseLayerType accepts a LayerType's name.
func ParseLayerType(s string) (LayerType, error) {
	for _, t := range LayerTypes {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("unknown layer type %q, want one of %v", s, LayerTypes)
}

// Param is one named tensor of a model, named as in the Hugging Face checkpoint.
type Param struct {
	Name string
	T    *ts.Tensor
	// Head marks the task head (classifier, span head, LM head): trained fully by every
	// method and counted apart from the adapter.
	Head bool
}

// Numel is the number of elements of the parameter.
func (p Param) Numel() int64 { return Numel(p.T.MustSize()) }

// Numel is the number of elements of a tensor of the given shape.
func Numel(size []int64) int64 {
	n := int64(1)
	for _, s := range size {
		n *= s
	}
	return n
}

// Model is what a method needs of a model.
type Model interface {
	// Params lists every parameter, base model and head, in a fixed order.
	Params() []Param
	// Linears lists the adaptable linear layers in a fixed order.
	Linears() []*Linear
	// SetTraining switches dropout on (true) or off.
	SetTraining(bool)
}

// Batch is one padded batch of token ids, all int64 (batch × seq). TokenTypeIDs may be
// nil (all zeros).
type Batch struct {
	InputIDs, AttentionMask, TokenTypeIDs *ts.Tensor
}

// Drop frees the batch's tensors.
func (b Batch) Drop() {
	for _, t := range []*ts.Tensor{b.InputIDs, b.AttentionMask, b.TokenTypeIDs} {
		if t != nil {
			t.MustDrop()
		}
	}
}

// SequenceClassifier is an encoder with a classification or regression head, as the
// sentence-level suites (GLUE) use it.
type SequenceClassifier interface {
	Model
	// Forward returns batch × NumLabels logits (batch × 1 scores for regression).
	Forward(b Batch) *ts.Tensor
	NumLabels() int64
	Device() gotch.Device
}

// Forwarder computes a linear layer's output when a method has re-parametrised it.
type Forwarder interface {
	Forward(x *ts.Tensor, training bool) *ts.Tensor
}

// Linear is an adaptable linear layer, y = x·Wᵀ + b, with W out×in. A method re-
// parametrises it by setting Adapter, as PEFT's tuners replace a module; the model
// always calls Forward, so the model's code never knows which method runs.
type Linear struct {
	Name    string    // Hugging Face module name, e.g. "bert.encoder.layer.0.attention.self.query"
	Type    LayerType // its role in the block
	Weight  *ts.Tensor
	Bias    *ts.Tensor // nil when the layer has none
	Adapter Forwarder  // nil: the plain dense layer
}

// LinearSpec is a linear layer's shape, known from a configuration alone.
type LinearSpec struct {
	Name    string
	Type    LayerType
	Out, In int64
	Bias    bool
}

// LayerType is the layer's role (for selecting targets).
func (s LinearSpec) LayerType() LayerType { return s.Type }

// LayerType is the layer's role (for selecting targets).
func (l *Linear) LayerType() LayerType { return l.Type }

// Spec is the layer's shape.
func (l *Linear) Spec() LinearSpec {
	return LinearSpec{Name: l.Name, Type: l.Type, Out: l.Out(), In: l.In(), Bias: l.Bias != nil}
}

// Shape is what counting parameters needs of a model: its base-model size and the
// shapes of its adaptable linears.
type Shape struct {
	BaseParams int64 // parameters of the base model, head excluded
	// BaseBiases is how many of them are bias entries (IsBias): linears' and
	// LayerNorms' alike, what BitFit trains.
	BaseBiases int64
	Linears    []LinearSpec
}

// ShapeOf reads a built model's shape.
func ShapeOf(m Model) Shape {
	s := Shape{BaseParams: BaseNumel(m), Linears: Specs(m.Linears())}
	for _, p := range m.Params() {
		if !p.Head && IsBias(p.Name) {
			s.BaseBiases += p.Numel()
		}
	}
	return s
}

// IsBias says whether a parameter is a bias vector by its Hugging Face name: a linear's
// or a LayerNorm's "….bias" (and DeBERTa-v1's "q_bias", "v_bias").
func IsBias(name string) bool { return strings.HasSuffix(name, "bias") }

// Specs returns the shapes of layers.
func Specs(ls []*Linear) []LinearSpec {
	out := make([]LinearSpec, len(ls))
	for i, l := range ls {
		out[i] = l.Spec()
	}
	return out
}

// Out and In are the layer's output and input sizes.
func (l *Linear) Out() int64 { return l.Weight.MustSize()[0] }
func (l *Linear) In() int64  { return l.Weight.MustSize()[1] }

// Forward applies the layer (through its adapter if a method set one).
func (l *Linear) Forward(x *ts.Tensor, training bool) *ts.Tensor {
	if l.Adapter != nil {
		return l.Adapter.Forward(x, training)
	}
	return Dense(x, l.Weight, l.Bias)
}

// noBias is an undefined tensor: libtorch's linear reads it as "no bias".
var noBias = ts.NewTensor()

// Dense is x·Wᵀ + b (b may be nil).
func Dense(x, w, b *ts.Tensor) *ts.Tensor {
	if b == nil {
		b = noBias
	}
	return ts.MustLinear(x, w, b)
}

// Freeze sets requires_grad on every parameter of m to false: the starting point of a
// parameter-efficient method, which then switches on what it trains.
func Freeze(m Model) {
	for _, p := range m.Params() {
		p.T.MustRequiresGrad_(false)
	}
}

// HeadParams returns m's task-head parameters.
func HeadParams(m Model) []Param {
	var head []Param
	for _, p := range m.Params() {
		if p.Head {
			head = append(head, p)
		}
	}
	return head
}

// BaseNumel counts the parameters of the base model, the head excluded: the
// denominator of "% of base model".
func BaseNumel(m Model) int64 {
	var n int64
	for _, p := range m.Params() {
		if !p.Head {
			n += p.Numel()
		}
	}
	return n
}

// NoGrad runs fn with autograd off and restores the previous mode. libtorch's grad mode
// is per OS thread and goroutines move between threads, so the goroutine is pinned to
// its thread for the duration (ts.NoGrad is not, and re-enables grad unconditionally).
func NoGrad(fn func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := torchx.SetGradEnabled(false)
	defer torchx.SetGradEnabled(prev)
	fn()
}

// LayerStates is an encoder that returns its per-layer hidden states as transformers'
// output_hidden_states=True does: the embedding output, then the output of each layer in
// order (NumHiddenLayers + 1 tensors, batch × seq × hidden), so that a divergence from a
// reference can be located to the first layer where it appears. In is the model's input:
// a Batch for the text encoders, a pixel tensor for ViT.
type LayerStates[In any] interface {
	HiddenStates(x In) []*ts.Tensor
}

// RunLayers applies n layers to the embedding output h, layer(i, h) giving layer i's
// output; it is the one loop every encoder's forward pass goes through. With all nil
// each intermediate state is freed as soon as the next exists and the last is returned;
// otherwise every state, h first, is appended to *all (the caller owns and frees them)
// and the last is also returned.
func RunLayers(h *ts.Tensor, n int64, layer func(i int64, h *ts.Tensor) *ts.Tensor, all *[]*ts.Tensor) *ts.Tensor {
	if all != nil {
		*all = append(*all, h)
	}
	for i := range n {
		next := layer(i, h)
		if all != nil {
			*all = append(*all, next)
		} else {
			h.MustDrop()
		}
		h = next
	}
	return h
}

// DropAll frees tensors, as returned by HiddenStates.
func DropAll(xs []*ts.Tensor) {
	for _, x := range xs {
		x.MustDrop()
	}
}
