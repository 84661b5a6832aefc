package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vectorfit/harness/hub"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/models/unet"
	"github.com/vectorfit/harness/reports"
)

// modelSource is where the base model comes from.
type modelSource struct {
	name string        // "tiny", a hub id or a folder
	dir  string        // local folder; "" for the built-in tiny model
	info reports.Model // what records say of it, its files hashed once per command
	// tinyWeights is the cached pre-trained weights of the built-in model, when the
	// task has them (the tiny BART on synthetic summarisation).
	tinyWeights string
}

// tinyInfo describes the built-in models.
var tinyInfo = map[string]reports.Model{
	"glue":   {Name: "tiny", Source: "built-in tiny BERT (2 layers, hidden 64), weights from seed 0"},
	"squad":  {Name: "tiny", Source: "built-in tiny BERT (2 layers, hidden 64), weights from seed 0"},
	"vision": {Name: "tiny", Source: "built-in tiny ViT (32×32, patch 4, 2 layers, hidden 64), weights from seed 0"},
	"nlg":    {Name: "tiny", Source: "built-in tiny BART (2+2 layers, d_model 32, the built-in tokenizer), weights from seed 0"},
	"diffusion": {Name: "tiny", Source: "built-in tiny Stable Diffusion (character CLIP tokenizer, text encoder 2×32, " +
		"VAE 32/64, UNet 32/64, SD v1.4's PNDM scheduler), random weights from seed 0"},
}

// identify hashes the checkpoint's config and weights, once per command.
func (s *modelSource) identify() error {
	s.info = reports.Model{Name: s.name, Source: s.dir}
	var err error
	if s.info.ConfigSHA256, _, err = reports.FileSHA256(filepath.Join(s.dir, "config.json")); err != nil {
		return err
	}
	w, err := deberta.WeightsFile(s.dir)
	if err != nil {
		return err
	}
	s.info.WeightsSHA256, _, err = reports.FileSHA256(w)
	return err
}

// resolveModel finds a checkpoint folder: local, in the Hugging Face cache, or
// downloaded. Weights are model.safetensors or, failing that, pytorch_model.bin (what
// microsoft/deberta-v3-base ships); text suites also need tokenizer.json.
func resolveModel(ref, suite string) (modelSource, error) {
	if ref == "tiny" {
		return modelSource{name: "tiny", info: tinyInfo[suite]}, nil
	}
	c := hub.FromEnv()
	if suite == "diffusion" {
		return resolvePipeline(c, ref)
	}
	dir, err := c.Resolve("model", ref, []string{"config.json"})
	if err != nil {
		return modelSource{}, err
	}
	if _, err := c.Resolve("model", ref, []string{"model.safetensors"}); err != nil {
		if _, err2 := c.Resolve("model", ref, []string{"pytorch_model.bin"}); err2 != nil {
			return modelSource{}, fmt.Errorf("%w (nor pytorch_model.bin: %v)", err, err2)
		}
	}
	if suite != "vision" {
		if _, err := c.Resolve("model", ref, []string{"tokenizer.json"}); err != nil {
			return modelSource{}, fmt.Errorf("%w; a repo that ships only spm.model (DeBERTa-v3) needs a tokenizer.json made once with "+
				"python3 -c 'from transformers import AutoTokenizer; AutoTokenizer.from_pretrained(%q).save_pretrained(\"DIR\")' and -model DIR", err, ref)
		}
	}
	src := modelSource{name: ref, dir: dir}
	return src, src.identify()
}

// resolvePipeline finds a diffusers Stable Diffusion folder; records hash its
// model_index.json and the UNet's weights (the part the methods train).
func resolvePipeline(c *hub.Client, ref string) (modelSource, error) {
	dir, err := c.Resolve("model", ref, sdFiles)
	if err != nil {
		return modelSource{}, err
	}
	src := modelSource{name: ref, dir: dir, info: reports.Model{Name: ref, Source: dir}}
	if src.info.ConfigSHA256, _, err = reports.FileSHA256(filepath.Join(dir, "model_index.json")); err != nil {
		return modelSource{}, err
	}
	w, err := unet.WeightsFile(filepath.Join(dir, "unet"))
	if err != nil {
		return modelSource{}, err
	}
	src.info.WeightsSHA256, _, err = reports.FileSHA256(w)
	return src, err
}

// tinySeed fixes the built-in "pre-trained" weights: every method and seed starts from
// the same base model, as they would from one checkpoint.
const tinySeed = 0

// textModel is what the text suites ask for: an encoder family's head and label count.
type textModel struct {
	head       bert.Head
	numLabels  int64
	clsDropout float64
}

// modelType reads config.json's model_type.
func modelType(dir string) (string, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return "", err
	}
	var c struct {
		ModelType string `json:"model_type"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	return c.ModelType, nil
}

// buildText builds an encoder with the requested head: the built-in tiny BERT, or a
// checkpoint of a family the harness implements (by config.json's model_type).
func buildText(src modelSource, want textModel, seed int64) (built, error) {
	if src.dir == "" {
		tok := tokenize.Builtin()
		c := bert.Tiny(tok.VocabSize())
		c.NumLabels = want.numLabels
		c.ClassifierDropout = &want.clsDropout
		m, err := bert.New(c, want.head, tinySeed)
		if err != nil {
			return built{}, err
		}
		return built{model: m, info: src.info, extras: tok, to: m.To}, nil
	}
	kind, err := modelType(src.dir)
	if err != nil {
		return built{}, err
	}
	tok, err := tokenize.Load(filepath.Join(src.dir, "tokenizer.json"))
	if err != nil {
		return built{}, err
	}
	info := src.info
	switch kind {
	case "deberta-v2":
		c, err := deberta.LoadConfig(filepath.Join(src.dir, "config.json"))
		if err != nil {
			return built{}, err
		}
		if err := checkVocab(tok, c.VocabSize, src.dir); err != nil {
			return built{}, err
		}
		c.NumLabels = want.numLabels
		c.ClassifierDropout = &want.clsDropout
		head := deberta.Classification
		if want.head == bert.Span {
			head = deberta.Span
		}
		m, _, err := deberta.LoadWithConfig(src.dir, c, head, uint64(seed))
		if err != nil {
			return built{}, err
		}
		return built{model: m, info: info, extras: tok, to: m.To}, nil
	case "bert", "roberta":
		c, err := bert.LoadConfig(filepath.Join(src.dir, "config.json"))
		if err != nil {
			return built{}, err
		}
		if err := checkVocab(tok, c.VocabSize, src.dir); err != nil {
			return built{}, err
		}
		c.NumLabels = want.numLabels
		c.ClassifierDropout = &want.clsDropout
		m, _, err := bert.LoadWithConfig(src.dir, c, want.head, uint64(seed))
		if err != nil {
			return built{}, err
		}
		return built{model: m, info: info, extras: tok, to: m.To}, nil
	}
	return built{}, fmt.Errorf("%s: model_type %q: the harness runs bert, roberta (MiniLM says bert) and deberta-v2 (DeBERTa-v2 and v3)", src.dir, kind)
}

// checkVocab: a token id past the embedding table would fail deep inside libtorch.
func checkVocab(tok *tokenize.Tokenizer, vocab int64, dir string) error {
	if n := tok.VocabSize(); n > vocab {
		return fmt.Errorf("%s: tokenizer.json has %d tokens, the model's embedding only %d: not the model's tokenizer", dir, n, vocab)
	}
	return nil
}
