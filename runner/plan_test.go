package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vectorfit/harness/plan"
)

// goldenLines is a plan's expansion as plan-small.golden lists it.
func goldenLines(t *testing.T, ref string) string {
	t.Helper()
	p, err := plan.Load(ref, planOptions())
	if err != nil {
		t.Fatal(err)
	}
	runs, err := expandPlan(p, nil, true, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range runs {
		fmt.Fprintf(&b, "%d %s %s %s %s %d %s %s\n", r.Index+1, p.Groups[r.Group].Name, r.Suite, r.Task, r.Method, r.Seed, r.File, r.Hash)
	}
	return b.String()
}

// The expansion of a small plan, in order, with the settings hashes that name its
// records, is stable: testdata/plan-small.golden (UPDATE_GOLDEN=1 rewrites it, for a
// change that is meant to change settings hashes, which makes every old record a
// different run).
func TestPlanExpansionGolden(t *testing.T) {
	got := goldenLines(t, "testdata/plan-small.yaml")
	const golden = "testdata/plan-small.golden"
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("expansion of testdata/plan-small.yaml:\n%s\nwant (%s):\n%s", got, golden, want)
	}
	// The same runs typed as flags, without a plan, write records of the same hashes.
	out := t.TempDir()
	args := []string{"-suite", "glue", "-task", "rte", "-method", "vectorfit", "-seeds", "2,1", "-model", "tiny", "-data", "synthetic",
		"-synthetic-train", "32", "-synthetic-dev", "16", "-batch", "8", "-warmup", "0", "-max-steps", "3", "-lora", "r=4,alpha=8", "-quiet", "-out", out}
	if err := run(args, &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(got, "\n") {
		f := strings.Fields(l)
		if len(f) < 8 || f[3] != "rte" || f[4] != "vectorfit" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(out, f[6]))
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Hash string `json:"settings_hash"`
		}
		json.Unmarshal(raw, &rec)
		if rec.Hash != f[7] {
			t.Errorf("%s: the plan's hash %s, the record of the same flags %s", f[6], f[7], rec.Hash)
		}
	}
	// Groups in file order; within a group task, method, seed in the order written.
	var order []string
	for _, l := range strings.Split(strings.TrimSpace(got), "\n") {
		f := strings.Fields(l)
		order = append(order, strings.Join(f[3:6], "/"))
	}
	if want := "stsb/lora/2 stsb/lora/1 stsb/vectorfit/2 stsb/vectorfit/1 rte/lora/2 rte/lora/1 rte/vectorfit/2 rte/vectorfit/1 cola/bitfit/1 dreambooth/lora/1"; strings.Join(order, " ") != want {
		t.Errorf("order %v, want %s", order, want)
	}
}

func TestPlanValidateErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, text, want string }{
		{"unknown suite", "groups:\n  - suite: glu\n", `p.yaml:2 (group groups[0]): suite "glu": want one of glue, squad, vision, nlg, diffusion`},
		{"unknown method", "groups:\n  - suite: glue\n    method: [lora, lorra]\n", `p.yaml:2 (group groups[0]): unknown method "lorra" in "lora,lorra"`},
		{"unknown task", "groups:\n  - suite: glue\n    task: sst3\n", `p.yaml:2 (group groups[0]): glue: unknown task "sst3"`},
		{"bad type", "groups:\n  - suite: glue\n    max-steps: two\n", `p.yaml:3: max-steps: cannot unmarshal string into Go struct field Options.max-steps of type int`},
		{"bad value", "groups:\n  - suite: glue\n    max-steps: -2\n", `p.yaml:2 (group groups[0]): -max-steps -2: want ≥ 1, or 0 for no cap`},
		{"bad method option", "groups:\n  - suite: glue\n    method: lora\n    lora: r8\n", `p.yaml:2 (group groups[0]): -lora "r8": "r8" is not key=value`},
		{"unknown key", "groups:\n  - suite: glue\n    lr-lroa: 1\n", `p.yaml:3: groups[0]: unknown key "lr-lroa" (want a runner flag's name; did you mean "lr-lora"?)`},
		{"reserved", "groups:\n  - suite: glue\n    out: x\n", `p.yaml:3: groups[0]: key "out" cannot be set in a plan: every run of a plan writes its record to the runner's -out`},
		{"same record twice", "groups:\n  - {name: a, suite: glue, task: rte, model: tiny, data: synthetic}\n  - {name: b, suite: glue, task: rte, model: tiny, data: synthetic, lr: 0.1}\n",
			`p.yaml:3 (group b): rte vectorfit seed 1 would write glue_rte_vectorfit_seed1.json, as ` + filepath.Join(dir, "p.yaml") + `:2 (group a) does`},
	} {
		path := filepath.Join(dir, "p.yaml")
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		err := run([]string{"plan", "validate", "-no-hash", path}, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, c.want)) && !strings.Contains(err.Error(), c.want) ||
			!strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want it to name %s and contain %q", c.name, err, path, c.want)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-plan", "smoke", "-shard", "3/2"}, `-shard "3/2": want i/n with 1 ≤ i ≤ n, e.g. 1/4`},
		{[]string{"-plan", "smoke", "-config", "x.json"}, "-config with -plan: put the settings in the plan's defaults instead"},
		{[]string{"-plan", "nope"}, `plan "nope": no such file, and no built-in plan "nope"`},
		{[]string{"plan", "show", "nope"}, `no built-in plan "nope"`},
		{[]string{"plan", "frob"}, "runner plan frob: want validate, show or list"},
		{[]string{"merge", "-in", "a"}, "runner merge: want -in A,B,... -out DIR"},
	} {
		err := run(c.args, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want %q", c.args, err, c.want)
		}
	}
}

// Every built-in plan parses and expands (paper plans without hashes: their models are
// not here), and `plan show` prints one that reads back to the same runs.
func TestBuiltinPlansExpand(t *testing.T) {
	t.Setenv("DATA", "../../shared/data")
	want := map[string]int{"paper-glue": 8 * 8 * 5, "paper-squad": 2 * 8 * 5, "paper-vision": 4 * 8 * 5, "paper-nlg": 2 * 3 * 5,
		"paper-diffusion": 3 * 5, "smoke": 18, "nightly-cpu": 12}
	want["paper"] = want["paper-glue"] + want["paper-squad"] + want["paper-vision"] + want["paper-nlg"] + want["paper-diffusion"]
	for _, name := range plan.Builtins() {
		p, err := plan.Load(name, planOptions())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		runs, err := expandPlan(p, nil, false, &bytes.Buffer{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(runs) != want[name] {
			t.Errorf("%s: %d runs, want %d", name, len(runs), want[name])
		}
	}
	// A number written for a string flag is taken as written (version: 1.1 is not the
	// float 1.1 but -version 1.1), and a variable's text for a number flag is a number.
	p, err := plan.Parse([]byte("vars: {N: '3'}\ngroups:\n  - {suite: squad, version: 1.1, model: tiny, max-steps: '${N}'}\n"), "v.yaml", planOptions())
	if err != nil {
		t.Fatal(err)
	}
	runs, err := expandPlan(p, nil, false, &bytes.Buffer{})
	if err != nil || len(runs) != 1 || runs[0].Task != "squad" || runs[0].o.Version != "1.1" || runs[0].o.MaxSteps != 3 {
		t.Errorf("version: 1.1, max-steps: ${N}: %v %+v", err, runs)
	}
	var shown bytes.Buffer
	if err := run([]string{"plan", "show", "smoke"}, &shown, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "smoke.yaml")
	os.WriteFile(path, shown.Bytes(), 0o644)
	var out bytes.Buffer
	if err := run([]string{"plan", "validate", "-no-hash", "-shards", "2", path}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "5 groups, 18 runs") || !strings.Contains(out.String(), "shard 2/2: ") {
		t.Errorf("validate of the shown smoke plan:\n%s", out.String())
	}
}

// normalised reads a folder's records without what differs between two runs of the
// same settings (times, memory, the command line), and its other run files' bytes.
func normalised(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() && (rel == "checkpoints" || rel == "class_images") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if filepath.Dir(rel) == "." && strings.HasSuffix(rel, ".json") {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			for _, k := range []string{"timing", "started_at", "finished_at", "command", "peak_rss_bytes"} {
				delete(m, k)
			}
			raw, _ = json.Marshal(m)
		}
		out[rel] = string(raw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Two shards of the smoke plan, merged, give the records of one run of the whole plan
// (times aside), with the settings hashes `plan validate` computes; a rerun skips all.
func TestPlanShardsMergeEqualOneRun(t *testing.T) {
	for _, d := range []string{"../../shared/data/mnist", "../../shared/data/squad"} {
		if _, err := os.Stat(d); err != nil {
			t.Skipf("no shared data: %v", err)
		}
	}
	t.Setenv("DATA", "../../shared/data")
	cut := []string{"-method", "vectorfit", "-max-steps", "2"} // 6 runs, one per suite and task
	root := t.TempDir()
	one, s1, s2, merged := filepath.Join(root, "one"), filepath.Join(root, "s1"), filepath.Join(root, "s2"), filepath.Join(root, "merged")
	runPlan := func(out string, extra ...string) string {
		var stderr bytes.Buffer
		args := append(append([]string{"-plan", "smoke", "-out", out}, cut...), extra...)
		if err := run(args, &bytes.Buffer{}, &stderr); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, stderr.String())
		}
		return stderr.String()
	}
	runPlan(one)
	runPlan(s1, "-shard", "1/2")
	runPlan(s2, "-shard", "2/2")
	var stdout bytes.Buffer
	if err := run([]string{"merge", "-in", s1 + "," + s2, "-out", merged}, &stdout, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	a, b := normalised(t, one), normalised(t, merged)
	na, n1, n2 := len(a), len(normalised(t, s1)), len(normalised(t, s2))
	if n1 == 0 || n2 == 0 || n1+n2 != na {
		t.Errorf("shards hold %d and %d files, the whole run %d: want a split of them", n1, n2, na)
	}
	var records []string
	for k := range a {
		if !strings.Contains(k, string(filepath.Separator)) {
			records = append(records, k)
		}
	}
	slices.Sort(records)
	if len(records) != 6 {
		t.Errorf("records %v, want 6 (glue rte and stsb, squad, mnist, xsum, dreambooth)", records)
	}
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s differs between one run and the merged shards:\n%.400s\n%.400s", k, v, b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Errorf("the merged shards hold %s, one run does not", k)
		}
	}
	// The hashes plan validate computes are those the runs wrote.
	p, err := plan.Load("smoke", planOptions())
	if err != nil {
		t.Fatal(err)
	}
	runs, err := expandPlan(p, map[string]string{"method": "vectorfit", "max-steps": "2"}, true, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		var rec struct {
			Hash string `json:"settings_hash"`
		}
		raw, err := os.ReadFile(filepath.Join(one, r.File))
		if err != nil {
			t.Fatal(err)
		}
		json.Unmarshal(raw, &rec)
		if r.Hash == "" || r.Hash != rec.Hash {
			t.Errorf("%s: plan validate's hash %q (%s), the record's %q", r.File, r.Hash, r.HashNote, rec.Hash)
		}
	}
	// A rerun of a shard skips its finished runs.
	if log := runPlan(s1, "-shard", "1/2"); strings.Count(log, "done, skipped") != n1Records(t, s1) {
		t.Errorf("rerun of shard 1/2 did not skip every run:\n%s", log)
	}
}

func n1Records(t *testing.T, dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	return len(m)
}
