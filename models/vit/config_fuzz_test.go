package vit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vectorfit/harness/internal/testmodel/configcheck"
)

const fuzzSource = configcheck.Source

// small is a valid ViT config.json body without its closing brace.
const small = `{"model_type": "vit", "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
	"intermediate_size": 16, "image_size": 8, "patch_size": 4, "num_labels": 3`

// FuzzParseConfig checks that no config.json makes ParseConfig panic, that every
// refusal names the file, and that an accepted configuration describes a model whose
// parameter specs can be built and counted: positive dimensions, at most
// models.MaxParams parameters, as many position embeddings as patches + 1. Seeds: the
// fixture's config.json and the guard cases of TestConfigGuards. Run with
// `go test -run '^$' -fuzz FuzzParseConfig -fuzztime 45s -parallel 1 ./models/vit`.
func FuzzParseConfig(f *testing.F) {
	raw, err := os.ReadFile(filepath.Join(fixtures, "config.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	for _, tc := range configGuards {
		f.Add([]byte(tc.body))
	}
	for _, s := range []string{``, `null`, `{}`, `{"model_type": "vit"}`, small + `}`, small + `, "qkv_bias": false}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := ParseConfig(raw, fuzzSource)
		if configcheck.Refused(t, err) {
			return
		}
		configcheck.Buildable(t, Specs(c))
		if g := c.ImageSize / c.PatchSize; c.NumPatches() != g*g || g < 1 {
			t.Fatalf("accepted config has %d patches for a %d-patch grid", c.NumPatches(), g)
		}
	})
}

// configGuards are config.json values that used to be accepted and then hang, crash
// or silently compute something else later; each must be refused naming its key.
var configGuards = []struct{ body, want string }{
	{small + `, "num_hidden_layers": 1000000000000}`, "num_hidden_layers = 1000000000000, want at most 1024"},
	// A 2³² × 2³² patch grid: its square wraps around to 0, one position embedding.
	{small + `, "image_size": 4294967296, "patch_size": 1}`, "image_size = 4294967296, want at most 2147483648"},
	// A 2³¹-patch-wide grid has 2⁶² patches, × 8 features.
	{small + `, "image_size": 2147483648, "patch_size": 1}`, "the model would have a parameter vit.embeddings.position_embeddings of shape [1 4611686018427387905 8], more than 2^63 elements"},
	{small + `, "image_size": 1048576, "patch_size": 1}`, "the model would have more than 17179869184 parameters"},
	{small + `, "hidden_dropout_prob": 2}`, "hidden_dropout_prob = 2, want a probability in [0, 1]"},
	{small + `, "attention_probs_dropout_prob": -1}`, "attention_probs_dropout_prob = -1, want a probability in [0, 1]"},
	{small + `, "layer_norm_eps": -1}`, "layer_norm_eps = -1, want >= 0"},
	{small + `, "initializer_range": -1}`, "initializer_range = -1, want >= 0"},
	{small + `, "num_channels": 3000000000}`, "num_channels = 3000000000, want at most"},
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
