// Package registry resolves methods by name: adding a method is one line here and a
// package under methods/, never a change to a suite.
package registry

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/methods/adalora"
	"github.com/vectorfit/harness/methods/bitfit"
	"github.com/vectorfit/harness/methods/dora"
	"github.com/vectorfit/harness/methods/fullft"
	"github.com/vectorfit/harness/methods/hadapter"
	"github.com/vectorfit/harness/methods/lora"
	"github.com/vectorfit/harness/methods/padapter"
	"github.com/vectorfit/harness/methods/pissa"
	"github.com/vectorfit/harness/methods/svft"
	"github.com/vectorfit/harness/methods/vectorfit"
)

// factories build a method from its options.
var factories = map[string]func(o *methods.Options) (methods.Method, error){
	"vectorfit": func(o *methods.Options) (methods.Method, error) {
		d := vectorfit.DefaultConfig()
		return vectorfit.New(vectorfit.Config{
			Targets:     o.LayerTypes("targets", d.Targets),
			TrainBias:   o.Bool("bias", d.TrainBias),
			FreezeSigma: !o.Bool("sigma", !d.FreezeSigma),
			Forward:     o.String("forward", d.Forward),
			AVF: vectorfit.AVFConfig{
				Mode:     o.String("avf", d.AVF.Mode),
				K:        o.Int("k", d.AVF.K),
				Interval: o.Int("interval", d.AVF.Interval),
				Strength: o.String("strength", d.AVF.Strength),
				Start:    o.Int("start", d.AVF.Start),
				Stop:     o.Int("stop", d.AVF.Stop),
				Seed:     uint64(o.Int("seed", 0)),
			},
		})
	},
	"lora": func(o *methods.Options) (methods.Method, error) {
		d := lora.DefaultConfig()
		return lora.New(lora.Config{
			R:       int64(o.Int("r", int(d.R))),
			Alpha:   o.Float("alpha", d.Alpha),
			Dropout: o.Float("dropout", d.Dropout),
			Targets: o.LayerTypes("targets", d.Targets),
			Seed:    uint64(o.Int("seed", 0)),
		})
	},
	"fullft":   func(*methods.Options) (methods.Method, error) { return fullft.New(), nil },
	"bitfit":   bitfit.Factory,
	"pissa":    pissa.Factory,
	"dora":     dora.Factory,
	"hadapter": hadapter.Factory,
	"padapter": padapter.Factory,
	"svft":     svft.Factory,
	"adalora":  adalora.Factory,
}

// Ablations are the VectorFit paper's ablations, each a method name of its own so that
// one -method list runs them and the report shows each as its own row, named as the
// paper names it (reports.MethodLabel): VectorFit with the preset options, which win
// over the same keys given by -vectorfit.
var Ablations = map[string]map[string]string{
	"vectorfit-noavf":  {"avf": "none"},
	"vectorfit-random": {"avf": "random"},
	"vectorfit-sigma":  {"bias": "false"},
	"vectorfit-bias":   {"sigma": "false"},
	"vectorfit-attn":   {"targets": "query+key+value+attn_out"},
	"vectorfit-ffn":    {"targets": "ffn_up+ffn_down"},
}

func init() {
	for name, preset := range Ablations {
		factories[name] = func(o *methods.Options) (methods.Method, error) {
			return factories["vectorfit"](o.With(preset))
		}
	}
}

// Base is the method an ablation varies ("vectorfit-noavf" → "vectorfit"), or name.
func Base(name string) string {
	if _, ok := Ablations[name]; ok {
		return "vectorfit"
	}
	return name
}

// Names lists the registered methods.
func Names() []string {
	var n []string
	for k := range factories {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// New builds the named method from key=value options (nil for the defaults).
func New(name string, kv map[string]string) (methods.Method, error) {
	f, ok := factories[name]
	if !ok {
		return nil, fmt.Errorf("unknown method %q, want one of %s", name, strings.Join(Names(), ", "))
	}
	o := methods.NewOptions(name, kv)
	o.Int("seed", 0) // every method accepts the run's seed (marked read: an unseeded one ignores it)
	m, err := f(o)
	if oerr := o.Err(); oerr != nil {
		return nil, oerr
	}
	return m, err
}

// ParseList splits "vectorfit,lora" into checked method names.
func ParseList(list string) ([]string, error) {
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if _, ok := factories[n]; !ok {
			return nil, fmt.Errorf("unknown method %q in %q, want one of %s", n, list, strings.Join(Names(), ", "))
		}
		out = append(out, n)
	}
	return out, nil
}
