package bert

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// LoadReport says what loading a checkpoint did beyond copying tensors.
type LoadReport struct {
	// NewlyInitialised are expected tensors the checkpoint lacks that are fine to start
	// fresh (the task head of a base checkpoint), as transformers warns about.
	NewlyInitialised []string
	// Ignored are checkpoint tensors the model has no use for (pre-training heads).
	Ignored []string
}

// ignorable are checkpoint tensors a fine-tuning model drops, as transformers does:
// pre-training heads, position-id buffers, and the pooler of a base checkpoint when the
// head does not use it (RobertaForSequenceClassification and the span models are built
// without one).
func ignorable(c Config, head Head, name string) bool {
	if strings.HasSuffix(name, "position_ids") || strings.HasPrefix(name, "cls.") ||
		strings.HasPrefix(name, "lm_head.") {
		return true
	}
	pooler := strings.HasPrefix(name, c.prefix()+"pooler.") || strings.HasPrefix(name, "pooler.")
	return pooler && !usesPooler(c, head)
}

// usesPooler says whether the task model has BERT's pooler.
func usesPooler(c Config, head Head) bool { return head == Classification && c.ModelType != "roberta" }

// prefixHint explains a checkpoint whose base-model tensors carry another model type's
// prefix ("roberta." under a bert config): otherwise every tensor is listed twice, as
// missing and as unexpected, and the cause is hard to see.
func prefixHint(c Config, unexpected []string) error {
	for _, other := range []string{"bert", "roberta"} {
		if other == c.ModelType {
			continue
		}
		for _, name := range unexpected {
			if strings.HasPrefix(name, other+".embeddings.") {
				return fmt.Errorf("the checkpoint's tensors are named %q, the config says model_type %q", other+".*", c.ModelType)
			}
		}
	}
	return nil
}

// Load builds a model from a Hugging Face folder: config.json and model.safetensors.
// numLabels > 0 overrides the config's label count (a new task on a base checkpoint).
// The head, when the checkpoint has none, is initialised from seed.
func Load(dir string, head Head, numLabels int64, seed uint64) (*Model, LoadReport, error) {
	c, err := LoadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, LoadReport{}, err
	}
	if numLabels > 0 {
		c.NumLabels = numLabels
	}
	return LoadWithConfig(dir, c, head, seed)
}

// LoadWithConfig builds a model from dir/model.safetensors with a configuration the
// caller adjusted (label count, classifier dropout).
func LoadWithConfig(dir string, c Config, head Head, seed uint64) (*Model, LoadReport, error) {
	weights := filepath.Join(dir, "model.safetensors")
	tensors, err := safetensors.Load(weights)
	if err != nil {
		return nil, LoadReport{}, err
	}
	return FromTensors(c, head, tensors, weights, seed)
}

// FromTensors builds a model from a checkpoint's tensors, matched by Hugging Face name
// with or without the base-model prefix ("bert.", "roberta."). Any missing base tensor,
// unexpected tensor or shape mismatch is an error listing all of them, named by source.
func FromTensors(c Config, head Head, ckpt map[string]*ts.Tensor, source string, seed uint64) (*Model, LoadReport, error) {
	if err := c.Validate(); err != nil {
		return nil, LoadReport{}, fmt.Errorf("%s: %w", source, err)
	}
	var (
		rep                            LoadReport
		missing, unexpected, misshaped []string
		used                           = map[string]bool{}
		tensors                        = map[string]*ts.Tensor{}
		rng                            = models.NewRNG(seed, 0)
	)
	p := c.prefix()
	for _, s := range Specs(c, head) {
		name, t := s.Name, ckpt[s.Name]
		if t == nil && strings.HasPrefix(s.Name, p) { // saved from the bare model
			name = strings.TrimPrefix(s.Name, p)
			t = ckpt[name]
		}
		switch {
		case t == nil && (s.Head || strings.HasPrefix(s.Name, p+"pooler.")):
			rep.NewlyInitialised = append(rep.NewlyInitialised, s.Name)
			tensors[s.Name] = initTensor(s, c.InitializerRange, rng)
		case t == nil:
			missing = append(missing, s.Name)
		case !slices.Equal(t.MustSize(), s.Shape):
			used[name] = true
			misshaped = append(misshaped, fmt.Sprintf("%s: checkpoint %v, model %v", name, t.MustSize(), s.Shape))
		default:
			used[name] = true
			tensors[s.Name] = t.MustTotype(gotch.Float, false).MustDetach(true)
		}
	}
	for name := range ckpt {
		switch {
		case used[name]:
		case ignorable(c, head, name):
			rep.Ignored = append(rep.Ignored, name)
		default:
			unexpected = append(unexpected, name)
		}
	}
	slices.Sort(rep.Ignored)
	slices.Sort(unexpected)
	var errs []error
	if hint := prefixHint(c, unexpected); hint != nil {
		errs = append(errs, hint)
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
	if len(errs) > 0 {
		return nil, rep, fmt.Errorf("%s does not fit a %s model with %d layers, hidden %d: %w",
			source, c.ModelType, c.NumHiddenLayers, c.HiddenSize, errors.Join(errs...))
	}
	m, err := assemble(c, head, tensors)
	return m, rep, err
}
