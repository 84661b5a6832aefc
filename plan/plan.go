// Package plan reads plan files: a list of run groups (suite, tasks, methods with their
// options, seeds, model, data and protocol overrides) that expands into a stable,
// ordered list of runs. It knows nothing of training; the runner turns each group into
// its settings, checks them and computes each run's settings hash. Sharding a plan
// (Shard, Cost) and merging record folders (Merge) are here too.
//
// A plan is YAML or JSON (JSON is read as YAML, so both give line numbers in errors):
//
//	name: smoke                 # optional; a built-in plan's name
//	description: ...            # optional
//	include: [paper-glue]       # optional: built-in plans whose groups come first
//	vars: {DATA: ../shared/data} # defaults of ${NAME} in any string value; the
//	                            # environment variable NAME wins when set
//	defaults: {model: tiny}     # settings every group starts from
//	groups:
//	  - name: glue              # optional label, for messages and listings
//	    suite: glue             # every other key is a runner flag's name (Options' JSON
//	    task: [rte, sst2]       # keys): a string, number, bool, a list for task and
//	    method: [vectorfit, lora] # method, a count or a list for seeds, a map for
//	    seeds: 2                # method-options / method-lr
//	    max-steps: 2
package plan

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Plan is a parsed plan: its groups in file order (included plans' first).
type Plan struct {
	Name, Description, Source string
	Groups                    []Group
}

// Group is one entry of groups: its settings over the plan's defaults, with seeds
// expanded.
type Group struct {
	Name  string
	Where string    // "file:line" of the group, for messages
	Set   []Setting // defaults first, then the group's own keys, in file order
	Seeds []int64   // nil: the runner's default (seed 1)
}

// Setting is one key of a group (or of defaults), its value with ${VARS} substituted
// and lists of tasks and methods joined with commas.
type Setting struct {
	Key   string
	Value any
	Raw   string // a scalar's text as written (a number given for a string flag)
	Where string // file:line
}

// Options says what a group may hold and where variables come from.
type Options struct {
	// Keys are the settings a group may set (the runner's flag names).
	Keys map[string]bool
	// Reserved keys a plan may not set (out: every run of a plan writes to -out).
	Reserved map[string]string
	// Env looks up a variable (os.LookupEnv when nil).
	Env func(string) (string, bool)
	// Vars are the last-resort values of variables (after the environment and the
	// plan's vars), e.g. MINILM, the harness cache's all-MiniLM-L6-v2 folder.
	Vars map[string]string
}

//go:embed builtin/*.yaml
var builtinFS embed.FS

// Builtins lists the built-in plans' names, sorted.
func Builtins() []string {
	entries, _ := builtinFS.ReadDir("builtin")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(out)
	return out
}

// BuiltinText is a built-in plan's file, as `runner plan show` prints it.
func BuiltinText(name string) ([]byte, error) {
	raw, err := builtinFS.ReadFile("builtin/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no built-in plan %q (built-in: %s)", name, strings.Join(Builtins(), ", "))
	}
	return raw, nil
}

// Load reads a plan: ref is a file, or else a built-in plan's name.
func Load(ref string, opt Options) (*Plan, error) {
	if raw, err := os.ReadFile(ref); err == nil {
		return Parse(raw, ref, opt)
	} else if !os.IsNotExist(err) {
		return nil, fmt.Errorf("plan %s: %w", ref, err)
	}
	raw, err := BuiltinText(ref)
	if err != nil {
		return nil, fmt.Errorf("plan %q: no such file, and %w", ref, err)
	}
	return Parse(raw, "builtin:"+ref, opt)
}

// file is a plan file's top level.
type file struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Include     []string          `yaml:"include"`
	Vars        map[string]string `yaml:"vars"`
	Defaults    yaml.Node         `yaml:"defaults"`
	Groups      []yaml.Node       `yaml:"groups"`
}

var topKeys = []string{"name", "description", "include", "vars", "defaults", "groups"}

// Parse reads a plan's text; source names it in messages.
func Parse(raw []byte, source string, opt Options) (*Plan, error) {
	return parse(raw, source, opt, nil)
}

func parse(raw []byte, source string, opt Options, including []string) (*Plan, error) {
	if opt.Env == nil {
		opt.Env = os.LookupEnv
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: not YAML or JSON: %v", source, err)
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty plan (want a mapping with groups)", source)
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping with keys %s", source, top.Line, strings.Join(topKeys, ", "))
	}
	for i := 0; i < len(top.Content); i += 2 {
		if k := top.Content[i]; !slices.Contains(topKeys, k.Value) {
			return nil, fmt.Errorf("%s:%d: unknown top-level key %q (want %s)", source, k.Line, k.Value, strings.Join(topKeys, ", "))
		}
	}
	var f file
	if err := top.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %v", source, err)
	}
	p := &Plan{Name: f.Name, Description: f.Description, Source: source}
	for _, inc := range f.Include {
		if slices.Contains(including, inc) {
			return nil, fmt.Errorf("%s: include %q: plans include each other in a cycle (%s)", source, inc, strings.Join(append(including, inc), " -> "))
		}
		text, err := BuiltinText(inc)
		if err != nil {
			return nil, fmt.Errorf("%s: include: %w", source, err)
		}
		sub, err := parse(text, "builtin:"+inc, opt, append(including, inc))
		if err != nil {
			return nil, err
		}
		p.Groups = append(p.Groups, sub.Groups...)
	}
	look := func(name string) (string, bool) {
		if v, ok := opt.Env(name); ok && v != "" {
			return v, true
		}
		if v, ok := f.Vars[name]; ok {
			return v, true
		}
		v, ok := opt.Vars[name]
		return v, ok
	}
	var defaults []Setting
	var defSeeds []int64
	if f.Defaults.Kind != 0 {
		var err error
		if defaults, defSeeds, err = settings(&f.Defaults, source, "defaults", opt, look); err != nil {
			return nil, err
		}
	}
	if len(f.Groups) == 0 && len(p.Groups) == 0 {
		return nil, fmt.Errorf("%s: no groups (want groups: a list of run groups)", source)
	}
	for i, gn := range f.Groups {
		where := fmt.Sprintf("groups[%d]", i)
		set, seeds, err := settings(&gn, source, where, opt, look)
		if err != nil {
			return nil, err
		}
		g := Group{Where: fmt.Sprintf("%s:%d", source, gn.Line), Set: append(slices.Clone(defaults), set...), Seeds: defSeeds}
		if seeds != nil {
			g.Seeds = seeds
		}
		for _, s := range set {
			if s.Key == "name" {
				g.Name = fmt.Sprint(s.Value)
			}
		}
		if g.Name == "" {
			g.Name = where
		}
		g.Set = slices.DeleteFunc(g.Set, func(s Setting) bool { return s.Key == "name" })
		p.Groups = append(p.Groups, g)
	}
	return p, nil
}

// settings reads one mapping of settings (a group or defaults).
func settings(n *yaml.Node, source, where string, opt Options, look func(string) (string, bool)) ([]Setting, []int64, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("%s:%d: %s: want a mapping of settings (flag names to values)", source, n.Line, where)
	}
	var out []Setting
	var seeds []int64
	seen := map[string]bool{}
	for i := 0; i < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		at := fmt.Sprintf("%s:%d", source, k.Line)
		key := k.Value
		if seen[key] {
			return nil, nil, fmt.Errorf("%s: %s: key %q appears twice", at, where, key)
		}
		seen[key] = true
		if why, ok := opt.Reserved[key]; ok {
			return nil, nil, fmt.Errorf("%s: %s: key %q cannot be set in a plan: %s", at, where, key, why)
		}
		if key != "name" && !opt.Keys[key] {
			return nil, nil, fmt.Errorf("%s: %s: unknown key %q (want a runner flag's name%s)", at, where, key, suggest(key, opt.Keys))
		}
		if key == "seeds" {
			s, err := parseSeeds(v)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %s: seeds: %v", at, where, err)
			}
			seeds = s
			continue
		}
		val, err := value(v, key)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %s: %v", at, where, key, err)
		}
		if val, err = substitute(val, look); err != nil {
			return nil, nil, fmt.Errorf("%s: %s: %s: %v", at, where, key, err)
		}
		raw := ""
		if v.Kind == yaml.ScalarNode {
			raw = v.Value
			if r, err := substitute(raw, look); err == nil {
				raw = r.(string)
			}
		}
		out = append(out, Setting{Key: key, Value: val, Raw: raw, Where: at})
	}
	return out, seeds, nil
}

// value decodes a setting: a scalar, a list (task and method only: joined with commas),
// or a mapping (method-options, method-lr).
func value(n *yaml.Node, key string) (any, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		var v any
		if err := n.Decode(&v); err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("no value (want %s)", "a string, number or bool")
		}
		return v, nil
	case yaml.SequenceNode:
		if key != "task" && key != "method" {
			return nil, fmt.Errorf("a list is allowed for task, method and seeds only")
		}
		var parts []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode || c.Value == "" {
				return nil, fmt.Errorf("line %d: want a list of names", c.Line)
			}
			parts = append(parts, c.Value)
		}
		if len(parts) == 0 {
			return nil, fmt.Errorf("empty list")
		}
		return strings.Join(parts, ","), nil
	case yaml.MappingNode:
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, fmt.Errorf("unsupported value")
}

// parseSeeds reads a count (5: seeds 1..5) or a list of distinct seeds.
func parseSeeds(n *yaml.Node) ([]int64, error) {
	if n.Kind == yaml.ScalarNode {
		c, err := strconv.Atoi(n.Value)
		if err != nil || c < 1 {
			return nil, fmt.Errorf("%q: want a count ≥ 1 or a list of integers", n.Value)
		}
		out := make([]int64, c)
		for i := range out {
			out[i] = int64(i + 1)
		}
		return out, nil
	}
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return nil, fmt.Errorf("want a count ≥ 1 or a non-empty list of integers")
	}
	var out []int64
	for _, c := range n.Content {
		s, err := strconv.ParseInt(c.Value, 10, 64)
		if err != nil || c.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: %q is not an integer", c.Line, c.Value)
		}
		if slices.Contains(out, s) {
			return nil, fmt.Errorf("seed %d is listed twice", s)
		}
		out = append(out, s)
	}
	return out, nil
}

var varRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// substitute replaces ${NAME} in strings (and in a mapping's string values).
func substitute(v any, look func(string) (string, bool)) (any, error) {
	switch t := v.(type) {
	case string:
		var missing string
		out := varRE.ReplaceAllStringFunc(t, func(m string) string {
			name := varRE.FindStringSubmatch(m)[1]
			val, ok := look(name)
			if !ok && missing == "" {
				missing = name
			}
			return val
		})
		if missing != "" {
			return nil, fmt.Errorf("${%s} is not set (no environment variable %s and no default under vars)", missing, missing)
		}
		return out, nil
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			s, err := substitute(x, look)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = s
		}
		return out, nil
	}
	return v, nil
}

// suggest names the closest known key, for typos.
func suggest(key string, keys map[string]bool) string {
	best, bestD := "", 3
	for k := range keys {
		if d := distance(key, k); d < bestD || d == bestD && best != "" && k < best {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// JSONOverlay is a setting as the JSON object {"key": value}, which decodes over the
// runner's Options like a -config file.
func (s Setting) JSONOverlay() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{")
	k, err := json.Marshal(s.Key)
	if err != nil {
		return nil, err
	}
	v, err := json.Marshal(s.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", s.Where, s.Key, err)
	}
	b.Write(k)
	b.WriteString(":")
	b.Write(v)
	b.WriteString("}")
	return b.Bytes(), nil
}
