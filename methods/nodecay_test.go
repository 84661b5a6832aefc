package methods

import "testing"

// Every family's LayerNorm spelling and every bias is excluded from weight decay, as
// the Hugging Face Trainer excludes LayerNorm modules and biases; weights are not.
func TestNoDecay(t *testing.T) {
	for name, want := range map[string]bool{
		"bert.encoder.layer.0.attention.output.LayerNorm.weight": true,
		"vit.encoder.layer.0.layernorm_before.weight":            true,
		"vit.layernorm.weight":                                   true,
		"model.encoder.layernorm_embedding.weight":               true,
		"model.decoder.layers.0.self_attn_layer_norm.weight":     true,
		"bert.encoder.layer.0.attention.self.query.bias":         true,
		"bert.encoder.layer.0.attention.self.query.weight":       false,
		"model.shared.weight":                                    false,
		"classifier.weight":                                      false,
	} {
		if got := NoDecay(name); got != want {
			t.Errorf("NoDecay(%q) = %v, want %v", name, got, want)
		}
	}
}
