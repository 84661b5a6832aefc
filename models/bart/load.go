package bart

import (
	"fmt"
	"maps"
	"slices"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// LoadReport says what loading a checkpoint did beyond copying tensors.
type LoadReport struct {
	// Weights is the file the tensors came from.
	Weights string
	models.LoadReport
}

// tiedCopies are the tensors transformers ties to model.shared.weight (and so
// overwrites with it on loading): save_pretrained leaves them out, older .bin files
// carry them. A bare BartModel checkpoint names them without "model.".
var tiedCopies = []string{
	"lm_head.weight",
	prefix + "encoder.embed_tokens.weight", prefix + "decoder.embed_tokens.weight",
	"encoder.embed_tokens.weight", "decoder.embed_tokens.weight",
}

func ignorable(name string) bool { return slices.Contains(tiedCopies, name) }

// Load builds a model from a Hugging Face folder: config.json and model.safetensors or
// pytorch_model.bin.
func Load(dir string) (*Model, LoadReport, error) {
	m, rep, weights, err := models.LoadFolder(dir, LoadConfig, models.WeightsFile, FromTensors)
	rep.Weights = weights
	return m, rep, err
}

// FromTensors builds a model from a checkpoint's tensors, matched by Hugging Face name
// with or without "model." (BartForConditionalGeneration or bare BartModel). Every
// parameter must be present; final_logits_bias may be absent (zeros, as transformers'
// _keys_to_ignore_on_load_missing says). Any missing, unexpected or mis-shaped tensor is
// one error listing all of them, named by source.
func FromTensors(c Config, ckpt map[string]*ts.Tensor, source string) (*Model, LoadReport, error) {
	if err := c.Validate(); err != nil {
		return nil, LoadReport{}, fmt.Errorf("%s: %w", source, err)
	}
	bias, err := logitsBias(c, ckpt[finalLogitsBias], source)
	if err != nil {
		return nil, LoadReport{}, err
	}
	rest := maps.Clone(ckpt)
	delete(rest, finalLogitsBias)
	tensors, rep, err := models.MatchCheckpoint(Specs(c), rest, source, models.Match{
		Prefix:    prefix,
		Ignorable: ignorable,
		Init:      func(s Spec) *ts.Tensor { return models.InitTensor(s, c.InitStd, models.NewRNG(0, 0)) },
		Model: fmt.Sprintf("a bart model with %d encoder and %d decoder layers, d_model %d, vocab %d",
			c.EncoderLayers, c.DecoderLayers, c.DModel, c.VocabSize),
	})
	if err != nil {
		return nil, LoadReport{LoadReport: rep}, err
	}
	if bias == nil {
		rep.NewlyInitialised = append(rep.NewlyInitialised, finalLogitsBias+" (zeros)")
	}
	m, err := assemble(c, tensors, bias)
	return m, LoadReport{LoadReport: rep}, err
}

// logitsBias checks a checkpoint's final_logits_bias (nil: absent) and returns it as
// float32.
func logitsBias(c Config, t *ts.Tensor, source string) (*ts.Tensor, error) {
	if t == nil {
		return nil, nil
	}
	want := []int64{1, c.VocabSize}
	if got := t.MustSize(); !slices.Equal(got, want) {
		return nil, fmt.Errorf("%s: %s has shape %v, want %v (1 × vocab_size)", source, finalLogitsBias, got, want)
	}
	switch d := t.DType(); d {
	case gotch.Float, gotch.Half, gotch.BFloat16, gotch.Double:
	default:
		return nil, fmt.Errorf("%s: %s is %s, want a floating-point tensor (F32, F16, BF16 or F64)", source, finalLogitsBias, safetensors.DTypeName(d))
	}
	return t.MustTotype(gotch.Float, false).MustDetach(true), nil
}
