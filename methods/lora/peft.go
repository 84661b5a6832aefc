package lora

// Loading PEFT LoRA adapters (adapter_config.json + adapter_model.safetensors, as
// peft 0.12.0's save_pretrained writes them). The adapter's own configuration decides
// which modules are adapted, with which rank and scaling: target_modules is matched as
// peft's check_target_module_exists does, r and lora_alpha per module as
// LoraModel._create_and_replace picks them from rank_pattern and alpha_pattern. A
// setting this LoRA cannot reproduce is refused with the key and value, never ignored.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// peftPrefix is how PEFT names the wrapped model's modules in adapter_model.safetensors.
const peftPrefix = "base_model.model."

// PEFTConfig is a PEFT LoraConfig as adapter_config.json stores it.
type PEFTConfig struct {
	Path    string // the adapter_config.json read
	R       int64
	Alpha   float64
	Dropout float64 // lora_dropout: training only
	// Exactly one of TargetRegex (target_modules as a string: re.fullmatch on the
	// module name) and TargetList (a list: a name equal to an entry or ending in
	// "."+entry) is set.
	TargetRegex string
	TargetList  []string
	// LayersToTransform (nil: every layer) keeps only modules of these layer indices,
	// found with LayersPattern (empty: any "<name>.<index>." in the module name). As in
	// PEFT, it applies to list targets only.
	LayersToTransform []int
	LayersPattern     []string
	// RankPattern and AlphaPattern override r and lora_alpha for modules whose name
	// matches ".*\.<key>$", in the file's order (PEFT's dicts keep it).
	RankPattern, AlphaPattern []patternEntry
	RSLoRA                    bool   // use_rslora: scaling α/√r instead of α/r
	Bias                      string // "none", "all" or "lora_only": which biases the file carries
	ModulesToSave             []string

	targetRe *regexp.Regexp
	layerRes []*regexp.Regexp
	patRes   []*regexp.Regexp // RankPattern then AlphaPattern keys
}

// patternEntry is one key: value of rank_pattern or alpha_pattern.
type patternEntry struct {
	Key   string
	Value float64
}

// ignoredKeys are adapter_config.json keys that do not change the forward pass of a
// loaded adapter: bookkeeping, or initialisation that the saved weights replace.
var ignoredKeys = []string{
	"auto_mapping", "base_model_name_or_path", "inference_mode", "megatron_core", "revision", "task_type", "runtime_config",
}

// ReadPEFTConfig reads dir/adapter_config.json. A key this loader does not know is an
// error unless its value is empty (null, false, "", [], {}), and so is a known setting
// it cannot reproduce (DoRA, layer replication, LoftQ/PiSSA/OLoRA initialisation, which
// change the base weights, ...).
func ReadPEFTConfig(dir string) (PEFTConfig, error) {
	path := filepath.Join(dir, "adapter_config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return PEFTConfig{}, err
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return PEFTConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	c := PEFTConfig{Path: path, Alpha: 8, Bias: "none"} // PEFT's defaults for absent keys
	r := &configReader{path: path, keys: keys}
	r.str("peft_type", func(s string) error {
		if s != "LORA" {
			return fmt.Errorf("a %s adapter, not LORA", s)
		}
		return nil
	})
	r.num("r", func(v float64) error {
		if v <= 0 || v != math.Trunc(v) {
			return fmt.Errorf("want a positive integer")
		}
		c.R = int64(v)
		return nil
	})
	r.num("lora_alpha", func(v float64) error { c.Alpha = v; return nil })
	r.num("lora_dropout", func(v float64) error { c.Dropout = v; return nil })
	r.targets(&c)
	r.layers(&c)
	c.RankPattern = r.patterns("rank_pattern", true)
	c.AlphaPattern = r.patterns("alpha_pattern", false)
	r.boolean("use_rslora", func(b bool) error { c.RSLoRA = b; return nil })
	r.boolean("use_dora", func(b bool) error {
		if b {
			return fmt.Errorf("a DoRA adapter (magnitude vectors), which this LoRA does not implement")
		}
		return nil
	})
	// PEFT resets fan_in_fan_out to false on torch.nn.Linear (with a warning); it only
	// matters for GPT-2's Conv1D, and every adaptable linear of our models is a Linear.
	r.boolean("fan_in_fan_out", func(bool) error { return nil })
	r.str("bias", func(s string) error {
		if !slices.Contains([]string{"none", "all", "lora_only"}, s) {
			return fmt.Errorf(`want "none", "all" or "lora_only"`)
		}
		c.Bias = s
		return nil
	})
	r.strList("modules_to_save", func(l []string) error { c.ModulesToSave = l; return nil })
	r.any("init_lora_weights", func(v any) error {
		switch x := v.(type) {
		case bool:
			return nil
		case string:
			if x == "gaussian" {
				return nil // only draws A differently; the saved A replaces it
			}
		}
		return fmt.Errorf("this initialisation rewrites the base weights when the adapter is created; load such an adapter merged instead")
	})
	r.any("loftq_config", func(v any) error {
		if m, ok := v.(map[string]any); ok && len(m) == 0 {
			return nil
		}
		return fmt.Errorf("LoftQ quantises the base weights")
	})
	for k := range keys {
		if !r.seen[k] && !slices.Contains(ignoredKeys, k) && !isEmptyJSON(keys[k]) {
			r.fail(k, "not supported by this loader (it knows peft 0.12.0's LoraConfig)")
		}
	}
	if r.err != nil {
		return c, r.err
	}
	if c.R == 0 {
		return c, fmt.Errorf("%s: no \"r\"", path)
	}
	if c.TargetRegex == "" && c.TargetList == nil {
		return c, fmt.Errorf("%s: no \"target_modules\": PEFT writes the modules it adapted there", path)
	}
	return c, c.compile()
}

// configReader reads adapter_config.json's keys, remembering the first error.
type configReader struct {
	path string
	keys map[string]json.RawMessage
	seen map[string]bool
	err  error
}

func (r *configReader) fail(key, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %q = %s: %s", r.path, key, compactJSON(r.keys[key]), fmt.Sprintf(format, args...))
	}
}

// any decodes key (if present and not null) and passes it to check.
func (r *configReader) any(key string, check func(any) error) {
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	r.seen[key] = true
	raw, ok := r.keys[key]
	if !ok || string(bytes.TrimSpace(raw)) == "null" {
		return
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		r.fail(key, "%v", err)
		return
	}
	if err := check(v); err != nil {
		r.fail(key, "%v", err)
	}
}

func (r *configReader) str(key string, check func(string) error) {
	r.any(key, func(v any) error {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string")
		}
		return check(s)
	})
}

func (r *configReader) num(key string, check func(float64) error) {
	r.any(key, func(v any) error {
		f, ok := v.(float64)
		if !ok {
			return fmt.Errorf("want a number")
		}
		return check(f)
	})
}

func (r *configReader) boolean(key string, check func(bool) error) {
	r.any(key, func(v any) error {
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want true or false")
		}
		return check(b)
	})
}

func (r *configReader) strList(key string, check func([]string) error) {
	r.any(key, func(v any) error {
		l, ok := toStrings(v)
		if !ok {
			return fmt.Errorf("want a list of strings")
		}
		return check(l)
	})
}

func toStrings(v any) ([]string, bool) {
	items, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(items))
	for i, it := range items {
		if out[i], ok = it.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

// targets reads target_modules: a regex string or a list of names.
func (r *configReader) targets(c *PEFTConfig) {
	r.any("target_modules", func(v any) error {
		if s, ok := v.(string); ok {
			c.TargetRegex = s
			return nil
		}
		l, ok := toStrings(v)
		if !ok || len(l) == 0 {
			return fmt.Errorf("want a regular expression or a non-empty list of module names")
		}
		c.TargetList = l
		return nil
	})
}

// layers reads layers_to_transform (an int or a list) and layers_pattern (a string or
// a list); layer_replication, which copies layers, is refused.
func (r *configReader) layers(c *PEFTConfig) {
	r.any("layers_to_transform", func(v any) error {
		if f, ok := v.(float64); ok {
			v = []any{f}
		}
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want a layer index or a list of them")
		}
		c.LayersToTransform = []int{}
		for _, it := range items {
			f, ok := it.(float64)
			if !ok || f != math.Trunc(f) {
				return fmt.Errorf("want integer layer indices")
			}
			c.LayersToTransform = append(c.LayersToTransform, int(f))
		}
		return nil
	})
	r.any("layers_pattern", func(v any) error {
		if s, ok := v.(string); ok {
			v = []any{s}
		}
		l, ok := toStrings(v)
		if !ok {
			return fmt.Errorf("want a string or a list of strings")
		}
		c.LayersPattern = l
		return nil
	})
	r.any("layer_replication", func(v any) error {
		if l, ok := v.([]any); ok && len(l) == 0 {
			return nil
		}
		return fmt.Errorf("layer replication (stacking copies of layers) is not supported")
	})
}

// patterns reads rank_pattern or alpha_pattern in the file's key order, which decides
// which key wins when several match a module (PEFT takes the first).
func (r *configReader) patterns(key string, integer bool) []patternEntry {
	var out []patternEntry
	r.any(key, func(any) error {
		dec := json.NewDecoder(bytes.NewReader(r.keys[key]))
		if t, err := dec.Token(); err != nil || t != json.Delim('{') {
			return fmt.Errorf("want an object {module pattern: value}")
		}
		for dec.More() {
			t, err := dec.Token()
			if err != nil {
				return err
			}
			var v float64
			if err := dec.Decode(&v); err != nil {
				return fmt.Errorf("%q: want a number", t)
			}
			if v <= 0 || (integer && v != math.Trunc(v)) {
				return fmt.Errorf("%q: %v, want a positive %s", t, v, map[bool]string{true: "integer", false: "number"}[integer])
			}
			out = append(out, patternEntry{Key: t.(string), Value: v})
		}
		return nil
	})
	return out
}

func isEmptyJSON(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "null", "false", `""`, "[]", "{}":
		return true
	}
	return false
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// compile turns the config's Python regular expressions into Go ones with the same
// anchoring: re.fullmatch(p, s) is ^(?:p)$, re.match(p, s) is ^(?:p). RE2 has no
// look-around or back-references; such a pattern is refused.
func (c *PEFTConfig) compile() error {
	re := func(key, expr string) (*regexp.Regexp, error) {
		x, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %s is not a regular expression Go's RE2 runs the way Python's re does: %v", c.Path, key, expr, err)
		}
		return x, nil
	}
	var err error
	if c.TargetRegex != "" {
		if c.targetRe, err = re("target_modules", `^(?:`+c.TargetRegex+`)$`); err != nil {
			return err
		}
	}
	layerPats := []string{`^(?:.*\.[^.]*\.(\d+)\.)`}
	if len(c.LayersPattern) > 0 {
		layerPats = nil
		for _, p := range c.LayersPattern {
			layerPats = append(layerPats, `^(?:.*\.`+p+`\.(\d+)\.)`)
		}
	}
	for _, p := range layerPats {
		x, err := re("layers_pattern", p)
		if err != nil {
			return err
		}
		c.layerRes = append(c.layerRes, x)
	}
	for _, e := range append(slices.Clone(c.RankPattern), c.AlphaPattern...) {
		x, err := re("rank_pattern/alpha_pattern", `^(?:.*\.`+e.Key+`$)`)
		if err != nil {
			return err
		}
		c.patRes = append(c.patRes, x)
	}
	return nil
}

// Selects says whether PEFT adapts the module called name (check_target_module_exists).
func (c *PEFTConfig) Selects(name string) bool {
	if c.targetRe != nil {
		return c.targetRe.MatchString(name)
	}
	if slices.Contains(c.TargetList, name) {
		return true // named exactly: layers_to_transform does not apply
	}
	found := slices.ContainsFunc(c.TargetList, func(t string) bool { return strings.HasSuffix(name, "."+t) })
	if !found || c.LayersToTransform == nil || len(c.LayersToTransform) == 0 {
		return found
	}
	for _, x := range c.layerRes {
		if m := x.FindStringSubmatch(name); m != nil {
			i, err := strconv.Atoi(m[1])
			return err == nil && slices.Contains(c.LayersToTransform, i)
		}
	}
	return false
}

// RankAlpha is the module's r and lora_alpha: the first rank_pattern or alpha_pattern
// key (in that order) matching ".*\.<key>$" is looked up in both, as PEFT does.
func (c *PEFTConfig) RankAlpha(name string) (int64, float64) {
	keys := append(slices.Clone(c.RankPattern), c.AlphaPattern...)
	key := name
	for i, x := range c.patRes {
		if x.MatchString(name) {
			key = keys[i].Key
			break
		}
	}
	r, alpha := c.R, c.Alpha
	for _, e := range c.RankPattern {
		if e.Key == key {
			r = int64(e.Value)
			break
		}
	}
	for _, e := range c.AlphaPattern {
		if e.Key == key {
			alpha = e.Value
			break
		}
	}
	return r, alpha
}

// Scaling is α/r, or α/√r with use_rslora (Kalajdzievski, 2023).
func (c *PEFTConfig) Scaling(r int64, alpha float64) float64 {
	if c.RSLoRA {
		return alpha / math.Sqrt(float64(r))
	}
	return alpha / float64(r)
}

// peftLayer is one module the adapter adapts, with its weights from the file.
type peftLayer struct {
	linear  *models.Linear
	r       int64
	alpha   float64
	scaling float64
	a, b    *ts.Tensor
}

// peftAdapter is an adapter folder checked against a model: the layers to adapt and
// the model parameters the file replaces (biases, modules_to_save).
type peftAdapter struct {
	cfg    PEFTConfig
	path   string
	layers []peftLayer
	params map[string]*ts.Tensor // model parameter name → the file's tensor
	dsts   map[string]*ts.Tensor // model parameter name → the model's tensor
}

// readPEFT reads dir and matches it to m: every linear the config selects must have its
// lora_A (r×in) and lora_B (out×r) in the file with the r the config gives it; every
// LoRA tensor of the file must belong to a selected linear of m (so a module m cannot
// adapt, such as a pooler matched by "dense", is an error); every other tensor must be
// a bias (bias "all"/"lora_only") or belong to modules_to_save, and name a parameter of
// m of the same shape.
func readPEFT(dir string, m models.Model) (*peftAdapter, error) {
	c, err := ReadPEFTConfig(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "adapter_model.safetensors")
	tensors, err := safetensors.Load(path)
	if err != nil {
		return nil, err
	}
	a := &peftAdapter{cfg: c, path: path, params: map[string]*ts.Tensor{}, dsts: map[string]*ts.Tensor{}}
	used := map[string]bool{}
	var problems []string
	for _, l := range m.Linears() {
		ta, okA := tensors[peftPrefix+l.Name+".lora_A.weight"]
		tb, okB := tensors[peftPrefix+l.Name+".lora_B.weight"]
		used[peftPrefix+l.Name+".lora_A.weight"], used[peftPrefix+l.Name+".lora_B.weight"] = true, true
		if !c.Selects(l.Name) {
			if okA || okB {
				problems = append(problems, fmt.Sprintf("the file has LoRA weights for %s, which target_modules does not select", l.Name))
			}
			continue
		}
		r, alpha := c.RankAlpha(l.Name)
		wantA, wantB := []int64{r, l.In()}, []int64{l.Out(), r}
		switch {
		case !okA || !okB:
			problems = append(problems, fmt.Sprintf("target_modules selects %s, but the file lacks its lora_A or lora_B", l.Name))
		case !slices.Equal(ta.MustSize(), wantA) || !slices.Equal(tb.MustSize(), wantB):
			problems = append(problems, fmt.Sprintf("%s: the config gives r=%d, so lora_A %v and lora_B %v, but the file has %v and %v", l.Name, r, wantA, wantB, ta.MustSize(), tb.MustSize()))
		default:
			a.layers = append(a.layers, peftLayer{linear: l, r: r, alpha: alpha, scaling: c.Scaling(r, alpha), a: ta, b: tb})
		}
	}
	byName := map[string]*ts.Tensor{}
	for _, p := range m.Params() {
		byName[p.Name] = p.T
	}
	for name, t := range tensors {
		if used[name] {
			continue
		}
		problems = append(problems, a.otherTensor(name, t, byName)...)
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, fmt.Errorf("%s does not fit this model as %s describes it: %s", path, c.Path, strings.Join(problems, "; "))
	}
	if len(a.layers) == 0 {
		return nil, fmt.Errorf("%s: target_modules selects none of this model's adaptable linears", c.Path)
	}
	return a, nil
}

// otherTensor files a tensor of the adapter that is not a selected linear's lora_A/B,
// or says why it does not fit.
func (a *peftAdapter) otherTensor(name string, t *ts.Tensor, byName map[string]*ts.Tensor) []string {
	rest, ok := strings.CutPrefix(name, peftPrefix)
	if !ok {
		return []string{fmt.Sprintf("unexpected tensor %s (PEFT names start with %q)", name, peftPrefix)}
	}
	if strings.Contains(rest, "lora_") {
		module, _, _ := strings.Cut(rest, ".lora_")
		return []string{fmt.Sprintf("the file has LoRA weights for %s, which is not one of this model's adaptable linears", module)}
	}
	// A bias of an adapted layer is saved under its base_layer. With bias "all" a
	// modules_to_save module's biases come twice more: its trained copy (the same
	// tensor as the module's own entry) and the frozen original_module, which the
	// adapted model does not use.
	if strings.Contains(rest, ".original_module.") {
		return nil
	}
	param := strings.Replace(rest, ".base_layer.", ".", 1)
	param = strings.Replace(param, ".modules_to_save.", ".", 1)
	module := param[:max(0, strings.LastIndexByte(param, '.'))]
	isBias := strings.HasSuffix(param, "bias") && a.cfg.Bias != "none"
	toSave := slices.ContainsFunc(a.cfg.ModulesToSave, func(s string) bool {
		return module == s || strings.HasSuffix(module, "."+s) || strings.HasPrefix(module, s+".") || strings.Contains(module, "."+s+".")
	})
	dst, ok := byName[param]
	switch {
	case !isBias && !toSave:
		return []string{fmt.Sprintf("unexpected tensor %s (neither a bias under bias=%q nor in modules_to_save %q)", name, a.cfg.Bias, a.cfg.ModulesToSave)}
	case !ok:
		return []string{fmt.Sprintf("the file has %s, and this model has no parameter %s", name, param)}
	case !slices.Equal(t.MustSize(), dst.MustSize()):
		return []string{fmt.Sprintf("%s is %v, the model's %s %v", name, t.MustSize(), param, dst.MustSize())}
	}
	if prev, ok := a.params[param]; ok && !prev.MustEqual(t, false) {
		return []string{fmt.Sprintf("the file has two different values for %s", param)}
	}
	a.params[param], a.dsts[param] = t, dst
	return nil
}

// copyParams writes the file's biases and modules_to_save into the model and returns
// the names of those outside the task head, sorted.
func (a *peftAdapter) copyParams(m models.Model) []string {
	models.NoGrad(func() {
		for name, t := range a.params {
			a.dsts[name].Copy_(t)
		}
	})
	head := map[string]bool{}
	for _, p := range models.HeadParams(m) {
		head[p.Name] = true
	}
	var base []string
	for name := range a.params {
		if !head[name] {
			base = append(base, name)
		}
	}
	slices.Sort(base)
	return base
}

// FromPEFT adapts m as the PEFT adapter folder dir says and loads its weights: the
// linears target_modules selects (with layers_to_transform), each with its own r and
// scaling (rank_pattern, alpha_pattern, use_rslora), the biases and modules_to_save the
// file carries. m is frozen but for the adapters and the task head, as Apply leaves it.
func FromPEFT(m models.Model, dir string, seed uint64) (*LoRA, error) {
	a, err := readPEFT(dir, m)
	if err != nil {
		return nil, err
	}
	lo, err := New(Config{R: a.cfg.R, Alpha: a.cfg.Alpha, Dropout: a.cfg.Dropout, Seed: seed})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.cfg.Path, err)
	}
	models.Freeze(m)
	lo.model, lo.peftDir, lo.ranks, lo.rslora = m, dir, map[string]int64{}, a.cfg.RSLoRA
	for _, pl := range a.layers {
		ly := &Layer{
			linear: pl.linear, alpha: pl.alpha, scaling: pl.scaling, dropout: lo.cfg.Dropout,
			A: pl.a.MustTotype(pl.linear.Weight.DType(), false).MustTo(pl.linear.Weight.MustDevice(), true),
			B: pl.b.MustTotype(pl.linear.Weight.DType(), false).MustTo(pl.linear.Weight.MustDevice(), true),
		}
		ly.A.MustRequiresGrad_(true)
		ly.B.MustRequiresGrad_(true)
		pl.linear.Adapter = ly
		lo.layers = append(lo.layers, ly)
		lo.ranks[pl.linear.Name] = pl.r
	}
	lo.loaded = a.copyParams(m)
	lo.head = trainHead(m)
	return lo, nil
}

// LoadPEFT copies a PEFT adapter folder's weights into lo, which Apply created. The
// adapter must describe exactly lo's layers: the same modules, and for each the same r
// and scaling; any difference is an error listing them (FromPEFT adapts a model as the
// adapter says instead). lo keeps its own dropout.
func (lo *LoRA) LoadPEFT(dir string) error {
	if lo.model == nil {
		return fmt.Errorf("lora: LoadPEFT before Apply (or use FromPEFT)")
	}
	a, err := readPEFT(dir, lo.model)
	if err != nil {
		return err
	}
	ours := map[string]*Layer{}
	for _, ly := range lo.layers {
		ours[ly.linear.Name] = ly
	}
	var problems []string
	for _, pl := range a.layers {
		ly, ok := ours[pl.linear.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("the adapter adapts %s, this LoRA does not", pl.linear.Name))
		case ly.A.MustSize()[0] != pl.r || ly.scaling != pl.scaling:
			problems = append(problems, fmt.Sprintf("%s: the adapter has r=%d scaling %g, this LoRA r=%d scaling %g", pl.linear.Name, pl.r, pl.scaling, ly.A.MustSize()[0], ly.scaling))
		}
		delete(ours, pl.linear.Name)
	}
	for name := range ours {
		problems = append(problems, fmt.Sprintf("this LoRA adapts %s, the adapter does not", name))
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%s does not describe this LoRA (%s): %s", dir, lo.Describe(), strings.Join(problems, "; "))
	}
	models.NoGrad(func() {
		for _, pl := range a.layers {
			ly := pl.linear.Adapter.(*Layer)
			ly.A.Copy_(pl.a)
			ly.B.Copy_(pl.b)
		}
	})
	lo.loaded = slices.Compact(slices.Sorted(slices.Values(append(lo.loaded, a.copyParams(lo.model)...))))
	return nil
}
