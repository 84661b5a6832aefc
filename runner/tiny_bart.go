package main

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/realmodel"
	"github.com/vectorfit/harness/models/bart"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/suites/nlg"
	"github.com/vectorfit/harness/train"
)

// The built-in tiny BART of the synthetic summarisation task is pre-trained. A
// random-init BART cannot be adapted by a PEFT method: its tied embeddings (std 0.02)
// bound every logit to well under 1, so no change to the linears lowers the loss
// (measured: LoRA and VectorFit stay at ROUGE-2 ≈ 0 where full fine-tuning reaches
// 0.6). PEFT adapts a pre-trained model, so the built-in one is pre-trained first by
// full fine-tuning on BART's own objective, reconstructing documents with masked
// words (nlg.SyntheticPretraining), on documents the fine-tuning task never sees. It
// takes about a minute on 2 cores, once: the weights are cached in the harness cache
// (VECTORFIT_CACHE, else ~/.cache/vectorfit-harness) under a name hashed from
// everything that determines them, and records carry the file's SHA-256.
type tinyPretraining struct {
	Version   int     `json:"version"` // bump when the recipe changes in a way the fields miss
	Docs      int     `json:"docs"`
	MaskRate  float64 `json:"mask_rate"`
	Steps     int     `json:"steps"`
	Warmup    int     `json:"warmup"`
	Batch     int     `json:"batch"`
	LR        float64 `json:"lr"`
	MaxTokens int     `json:"max_tokens"`
	Seed      int64   `json:"seed"`
}

var tinyBARTPretraining = tinyPretraining{Version: 1, Docs: 2048, MaskRate: 0.1, Steps: 1500, Warmup: 100,
	Batch: 32, LR: 1e-2, MaxTokens: 64, Seed: tinySeed}

// tinyBARTConfig is the built-in tiny BART over the built-in tokenizer, its [CLS] and
// [SEP] in the roles of <s> and </s>; on the synthetic task, over the task's 60 words
// only, which a tiny model learns in a minute where a 3000-token softmax stalls (in
// transformers too).
func tinyBARTConfig(synthetic bool) (bart.Config, *tokenize.Tokenizer, error) {
	tok := tokenize.Builtin()
	if synthetic {
		var err error
		if tok, err = tokenize.BuiltinWords(nlg.SyntheticWords()); err != nil {
			return bart.Config{}, nil, err
		}
	}
	c := bart.Tiny(tok.VocabSize())
	cls, _ := tok.TokenID("[CLS]")
	sep, _ := tok.TokenID("[SEP]")
	c.PadTokenID, c.BosTokenID, c.EosTokenID, c.DecoderStartTokenID, c.ForcedEosTokenID = tok.PadID(), cls, sep, sep, &sep
	return c, tok, nil
}

// pretrainTiny makes sure the pre-trained tiny BART is cached when the command runs
// the built-in model on synthetic summarisation, pre-training it now if not, and
// points the model source at it.
func (c *command) pretrainTiny() error {
	if c.src.dir != "" || c.o.Suite != "nlg" || c.o.Data != "synthetic" {
		return nil
	}
	conf, tok, err := tinyBARTConfig(true)
	if err != nil {
		return err
	}
	path, err := tinyBARTPath(conf, tok)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(c.stderr, "pre-training the built-in tiny BART (once, about a minute; cached in %s)\n", path)
		start := time.Now()
		if err := pretrainAndSave(conf, tok, path); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "pre-trained in %.0f s\n", time.Since(start).Seconds())
	}
	sum, _, err := reports.FileSHA256(path)
	if err != nil {
		return err
	}
	r := tinyBARTPretraining
	c.src.tinyWeights, c.src.info.WeightsSHA256 = path, sum
	c.src.info.Source += fmt.Sprintf(", pre-trained by the harness on %d synthetic documents (denoising, mask rate %.2f, %d steps)",
		r.Docs, r.MaskRate, r.Steps)
	return nil
}

// tinyBARTPath names the cached weights by a hash of the config, the vocabulary and
// the recipe.
func tinyBARTPath(c bart.Config, tok *tokenize.Tokenizer) (string, error) {
	cache, err := realmodel.CacheDir()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, v := range []any{c, tinyBARTPretraining} {
		raw, err := json.Marshal(v)
		if err != nil {
			return "", err
		}
		h.Write(raw)
	}
	for id := range tok.VocabSize() {
		w, err := tok.Decode([]int64{id}, false)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%d %s\n", id, w)
	}
	return filepath.Join(cache, "tiny", fmt.Sprintf("bart-denoise-%x.safetensors", h.Sum(nil)[:8])), nil
}

// loadTinyBART reads the cached pre-trained weights.
func loadTinyBART(c bart.Config, path string) (*bart.Model, error) {
	tensors, err := safetensors.Load(path)
	if err != nil {
		return nil, fmt.Errorf("%w (the cached pre-trained tiny BART; delete the file to pre-train it again)", err)
	}
	defer func() {
		for _, t := range tensors {
			t.MustDrop()
		}
	}()
	m, _, err := bart.FromTensors(c, tensors, path)
	if err != nil {
		return nil, fmt.Errorf("%w (the cached pre-trained tiny BART; delete the file to pre-train it again)", err)
	}
	return m, nil
}

// pretrainAndSave pre-trains a random-init tiny BART and writes its weights to path
// (atomically: a run killed meanwhile leaves no partial file).
func pretrainAndSave(c bart.Config, tok *tokenize.Tokenizer, path string) error {
	m, err := bart.New(c, uint64(tinyBARTPretraining.Seed))
	if err != nil {
		return err
	}
	if err := pretrain(m, tok, tinyBARTPretraining); err != nil {
		return fmt.Errorf("pre-training the tiny BART: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("caching the pre-trained tiny BART: %w (set VECTORFIT_CACHE to a writable folder)", err)
	}
	tensors := map[string]*ts.Tensor{"final_logits_bias": m.FinalLogitsBias()}
	for _, p := range m.Params() {
		tensors[p.Name] = p.T
	}
	if err := safetensors.Save(path, tensors, map[string]string{"recipe": fmt.Sprintf("%+v", tinyBARTPretraining)}); err != nil {
		return fmt.Errorf("caching the pre-trained tiny BART: %w (set VECTORFIT_CACHE to a writable folder)", err)
	}
	return nil
}

// pretrain trains every parameter of m on the denoising task with AdamW, as the
// runner trains full fine-tuning.
func pretrain(m *bart.Model, tok *tokenize.Tokenizer, r tinyPretraining) error {
	docs := nlg.SyntheticPretraining(r.Docs, r.MaskRate, uint64(r.Seed))
	dev := nlg.Split{Name: "pretraining-dev", Path: docs.Path, Examples: docs.Examples[:8]}
	gen := bart.DefaultGeneration(m.Config)
	gen.NumBeams, gen.MaxLength = 1, int64(r.MaxTokens)
	generate := func(ids, mask *ts.Tensor) ([][]int64, error) { return m.Generate(ids, mask, gen) }
	decode := func(ids []int64) (string, error) { return tok.Decode(ids, true) }
	task, err := nlg.NewFinetune(m, tok, docs, dev, nlg.Options{SourceLen: r.MaxTokens, TargetLen: r.MaxTokens, BatchSize: r.Batch, Seed: uint64(r.Seed)}, generate, decode)
	if err != nil {
		return err
	}
	var params []train.Param
	for _, p := range m.Params() {
		p.T.MustRequiresGrad_(true)
		params = append(params, train.Param{Name: p.Name, T: p.T})
	}
	defer func() {
		for _, p := range params {
			p.T.MustRequiresGrad_(false)
		}
	}()
	cfg := train.Config{MaxSteps: r.Steps, WarmupSteps: r.Warmup, EvalEvery: r.Steps, Seed: r.Seed}
	_, err = train.Run(cfg, task, cfg.AdamW([]train.Group{{Params: params, LR: r.LR}}))
	return err
}
