package models

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models/safetensors"
)

// LoadReport says what loading a checkpoint did beyond copying tensors.
type LoadReport struct {
	// NewlyInitialised are expected tensors the checkpoint lacks that are fine to start
	// fresh (the task head of a base checkpoint), as transformers warns about.
	NewlyInitialised []string
	// Replaced are head tensors the checkpoint has with another shape (a 1000-class
	// ImageNet head on a 10-class task), replaced by fresh ones as transformers'
	// ignore_mismatched_sizes=True does. Each entry names the tensor and both shapes.
	Replaced []string
	// Ignored are checkpoint tensors the model has no use for (pre-training heads).
	Ignored []string
}

// Match says how a model's parameters are found in a checkpoint.
type Match struct {
	// Prefix is the base model's name inside the task model ("bert."): a checkpoint
	// saved from the bare base model has its tensors without it.
	Prefix string
	// Ignorable says which checkpoint tensors the model drops, as transformers does.
	Ignorable func(name string) bool
	// Fresh says which absent tensors may start fresh; nil means the head only.
	Fresh func(ParamSpec) bool
	// ReplaceHead replaces a head tensor of another shape by a fresh one instead of
	// calling it mis-shaped.
	ReplaceHead bool
	// Init draws a fresh tensor.
	Init func(ParamSpec) *ts.Tensor
	// Hint, if set, may explain the unexpected tensors (a wrong model family); it comes
	// first in the error.
	Hint func(unexpected []string) error
	// Model describes what the checkpoint must fit, for the error: "a bert model with
	// 12 layers, hidden 768".
	Model string
}

// MatchCheckpoint picks each spec's tensor from ckpt by Hugging Face name, with or
// without m.Prefix, as float32, drawing fresh ones where m allows. Any missing tensor,
// unexpected tensor, shape mismatch or tensor of an integer or bool dtype is one error
// listing all of them, naming source. The report is returned with the error too.
//
// Every family loads its checkpoints through here, so this is where a weight's dtype is
// checked: an F16, BF16 or F64 weight becomes float32 as transformers loads it into a
// float32 model, but an I32 (or I8, U8, BOOL, ...) tensor where a weight belongs is a
// corrupt or mislabelled checkpoint, not a weight to cast and train.
func MatchCheckpoint(specs []ParamSpec, ckpt map[string]*ts.Tensor, source string, m Match) (map[string]*ts.Tensor, LoadReport, error) {
	fresh := m.Fresh
	if fresh == nil {
		fresh = func(s ParamSpec) bool { return s.Head }
	}
	var (
		rep                                        LoadReport
		missing, unexpected, misshaped, wrongDType []string
		used                                       = map[string]bool{}
		tensors                                    = map[string]*ts.Tensor{}
	)
	for _, s := range specs {
		name, t := s.Name, ckpt[s.Name]
		if t == nil && m.Prefix != "" && strings.HasPrefix(s.Name, m.Prefix) { // saved from the bare model
			name = strings.TrimPrefix(s.Name, m.Prefix)
			t = ckpt[name]
		}
		if t != nil {
			used[name] = true
		}
		switch {
		case t == nil && fresh(s):
			rep.NewlyInitialised = append(rep.NewlyInitialised, s.Name)
			tensors[s.Name] = m.Init(s)
		case t == nil:
			missing = append(missing, s.Name)
		case !slices.Equal(t.MustSize(), s.Shape) && s.Head && m.ReplaceHead:
			rep.Replaced = append(rep.Replaced, fmt.Sprintf("%s: checkpoint %v, model %v", name, t.MustSize(), s.Shape))
			tensors[s.Name] = m.Init(s)
		default:
			ok := true
			if !floating(t.DType()) {
				wrongDType = append(wrongDType, fmt.Sprintf("%s is %s", name, safetensors.DTypeName(t.DType())))
				ok = false
			}
			if !slices.Equal(t.MustSize(), s.Shape) {
				misshaped = append(misshaped, fmt.Sprintf("%s: checkpoint %v, model %v", name, t.MustSize(), s.Shape))
				ok = false
			}
			if ok {
				tensors[s.Name] = t.MustTotype(gotch.Float, false).MustDetach(true)
			}
		}
	}
	for name := range ckpt {
		switch {
		case used[name]:
		case m.Ignorable != nil && m.Ignorable(name):
			rep.Ignored = append(rep.Ignored, name)
		default:
			unexpected = append(unexpected, name)
		}
	}
	slices.Sort(rep.Ignored)
	slices.Sort(unexpected)
	var errs []error
	if m.Hint != nil {
		if hint := m.Hint(unexpected); hint != nil {
			errs = append(errs, hint)
		}
	}
	if len(missing) > 0 {
		errs = append(errs, fmt.Errorf("missing tensors: %s", strings.Join(missing, ", ")))
	}
	if len(unexpected) > 0 {
		errs = append(errs, fmt.Errorf("unexpected tensors: %s", strings.Join(unexpected, ", ")))
	}
	if len(misshaped) > 0 {
		errs = append(errs, fmt.Errorf("mis-shaped tensors: %s", strings.Join(misshaped, "; ")))
	}
	if len(wrongDType) > 0 {
		errs = append(errs, fmt.Errorf("tensors of a dtype the model cannot train, expected a floating-point weight (F32, F16, BF16 or F64): %s",
			strings.Join(wrongDType, ", ")))
	}
	if len(errs) > 0 {
		return nil, rep, fmt.Errorf("%s does not fit %s: %w", source, m.Model, errors.Join(errs...))
	}
	return tensors, rep, nil
}

// floating says whether a checkpoint tensor of dtype d can be a weight.
func floating(d gotch.DType) bool {
	return d == gotch.Float || d == gotch.Half || d == gotch.BFloat16 || d == gotch.Double
}
