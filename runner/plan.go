package main

// Plans (package plan) on the runner's side: a plan group is an overlay of Options
// (the -config JSON keys), expanded into runs here, because only the runner knows the
// suites' tasks, the methods and how a record header and its settings hash are made.
//
//	runner -plan NAME|FILE [-shard i/n] -out DIR [flags that override every group]
//	runner plan validate [-all] [-no-hash] [-shards N] NAME|FILE
//	runner plan show NAME
//	runner plan list
//	runner merge -in A,B,... -out DIR

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/vectorfit/harness/internal/realmodel"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/plan"
	"github.com/vectorfit/harness/reports"
)

// plannedRun is one run of a plan with the settings it runs with.
type plannedRun struct {
	plan.Run
	o Options
}

// planKeys are the keys a plan group may set: Options' JSON keys.
func planOptions() plan.Options {
	keys := map[string]bool{}
	t := reflect.TypeOf(Options{})
	for i := range t.NumField() {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); k != "" && k != "-" {
			keys[k] = true
		}
	}
	vars := map[string]string{}
	if dir, err := realmodel.CacheDir(); err == nil {
		vars["MINILM"] = filepath.Join(dir, "models", "all-MiniLM-L6-v2")
	}
	return plan.Options{
		Keys: keys,
		Reserved: map[string]string{
			"out":   "every run of a plan writes its record to the runner's -out",
			"force": "pass -force on the command line to redo a plan's runs",
		},
		Vars: vars,
	}
}

// groupOptions is a group's Options: the defaults, the group's settings in order, then
// the command line's flags (set), checked.
func groupOptions(g plan.Group, set map[string]string) (Options, error) {
	o := defaultOptions()
	for _, s := range g.Set {
		if err := overlay(&o, s); err != nil {
			return o, err
		}
	}
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o.flags(fs)
	for name, v := range set {
		if err := fs.Set(name, v); err != nil {
			return o, fmt.Errorf("-%s %s: %w", name, v, err)
		}
	}
	if err := o.check(); err != nil {
		return o, fmt.Errorf("%s (group %s): %w", g.Where, g.Name, err)
	}
	return o, nil
}

// overlay decodes one setting over o like a -config key; a number or bool written for
// a string flag (version: 1.1) is taken as written.
func overlay(o *Options, s plan.Setting) error {
	raw, err := s.JSONOverlay()
	if err != nil {
		return err
	}
	err = decodeStrict(raw, o)
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && s.Raw != "" {
		// The text as written: a number for a string flag (version: 1.1), or a
		// variable's text for a number flag (max-steps: ${STEPS}).
		key, _ := json.Marshal(s.Key)
		str, _ := json.Marshal(s.Raw)
		for _, v := range []string{s.Raw, string(str)} {
			if json.Valid([]byte(v)) && decodeStrict([]byte("{"+string(key)+":"+v+"}"), o) == nil {
				return nil
			}
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %v", s.Where, s.Key, strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func decodeStrict(raw []byte, o *Options) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(o)
}

// expandPlan lists a plan's runs in order: group by group, then task, method, seed
// (the order of one runner command). Two runs that would write the same record file
// are an error. With hash, each run's settings hash is computed as the runner does
// before training it (loading each task's data once); a run whose model or data is
// not on this machine gets a note instead.
func expandPlan(p *plan.Plan, set map[string]string, hash bool, stderr io.Writer) ([]plannedRun, error) {
	var runs []plannedRun
	owner := map[string]string{}
	for gi, g := range p.Groups {
		o, err := groupOptions(g, set)
		if err != nil {
			return nil, err
		}
		where := fmt.Sprintf("%s (group %s)", g.Where, g.Name)
		s, ok := suites[o.Suite]
		if !ok {
			return nil, fmt.Errorf("%s: suite %q: want one of glue, squad, vision, nlg, diffusion", where, o.Suite)
		}
		tasks, err := s.tasks(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		meths, err := registry.ParseList(o.Methods)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		for _, m := range meths {
			if _, err := newMethod(o, m, 0); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		seeds := g.Seeds
		if _, ok := set["seeds"]; ok || seeds == nil {
			if seeds, err = o.seeds(); err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		}
		var gruns []plannedRun
		for _, t := range tasks {
			for _, m := range meths {
				for _, seed := range seeds {
					r := plan.Run{Index: len(runs) + len(gruns), Group: gi, Suite: o.Suite, Task: t, Method: m, Seed: seed}
					r.File = reports.Record{Suite: o.Suite, Task: t, Method: m, Seed: seed}.FileName()
					if prev, dup := owner[r.File]; dup {
						return nil, fmt.Errorf("%s: %s %s seed %d would write %s, as %s does: runs of one plan share -out, so give them other seeds, or put one in another plan",
							where, t, m, seed, r.File, prev)
					}
					owner[r.File] = fmt.Sprintf("%s (group %s)", g.Where, g.Name)
					r.Cost = plan.Cost(plan.CostInput{Suite: o.Suite, Task: t, Model: o.Model, Data: o.Data, MaxSteps: o.MaxSteps,
						Epochs: o.Epochs, Batch: o.Batch, GradAccum: o.GradAccum, MaxTrain: o.MaxTrain, SyntheticTrain: o.SyntheticN, MaxLen: o.MaxLen})
					ro := o
					ro.Tasks, ro.Methods, ro.Seeds = t, m, fmt.Sprint(seed)
					gruns = append(gruns, plannedRun{Run: r, o: ro})
				}
			}
		}
		if hash {
			hashGroup(o, gruns, stderr)
		}
		runs = append(runs, gruns...)
	}
	return runs, nil
}

// hashGroup fills the settings hashes of one group's runs, through the same header
// code as a run (command.planRun), without touching -out and without downloading
// (HF_HUB_OFFLINE=1 while it looks): a model or dataset that is not here leaves a note.
func hashGroup(o Options, runs []plannedRun, stderr io.Writer) {
	note := func(err error) {
		for i := range runs {
			runs[i].HashNote = firstLine(err.Error())
		}
	}
	if prev, had := os.LookupEnv("HF_HUB_OFFLINE"); !had || prev != "1" {
		os.Setenv("HF_HUB_OFFLINE", "1")
		defer func() {
			if had {
				os.Setenv("HF_HUB_OFFLINE", prev)
			} else {
				os.Unsetenv("HF_HUB_OFFLINE")
			}
		}()
	}
	c, err := checkCommand(o, io.Discard)
	if err != nil {
		note(err)
		return
	}
	if c.o.Suite == "nlg" && c.o.Data == "synthetic" && c.src.dir == "" && !tinyBARTCached() {
		note(errors.New("known when the run starts: the built-in tiny BART is pre-trained on first use"))
		return
	}
	if err := c.pretrainTiny(); err != nil {
		note(err)
		return
	}
	c.code, c.env = codeVersion(), reports.Environment{}
	preps := map[string]prepared{}
	for i := range runs {
		r := &runs[i]
		prep, ok := preps[r.Task]
		if !ok {
			prep, err = c.suite.prepare(c.o, r.Task)
			if err != nil {
				prep = nil
				r.HashNote = firstLine(err.Error())
			}
			preps[r.Task] = prep
		}
		if prep == nil {
			if r.HashNote == "" {
				r.HashNote = "the task's data did not load"
			}
			continue
		}
		rec, _, _, err := c.planRun(r.Task, r.Method, r.Seed, prep)
		if err != nil {
			r.HashNote = firstLine(err.Error())
			continue
		}
		r.Hash = rec.SettingsHash
	}
}

func tinyBARTCached() bool {
	conf, tok, err := tinyBARTConfig(true)
	if err != nil {
		return false
	}
	path, err := tinyBARTPath(conf, tok)
	if err != nil {
		return false
	}
	_, err = os.Stat(path)
	return err == nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// planFlags are the flags of a plan run that are not overrides of its groups.
var planFlags = map[string]bool{"plan": true, "shard": true, "out": true}

// planRequested says whether the command line runs a plan (-plan given).
func planRequested(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && name == "plan" {
			return true
		}
	}
	return false
}

// planRunCmd runs a plan, or shard i of n of it, into -out: in plan order, each run as
// one runner command (so a record already in -out is skipped and an interrupted run
// resumes from its checkpoint). Flags given beside -plan override every group.
func planRunCmd(args []string, stdout, stderr io.Writer) error {
	o := defaultOptions()
	fs := flag.NewFlagSet("runner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o.flags(fs)
	ref := fs.String("plan", "", "a plan file (YAML or JSON) or a built-in plan: "+strings.Join(plan.Builtins(), ", "))
	shard := fs.String("shard", "1/1", "run shard i of n (i/n): a deterministic share of the plan balanced by estimated cost")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags come as -name value)", fs.Arg(0))
	}
	set := map[string]string{}
	fs.Visit(func(f *flag.Flag) {
		if !planFlags[f.Name] {
			set[f.Name] = f.Value.String()
		}
	})
	if _, ok := set["config"]; ok {
		return fmt.Errorf("-config with -plan: put the settings in the plan's defaults instead")
	}
	i, n, err := plan.ParseShard(*shard)
	if err != nil {
		return err
	}
	p, err := plan.Load(*ref, planOptions())
	if err != nil {
		return err
	}
	all, err := expandPlan(p, set, false, stderr)
	if err != nil {
		return err
	}
	mine := shardRuns(all, i, n)
	total, share := 0.0, 0.0
	for _, r := range all {
		total += r.Cost
	}
	for _, r := range mine {
		share += r.Cost
	}
	fmt.Fprintf(stderr, "plan %s: %d runs; shard %d/%d: %d runs, %.0f of %.0f cost units, into %s\n",
		planName(p, *ref), len(all), i, n, len(mine), share, total, o.Out)
	runtime.LockOSThread() // as runAll: libtorch's thread settings are per OS thread
	defer runtime.UnlockOSThread()
	var recs []reports.Record
	var failed []string
	for _, r := range mine {
		ro := r.o
		ro.Out, ro.Force, ro.Quiet = o.Out, o.Force, ro.Quiet || o.Quiet
		done, err := runPlanned(ro, r.Seed, stderr)
		recs = append(recs, done...)
		var fe *failedRunsError
		switch {
		case errors.As(err, &fe):
			failed = append(failed, fe.failed...)
		case err != nil && (ro.FailFast || isInterrupt(err)):
			return err
		case err != nil:
			line := fmt.Sprintf("%s %s seed %d: %v", r.Task, r.Method, r.Seed, err)
			fmt.Fprintln(stderr, "failed:", line)
			failed = append(failed, line)
		}
		if len(failed) > 0 && ro.FailFast {
			break
		}
	}
	if len(recs) > 0 {
		if err := reports.RenderGrouped(stdout, recs, "md", reports.Split); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return &failedRunsError{failed, len(mine)}
	}
	return nil
}

func isInterrupt(err error) bool {
	var ie *interruptedError
	return errors.As(err, &ie)
}

// runPlanned runs one planned run as a runner command of one task, method and seed.
func runPlanned(o Options, seed int64, stderr io.Writer) ([]reports.Record, error) {
	c, err := newCommand(o, stderr)
	if err != nil {
		return nil, err
	}
	defer c.close()
	c.seeds = []int64{seed} // o.Seeds "7" would mean seeds 1..7
	return c.runAll()
}

func shardRuns(all []plannedRun, i, n int) []plannedRun {
	runs := make([]plan.Run, len(all))
	for k, r := range all {
		runs[k] = r.Run
	}
	var out []plannedRun
	for _, r := range plan.Shard(runs, i, n) {
		out = append(out, all[r.Index])
	}
	return out
}

func planName(p *plan.Plan, ref string) string {
	if p.Name != "" {
		return p.Name
	}
	return ref
}

// planCmd is `runner plan validate|show|list` and `runner merge`.
func planCmd(args []string, stdout, stderr io.Writer) error {
	if args[0] == "merge" {
		return mergeCmd(args[1:], stdout, stderr)
	}
	if len(args) < 2 {
		return fmt.Errorf("runner plan: want validate NAME|FILE, show NAME or list")
	}
	switch args[1] {
	case "validate":
		return validateCmd(args[2:], stdout, stderr)
	case "show":
		if len(args) != 3 {
			return fmt.Errorf("runner plan show: want one built-in plan's name (%s)", strings.Join(plan.Builtins(), ", "))
		}
		text, err := plan.BuiltinText(args[2])
		if err != nil {
			return err
		}
		_, err = stdout.Write(text)
		return err
	case "list":
		for _, name := range plan.Builtins() {
			p, err := plan.Load(name, planOptions())
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%-16s %s\n", name, firstSentence(p.Description))
		}
		return nil
	}
	return fmt.Errorf("runner plan %s: want validate, show or list", args[1])
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// validateCmd checks a plan and lists its runs.
func validateCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("runner plan validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := fs.Bool("all", false, "list every run (default: the first 20)")
	noHash := fs.Bool("no-hash", false, "do not compute settings hashes (they load each task's data)")
	shards := fs.Int("shards", 0, "also show how N shards split the plan")
	if err := fs.Parse(args); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 1 { // flags after the plan's name
		if err := fs.Parse(rest[1:]); err != nil {
			return err
		}
		rest = append(rest[:1], fs.Args()...)
	}
	if len(rest) != 1 {
		return fmt.Errorf("runner plan validate: want one plan, a file or a built-in name (%s)", strings.Join(plan.Builtins(), ", "))
	}
	p, err := plan.Load(rest[0], planOptions())
	if err != nil {
		return err
	}
	runs, err := expandPlan(p, nil, !*noHash, stderr)
	if err != nil {
		return err
	}
	total := 0.0
	for _, r := range runs {
		total += r.Cost
	}
	fmt.Fprintf(stdout, "plan %s (%s): %d groups, %d runs, estimated cost %.4g units\n", planName(p, rest[0]), p.Source, len(p.Groups), len(runs), total)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	var notes []string // why a run has no hash, numbered in the table
	fmt.Fprintln(tw, "#\tgroup\tsuite\ttask\tmethod\tseed\tcost\tsettings hash\trecord")
	for k, r := range runs {
		if k == 20 && !*all {
			fmt.Fprintf(tw, "... %d more (-all lists every run)\n", len(runs)-20)
			break
		}
		h := shortHash(r.Hash)
		if r.Hash == "" && !*noHash {
			k := slices.Index(notes, r.HashNote)
			if k < 0 {
				notes, k = append(notes, r.HashNote), len(notes)
			}
			h = fmt.Sprintf("- [%d]", k+1)
		} else if r.Hash == "" {
			h = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%.3g\t%s\t%s\n", r.Index+1, p.Groups[r.Group].Name, r.Suite, r.Task, r.Method, r.Seed, r.Cost, h, r.File)
	}
	tw.Flush()
	for k, n := range notes {
		fmt.Fprintf(stdout, "[%d] no settings hash here: %s\n", k+1, n)
	}
	for i := 1; i <= *shards; i++ {
		mine := shardRuns(runs, i, *shards)
		c := 0.0
		for _, r := range mine {
			c += r.Cost
		}
		fmt.Fprintf(stdout, "shard %d/%d: %d runs, %.4g units\n", i, *shards, len(mine), c)
	}
	return nil
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// mergeCmd is `runner merge -in A,B,... -out DIR`.
func mergeCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("runner merge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "comma-separated record folders to merge")
	out := fs.String("out", "", "the folder to merge them into (created if needed; records already there take part)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("runner merge: unexpected argument %q (want -in A,B,... -out DIR)", fs.Arg(0))
	}
	if *in == "" || *out == "" {
		return fmt.Errorf("runner merge: want -in A,B,... -out DIR")
	}
	var ins []string
	for _, d := range strings.Split(*in, ",") {
		if d = strings.TrimSpace(d); d != "" {
			ins = append(ins, d)
		}
	}
	res, err := plan.Merge(ins, *out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "merged %d folders into %s: %d files copied, %d identical duplicates skipped, %d records\n",
		len(ins), *out, res.Copied, res.Identical, res.Records)
	return nil
}
