// Package padapter is the Pfeiffer bottleneck adapter (Pfeiffer et al., 2021,
// "AdapterFusion: Non-Destructive Task Composition for Transfer Learning"): one adapter
// per transformer block, after the FFN only, as the `adapters` package's "seq_bn" /
// SeqBnConfig (adapters 1.0.1): reduction_factor 16, non_linearity "relu", "bert"
// initialisation (weights N(0, 0.02²), biases zero). The layer is hadapter's.
//
// What differs from the package. SeqBnConfig sets original_ln_before=True: with h the
// FFN output after dropout, t the block's residual input and LN the block's (frozen)
// output LayerNorm, the package computes
//
//	LN(h + up(relu(down(LN(h + t)))) + t)
//
// (residual_before_ln=True keeps h, not LN(h+t), as the adapter's own residual;
// original_ln_after=True applies LN once more). The adapter's input LN(h + t) needs the
// block's residual and LayerNorm, which a Forwarder on the ffn_down linear does not see.
// Here the adapter reads h itself:
//
//	LN(h + up(relu(down(h))) + t)
//
// which is exactly the package's SeqBnConfig(original_ln_before=False) (the equivalence
// fixture checks against that config, and records how far the genuine seq_bn is from it).
// Trainable parameters, their count and the placement in the block are the same; only
// the adapter's input is the FFN output instead of its post-LayerNorm sum with the residual.
package padapter

import (
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/hadapter"
	"github.com/vectorfit/harness/models"
)

// PfeifferConfig is SeqBnConfig's: reduction 16, relu, after the FFN output projection.
func PfeifferConfig() hadapter.Config {
	return hadapter.Config{Method: "padapter", ReductionFactor: 16, NonLinearity: "relu",
		Targets: []models.LayerType{models.FFNDown}}
}

// New returns the Pfeiffer adapter with cfg.
func New(cfg hadapter.Config) (*hadapter.Adapters, error) { return hadapter.New(cfg) }

// Factory builds the Pfeiffer adapter from options reduction_factor, non_linearity, seed.
func Factory(o *methods.Options) (methods.Method, error) {
	return hadapter.FromOptions(o, PfeifferConfig())
}
