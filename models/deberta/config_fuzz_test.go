package deberta

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vectorfit/harness/internal/testmodel/configcheck"
)

const fuzzSource = configcheck.Source

// small is a valid DeBERTa-v3-style config.json body without its closing brace.
const small = `{"model_type": "deberta-v2", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
	"num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 20, "relative_attention": true,
	"position_buckets": 4, "pos_att_type": "p2c|c2p", "share_att_key": true, "position_biased_input": false`

// FuzzParseConfig checks that no config.json makes ParseConfig panic, that every
// refusal names the file, and that an accepted configuration describes a model whose
// parameter specs can be built and counted: positive dimensions, at most
// models.MaxParams parameters. Seeds: the fixtures' config.json files and the guard
// cases of TestConfigGuards. Run with
// `go test -run '^$' -fuzz FuzzParseConfig -fuzztime 45s -parallel 1 ./models/deberta`.
func FuzzParseConfig(f *testing.F) {
	for _, name := range fixtureNames {
		raw, err := os.ReadFile(filepath.Join(fixtures, name, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, tc := range configGuards {
		f.Add([]byte(tc.body))
	}
	for _, s := range []string{``, `null`, `{}`, `{"model_type": "deberta-v2"}`, small + `}`,
		small + `, "pos_att_type": null, "max_relative_positions": -1, "position_buckets": -1}`,
		small + `, "share_att_key": false, "pos_att_type": ["c2p"], "norm_rel_ebd": "layer_norm|none"}`} {
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
		if c.attSpan() < 1 || c.scaleFactor() < 1 {
			t.Fatalf("accepted config has attention span %d, scale factor %d", c.attSpan(), c.scaleFactor())
		}
	})
}

// configGuards are config.json values that used to be accepted and then hang, crash
// or silently compute something else later; each must be refused naming its key.
var configGuards = []struct{ body, want string }{
	{small + `, "num_hidden_layers": 1000000000000}`, "num_hidden_layers = 1000000000000, want at most 1024"},
	// 2 × 2⁶² relative-embedding rows wraps around to a negative shape.
	{small + `, "position_buckets": 4611686018427387904}`, "position_buckets = 4611686018427387904, want at most 2147483648"},
	{small + `, "position_buckets": -1, "max_relative_positions": 4611686018427387904}`, "max_relative_positions = 4611686018427387904, want at most"},
	{small + `, "vocab_size": 2000000000, "hidden_size": 65536, "pooler_hidden_size": 65536}`, "the model would have more than 17179869184 parameters"},
	{small + `, "num_labels": -5}`, "num_labels = -5, want > 0"},
	{small + `, "hidden_dropout_prob": 2}`, "hidden_dropout_prob = 2, want a probability in [0, 1]"},
	{small + `, "attention_probs_dropout_prob": -0.5}`, "attention_probs_dropout_prob = -0.5, want a probability in [0, 1]"},
	{small + `, "pooler_dropout": 1.1}`, "pooler_dropout = 1.1, want a probability in [0, 1]"},
	{small + `, "cls_dropout": 7}`, "cls_dropout = 7, want a probability in [0, 1]"},
	{small + `, "layer_norm_eps": -1e-7}`, "layer_norm_eps = -1e-07, want >= 0"},
	{small + `, "initializer_range": -1}`, "initializer_range = -1, want >= 0"},
	{small + `, "max_position_embeddings": 3000000000}`, "max_position_embeddings = 3000000000, want at most"},
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
}
