package bert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vectorfit/harness/internal/testmodel/configcheck"
)

const fuzzSource = configcheck.Source

// small is a valid BERT config.json body without its closing brace, for the cases below.
const small = `{"model_type": "bert", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
	"num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 20`

// FuzzParseConfig checks that no config.json makes ParseConfig panic, that every
// refusal names the file, and that an accepted configuration describes a model whose
// parameter specs can be built and counted: positive dimensions, at most
// models.MaxParams parameters. Seeds: the fixtures' config.json files and the guard
// cases of TestConfigGuards. Run with
// `go test -run '^$' -fuzz FuzzParseConfig -fuzztime 45s -parallel 1 ./models/bert`.
func FuzzParseConfig(f *testing.F) {
	for _, p := range []string{filepath.Join(fixtures, "config.json"), filepath.Join(robertaFixtures, "config.json"),
		"../testdata/bert_qa/config.json"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, tc := range configGuards {
		f.Add([]byte(tc.body))
	}
	for _, s := range []string{``, `null`, `[]`, `{}`, `{"model_type": "roberta"}`, small + `}`,
		small + `, "id2label": {"0": "a", "1": "b", "2": "c", "3": "d"}}`, small + `, "classifier_dropout": 0.3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw, fuzzSource)
		if configcheck.Refused(t, err) {
			return
		}
		for _, head := range []Head{Classification, Span} {
			configcheck.Buildable(t, Specs(c, head))
		}
	})
}

// configGuards are config.json values that used to be accepted and then hang, crash
// or silently compute something else later; each must be refused naming its key.
var configGuards = []struct{ body, want string }{
	// Building the parameter list alone would loop 10¹² times.
	{small + `, "num_hidden_layers": 1000000000000}`, "num_hidden_layers = 1000000000000, want at most 1024"},
	// 2³² × 2³² wraps around int64.
	{small + `, "vocab_size": 4294967296, "hidden_size": 4294967296, "num_attention_heads": 1}`, "vocab_size = 4294967296, want at most 2147483648"},
	// Sane sizes, absurd product: a 2-billion-token vocabulary × 65536 features.
	{small + `, "vocab_size": 2000000000, "hidden_size": 65536}`, "the model would have more than 17179869184 parameters"},
	// A fresh head of -5 rows is a libtorch error (a panic in Must*) at initialisation.
	{small + `, "num_labels": -5}`, "num_labels = -5, want > 0"},
	// Dropout outside [0, 1] fails only in the first training forward pass.
	{small + `, "hidden_dropout_prob": 2}`, "hidden_dropout_prob = 2, want a probability in [0, 1]"},
	{small + `, "attention_probs_dropout_prob": -0.1}`, "attention_probs_dropout_prob = -0.1, want a probability in [0, 1]"},
	{small + `, "classifier_dropout": 1.5}`, "classifier_dropout = 1.5, want a probability in [0, 1]"},
	{small + `, "layer_norm_eps": -1e-12}`, "layer_norm_eps = -1e-12, want >= 0"},
	{small + `, "initializer_range": -0.02}`, "initializer_range = -0.02, want >= 0"},
	// RoBERTa's position ids start at pad_token_id: outside the vocabulary, as
	// transformers' nn.Embedding(padding_idx=...) also refuses.
	{`{"model_type": "roberta", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
		"intermediate_size": 16, "max_position_embeddings": 20, "pad_token_id": 10}`, "pad_token_id = 10, want in [0, vocab_size 10)"},
	{small + `, "pad_token_id": -1}`, "pad_token_id = -1, want in [0, vocab_size 10)"},
	{small + `, "hidden_size": "8"}`, "Config.hidden_size of type int64"},
	{`{"model_type": "bert", "vocab_size": 1e400}`, "not a config.json"},
}

func TestConfigGuards(t *testing.T) {
	if _, err := ParseConfig([]byte(small+`}`), fuzzSource); err != nil {
		t.Fatalf("the base case is refused: %v", err)
	}
	for _, tc := range configGuards {
		_, err := ParseConfig([]byte(tc.body), fuzzSource)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), fuzzSource+": ") {
			t.Errorf("%s\nerror %v, want one naming %s and containing %q", tc.body, err, fuzzSource, tc.want)
		}
	}
	// Validate runs again on a configuration the caller adjusted (the runner sets
	// the classifier dropout from a flag).
	c, _ := ParseConfig([]byte(small+`}`), fuzzSource)
	two := 2.0
	c.ClassifierDropout = &two
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "classifier_dropout = 2") {
		t.Errorf("classifier dropout 2 set after parsing: %v", err)
	}
}
