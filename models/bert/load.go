package bert

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// LoadReport says what loading a checkpoint did beyond copying tensors (Replaced stays
// empty: a head of another shape is an error here).
type LoadReport = models.LoadReport

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
	rng := models.NewRNG(seed, 0)
	p := c.prefix()
	tensors, rep, err := models.MatchCheckpoint(Specs(c, head), ckpt, source, models.Match{
		Prefix:    p,
		Ignorable: func(name string) bool { return ignorable(c, head, name) },
		// The pooler of a base checkpoint saved without one starts fresh too.
		Fresh: func(s Spec) bool { return s.Head || strings.HasPrefix(s.Name, p+"pooler.") },
		Init:  func(s Spec) *ts.Tensor { return models.InitTensor(s, c.InitializerRange, rng) },
		Hint:  func(unexpected []string) error { return prefixHint(c, unexpected) },
		Model: fmt.Sprintf("a %s model with %d layers, hidden %d", c.ModelType, c.NumHiddenLayers, c.HiddenSize),
	})
	if err != nil {
		return nil, rep, err
	}
	m, err := assemble(c, head, tensors)
	return m, rep, err
}
