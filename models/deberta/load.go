package deberta

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// LoadReport says what loading a checkpoint did beyond copying tensors.
type LoadReport struct {
	// Weights is the file the tensors came from.
	Weights string
	models.LoadReport
}

// ignorable are checkpoint tensors a fine-tuning model drops, as transformers does:
// DeBERTa's pre-training heads (lm_predictions: the MLM generator head; mask_predictions:
// the replaced-token-detection head of v3), unused absolute position embeddings
// (DebertaV2PreTrainedModel._keys_to_ignore_on_load_unexpected) and buffers.
func ignorable(name string) bool {
	for _, p := range []string{"lm_predictions.", "mask_predictions.", "cls.", "lm_head."} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return strings.HasSuffix(name, "position_ids") || strings.Contains(name, "position_embeddings")
}

// Weight files looked for in a model folder, in order. The microsoft/deberta-v3-base hub
// repo ships only pytorch_model.bin.
const (
	SafetensorsFile = models.SafetensorsFile
	PytorchFile     = models.PytorchFile
)

// Load builds a model from a Hugging Face folder: config.json and model.safetensors or
// pytorch_model.bin. numLabels > 0 overrides the config's label count (a new task on a
// base checkpoint). The head, when the checkpoint has none, is initialised from seed.
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

// LoadWithConfig builds a model from dir's weights with a configuration the caller
// adjusted (label count, classifier dropout).
func LoadWithConfig(dir string, c Config, head Head, seed uint64) (*Model, LoadReport, error) {
	weights, tensors, err := models.ReadWeights(dir, WeightsFile)
	if err != nil {
		return nil, LoadReport{}, err
	}
	m, rep, err := FromTensors(c, head, tensors, weights, seed)
	rep.Weights = weights
	return m, rep, err
}

// WeightsFile is dir's model.safetensors, else its pytorch_model.bin.
func WeightsFile(dir string) (string, error) { return models.WeightsFile(dir) }

// ReadCheckpoint reads every tensor of a .safetensors file or of a PyTorch .bin.
func ReadCheckpoint(path string) (map[string]*ts.Tensor, error) { return models.ReadCheckpoint(path) }

// FromTensors builds a model from a checkpoint's tensors, matched by Hugging Face name
// with or without the base-model prefix "deberta.". Any missing base tensor, unexpected
// tensor or shape mismatch is an error listing all of them, named by source.
func FromTensors(c Config, head Head, ckpt map[string]*ts.Tensor, source string, seed uint64) (*Model, LoadReport, error) {
	if err := c.Validate(); err != nil {
		return nil, LoadReport{}, fmt.Errorf("%s: %w", source, err)
	}
	rng := models.NewRNG(seed, 0)
	tensors, rep, err := models.MatchCheckpoint(Specs(c, head), ckpt, source, models.Match{
		Prefix:    prefix,
		Ignorable: ignorable,
		Init:      func(s Spec) *ts.Tensor { return initTensor(s, c, rng) },
		Model:     fmt.Sprintf("a %s model with %d layers, hidden %d", c.ModelType, c.NumHiddenLayers, c.HiddenSize),
	})
	if err != nil {
		return nil, LoadReport{LoadReport: rep}, err
	}
	m, err := assemble(c, head, tensors)
	return m, LoadReport{LoadReport: rep}, err
}
