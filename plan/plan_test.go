package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testKeys = map[string]bool{"suite": true, "task": true, "method": true, "seeds": true, "model": true, "data": true,
	"max-steps": true, "lr-lora": true, "version": true, "method-options": true, "out": true}

func testOptions(env map[string]string) Options {
	return Options{
		Keys:     testKeys,
		Reserved: map[string]string{"out": "the runner's -out decides"},
		Env:      func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Vars:     map[string]string{"MINILM": "/cache/minilm"},
	}
}

func TestParse(t *testing.T) {
	src := `
name: t
vars: {DATA: /default/data}
defaults:
  model: tiny
  seeds: 2
  max-steps: 3
groups:
  - name: a
    suite: glue
    task: [rte, stsb]
    method: vectorfit,lora
    data: ${DATA}/glue
    version: 1.1
  - suite: vision
    seeds: [7, 3]
    model: ${MINILM}
    method-options: {bitfit: "biases=${B}"}
`
	p, err := Parse([]byte(src), "t.yaml", testOptions(map[string]string{"B": "all"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Groups) != 2 {
		t.Fatalf("%d groups", len(p.Groups))
	}
	a, b := p.Groups[0], p.Groups[1]
	got := fmt.Sprint(a.Name, " ", a.Seeds, " ", a.Where, " ", a.Set)
	want := "a [1 2] t.yaml:9 [{model tiny tiny t.yaml:5} {max-steps 3 3 t.yaml:7} {suite glue glue t.yaml:10} " +
		"{task rte,stsb  t.yaml:11} {method vectorfit,lora vectorfit,lora t.yaml:12} {data /default/data/glue /default/data/glue t.yaml:13} {version 1.1 1.1 t.yaml:14}]"
	if got != want {
		t.Errorf("group a:\n got %s\nwant %s", got, want)
	}
	if b.Name != "groups[1]" || fmt.Sprint(b.Seeds) != "[7 3]" {
		t.Errorf("group b: name %q seeds %v", b.Name, b.Seeds)
	}
	var model, opts any
	for _, s := range b.Set {
		switch s.Key {
		case "model":
			model = s.Value
		case "method-options":
			opts = s.Value
		}
	}
	if model != "/cache/minilm" || fmt.Sprint(opts) != "map[bitfit:biases=all]" {
		t.Errorf("variables: model %v, method-options %v", model, opts)
	}
	// The environment wins over vars.
	p, err = Parse([]byte(src), "t.yaml", testOptions(map[string]string{"B": "x", "DATA": "/env"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Groups[0].Set {
		if s.Key == "data" && s.Value != "/env/glue" {
			t.Errorf("data %v, want /env/glue from the environment", s.Value)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ name, src, want string }{
		{"unknown key", "groups:\n  - suite: glue\n    max-step: 2\n", `p.yaml:3: groups[0]: unknown key "max-step" (want a runner flag's name; did you mean "max-steps"?)`},
		{"unknown top key", "group: []\n", `p.yaml:1: unknown top-level key "group"`},
		{"reserved", "groups:\n  - out: x\n", `p.yaml:2: groups[0]: key "out" cannot be set in a plan: the runner's -out decides`},
		{"no groups", "name: x\n", "p.yaml: no groups"},
		{"empty", "", "p.yaml: empty plan"},
		{"not a mapping", "- a\n", "p.yaml:1: want a mapping"},
		{"bad seeds", "groups:\n  - seeds: 0\n", `p.yaml:2: groups[0]: seeds: "0": want a count ≥ 1`},
		{"dup seeds", "groups:\n  - seeds: [1, 1]\n", "p.yaml:2: groups[0]: seeds: seed 1 is listed twice"},
		{"list for scalar", "groups:\n  - model: [a, b]\n", "p.yaml:2: groups[0]: model: a list is allowed for task, method and seeds only"},
		{"unset var", "groups:\n  - data: ${NOPE}/x\n", "p.yaml:2: groups[0]: data: ${NOPE} is not set (no environment variable NOPE and no default under vars)"},
		{"group not mapping", "groups:\n  - glue\n", "p.yaml:2: groups[0]: want a mapping of settings"},
		{"dup key", "groups:\n  - suite: glue\n    suite: squad\n", `p.yaml:3: groups[0]: key "suite" appears twice`},
		{"bad yaml", "groups: [\n", "p.yaml: not YAML or JSON"},
		{"bad include", "include: [nope]\n", `p.yaml: include: no built-in plan "nope"`},
		{"json unknown key", `{"groups": [{"suite": "glue", "lr-loar": 1}]}`, `p.yaml:1: groups[0]: unknown key "lr-loar" (want a runner flag's name; did you mean "lr-lora"?)`},
	} {
		_, err := Parse([]byte(c.src), "p.yaml", testOptions(nil))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestBuiltinsParse(t *testing.T) {
	names := Builtins()
	want := "nightly-cpu paper paper-diffusion paper-glue paper-nlg paper-squad paper-vision smoke"
	if strings.Join(names, " ") != want {
		t.Errorf("built-in plans %v, want %s", names, want)
	}
	keys := map[string]bool{}
	for k := range testKeys {
		keys[k] = true
	}
	// The built-in plans use these runner flags beyond testKeys; the runner's own test
	// checks them against Options.
	for _, k := range strings.Fields("batch warmup quiet synthetic-train synthetic-dev train-data dev-data allow-dev-overlap max-train max-dev max-len doc-stride train-split dev-fraction target-len beams class-images sample-steps images-per-prompt max-prompts subject epochs warmup-ratio threads") {
		keys[k] = true
	}
	opt := testOptions(nil)
	opt.Keys = keys
	for _, n := range names {
		p, err := Load(n, opt)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if p.Name != n || p.Description == "" {
			t.Errorf("%s: name %q, description %q", n, p.Name, p.Description)
		}
	}
	p, err := Load("paper", opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Groups) != 1+2+4+2+1 {
		t.Errorf("paper: %d groups, want the 10 of the paper-* plans", len(p.Groups))
	}
}

func TestLoadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(path, []byte(`{"groups": [{"suite": "glue", "seeds": 3}]}`), 0o644)
	p, err := Load(path, testOptions(nil))
	if err != nil || len(p.Groups) != 1 || len(p.Groups[0].Seeds) != 3 {
		t.Fatalf("%v %+v", err, p)
	}
	if _, err := Load("no-such-plan", testOptions(nil)); err == nil || !strings.Contains(err.Error(), `plan "no-such-plan": no such file, and no built-in plan`) {
		t.Errorf("error %v", err)
	}
}
