package methods

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vectorfit/harness/models"
)

// Options are a method's settings as key=value strings (from flags or a config file).
// Each getter marks its key as read; Unused then names the keys nobody read, so a typo
// is an error instead of a silently ignored setting.
type Options struct {
	Method string
	values map[string]string
	read   map[string]bool
	errs   []string
}

// NewOptions wraps key=value settings of one method.
func NewOptions(method string, kv map[string]string) *Options {
	return &Options{Method: method, values: kv, read: map[string]bool{}}
}

// With sets the preset keys over the given ones (an ablation's fixed settings) and
// returns o.
func (o *Options) With(preset map[string]string) *Options {
	merged := make(map[string]string, len(o.values)+len(preset))
	for k, v := range o.values {
		merged[k] = v
	}
	for k, v := range preset {
		merged[k] = v
	}
	o.values = merged
	return o
}

func (o *Options) get(key string) (string, bool) {
	o.read[key] = true
	v, ok := o.values[key]
	return v, ok
}

func (o *Options) fail(key, v, want string) {
	o.errs = append(o.errs, fmt.Sprintf("%s option %s=%q: want %s", o.Method, key, v, want))
}

// Int reads an integer option.
func (o *Options) Int(key string, def int) int {
	v, ok := o.get(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		o.fail(key, v, "an integer")
	}
	return n
}

// Float reads a float option.
func (o *Options) Float(key string, def float64) float64 {
	v, ok := o.get(key)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		o.fail(key, v, "a number")
	}
	return f
}

// Bool reads a boolean option.
func (o *Options) Bool(key string, def bool) bool {
	v, ok := o.get(key)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		o.fail(key, v, "true or false")
	}
	return b
}

// String reads a string option.
func (o *Options) String(key, def string) string {
	if v, ok := o.get(key); ok {
		return v
	}
	return def
}

// LayerTypes reads "all" or a "+"- or ","-separated list of layer types.
func (o *Options) LayerTypes(key string, def []models.LayerType) []models.LayerType {
	v, ok := o.get(key)
	if !ok || v == "all" {
		return def
	}
	var out []models.LayerType
	for _, s := range strings.FieldsFunc(v, func(r rune) bool { return r == '+' || r == ',' }) {
		t, err := models.ParseLayerType(s)
		if err != nil {
			o.fail(key, v, fmt.Sprintf("all or layer types from %v joined by +", models.LayerTypes))
			return def
		}
		out = append(out, t)
	}
	return out
}

// Err reports malformed values and keys no getter read.
func (o *Options) Err() error {
	errs := slices.Clone(o.errs)
	var unknown []string
	for k := range o.values {
		if !o.read[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	if len(unknown) > 0 {
		known := make([]string, 0, len(o.read))
		for k := range o.read {
			known = append(known, k)
		}
		slices.Sort(known)
		errs = append(errs, fmt.Sprintf("%s has no option %s (it has %s)", o.Method, strings.Join(unknown, ", "), strings.Join(known, ", ")))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(errs, "; "))
}
