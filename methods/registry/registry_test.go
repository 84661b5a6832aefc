package registry

import (
	"strings"
	"testing"
)

func TestNewResolvesAndChecksOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    map[string]string
		wantErr string // "" = no error
		desc    string
	}{
		{"vectorfit", nil, "", "vectorfit(targets=all, bias, avf k=4 every 100 (l1))"},
		{"vectorfit", map[string]string{"k": "2", "interval": "50", "targets": "query+value", "bias": "false"}, "", "vectorfit(targets=query+value, no bias, avf k=2 every 50 (l1))"},
		{"vectorfit", map[string]string{"avf": "none"}, "", "vectorfit(targets=all, bias, no avf)"},
		{"lora", map[string]string{"r": "4", "alpha": "8"}, "", "lora(r=4, alpha=8, dropout=0.05, targets=all)"},
		{"fullft", nil, "", "fullft(all parameters)"},
		{"vectorfit", map[string]string{"kk": "2"}, "vectorfit has no option kk", ""},
		{"vectorfit", map[string]string{"k": "two"}, `vectorfit option k="two": want an integer`, ""},
		{"vectorfit", map[string]string{"targets": "query+mlp"}, "want all or layer types", ""},
		{"vectorfit", map[string]string{"avf": "sometimes"}, `avf mode "sometimes"`, ""},
		{"lora", map[string]string{"r": "0"}, "r = 0", ""},
		{"prefix", nil, `unknown method "prefix"`, ""},
		// The ablations are VectorFit with preset options, which win over given ones.
		{"vectorfit-noavf", map[string]string{"avf": "random"}, "", "vectorfit(targets=all, bias, no avf)"},
		{"vectorfit-bias", nil, "", "vectorfit(targets=all, bias only, no singular values, avf k=4 every 100 (l1))"},
		{"vectorfit-ffn", map[string]string{"k": "2"}, "", "vectorfit(targets=ffn_up+ffn_down, bias, avf k=2 every 100 (l1))"},
		{"vectorfit", map[string]string{"sigma": "false", "bias": "false"}, "train nothing", ""},
		{"bitfit", map[string]string{"seed": "3"}, "", "bitfit(biases=all)"},
	}
	for _, tt := range tests {
		m, err := New(tt.name, tt.opts)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New(%s, %v): error %v, want one containing %q", tt.name, tt.opts, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("New(%s, %v): %v", tt.name, tt.opts, err)
			continue
		}
		if got := m.Describe(); got != tt.desc {
			t.Errorf("New(%s, %v).Describe() = %q, want %q", tt.name, tt.opts, got, tt.desc)
		}
	}
}

func TestParseList(t *testing.T) {
	got, err := ParseList("vectorfit, lora,fullft")
	if err != nil || strings.Join(got, " ") != "vectorfit lora fullft" {
		t.Errorf("ParseList = %v, %v", got, err)
	}
	if _, err := ParseList("vectorfit,prefix"); err == nil || !strings.Contains(err.Error(), `"prefix"`) {
		t.Errorf("ParseList with an unknown method: %v", err)
	}
}
