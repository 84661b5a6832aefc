package reports

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Grouping says what the tables do with a (task, method) whose records differ in more
// than their seed: another model, another code version, other settings.
type Grouping int

const (
	// Refuse is the default: Render fails with a *MixedError naming the differences.
	Refuse Grouping = iota
	// Mix averages them anyway and marks the cell ‡, with a note under the table saying
	// what it mixes.
	Mix
	// Split shows each group of equal records as its own row, the method labelled with
	// what sets the group apart: "VectorFit [lr=0.03]".
	Split
)

// MixedError is Render's refusal to average records that differ: one line per cell.
type MixedError struct {
	Cells []string // "glue/rte vectorfit: seeds differ in hyperparameter lr (seeds 1, 2: lr=0.001; seed 3: lr=0.03)"
}

func (e *MixedError) Error() string {
	return fmt.Sprintf("reports: %d %s would average records that differ in more than their seed:\n  %s",
		len(e.Cells), plural(len(e.Cells), "cell", "cells"), strings.Join(e.Cells, "\n  "))
}

// Facet kinds, in the order messages and labels list them.
const (
	kindModel = iota
	kindCode
	kindHash
	kindHyper
	kindSetting
	kindData
)

// facet is one thing besides the seed that sets a record's numbers: the model, the code,
// a hyperparameter, a data file. A cell averages records only when all facets agree.
//
// The settings hash cannot be compared itself: it covers the seed (see SettingsHash), so
// the seeds of one cell never share it. The facets are what it hashes apart from the
// seed (method settings, hyperparameters, model, data files; suite, task and method are
// the cell), compared field by field, which also says which field differs. The model is
// its name and file hashes: a revision string naming the same bytes changes nothing.
// The hash contributes whether it is there at all, so that a record written before it
// existed (whose settings may lack fields a newer one has) groups only with other such
// records.
type facet struct {
	kind  int
	name  string // for messages: "code version", "hyperparameter lr"
	value string // compared: full hashes, canonical JSON
	label string // for labels: "code ab78186", "lr=0.001"
}

func (f facet) less(g facet) int {
	return cmp.Or(cmp.Compare(f.kind, g.kind), cmp.Compare(f.name, g.name))
}

// facets lists r's facets in kind, then name, order.
func facets(r Record) []facet {
	hashed := facet{kindHash, "settings hash", "present", "with settings hash"}
	if r.SettingsHash == "" {
		hashed.value, hashed.label = "absent", "no settings hash"
	}
	fs := []facet{
		{kindModel, "model", r.Model.Name, "model " + orUnknown(r.Model.Name)},
		{kindModel, "model weights", r.Model.WeightsSHA256, "weights " + short(r.Model.WeightsSHA256)},
		{kindModel, "model config", r.Model.ConfigSHA256, "config " + short(r.Model.ConfigSHA256)},
		{kindCode, "code version", r.Code.Version, "code " + orUnknown(r.Code.Version)},
		hashed,
	}
	for _, k := range sortedKeys(r.Hyperparameters) {
		v := r.Hyperparameters[k]
		fs = append(fs, facet{kindHyper, "hyperparameter " + k, canonical(v), k + "=" + valueText(v)})
	}
	for _, k := range sortedKeys(r.MethodSettings) {
		if seedSetting(k) {
			continue
		}
		v := r.MethodSettings[k]
		fs = append(fs, facet{kindSetting, "method setting " + k, canonical(v), k + "=" + valueText(v)})
	}
	// As SettingsHash does: a file by its contents, or by path and size when it has no
	// hash (built-in synthetic data); a role may have several files.
	values, labels := map[string][]string{}, map[string][]string{}
	for _, d := range r.Data {
		id, label := d.SHA256, short(d.SHA256)
		if d.SHA256 == "" {
			id, label = fmt.Sprintf("%s (%d bytes)", d.Path, d.Bytes), d.Path
		}
		if d.Examples > 0 {
			label += fmt.Sprintf(" (%d examples)", d.Examples)
		}
		values[d.Role] = append(values[d.Role], fmt.Sprintf("%s/%d", id, d.Examples))
		labels[d.Role] = append(labels[d.Role], label)
	}
	for _, role := range sortedKeys(values) {
		slices.Sort(values[role])
		slices.Sort(labels[role])
		fs = append(fs, facet{kindData, role + " data", strings.Join(values[role], ","), role + " data " + strings.Join(labels[role], ", ")})
	}
	return fs
}

// groupKey is equal for two records exactly when all their facets are.
func groupKey(r Record) string {
	var b strings.Builder
	for _, f := range facets(r) {
		fmt.Fprintf(&b, "%d\x00%s\x00%s\x00", f.kind, f.name, f.value)
	}
	return b.String()
}

// group is records of one cell with equal facets, in seed order.
type group struct {
	records []Record
	facets  map[string]facet // by name
}

// partition splits a cell's records (in seed order) into groups, ordered by their first
// record.
func partition(rs []Record) []group {
	var out []group
	index := map[string]int{}
	for _, r := range rs {
		k := groupKey(r)
		i, ok := index[k]
		if !ok {
			fs := map[string]facet{}
			for _, f := range facets(r) {
				fs[f.name] = f
			}
			i = len(out)
			index[k] = i
			out = append(out, group{facets: fs})
		}
		out[i].records = append(out[i].records, r)
	}
	return out
}

// differing lists the facets whose value is not the same in every group (a facet that
// some groups lack differs), in kind and name order.
func differing(gs []group) []facet {
	var out []facet
	seen := map[string]bool{}
	for _, g := range gs {
		for name, f := range g.facets {
			if seen[name] {
				continue
			}
			seen[name] = true
			for _, h := range gs {
				if hf, ok := h.facets[name]; !ok || hf.value != f.value {
					out = append(out, f)
					break
				}
			}
		}
	}
	slices.SortFunc(out, facet.less)
	return out
}

// label is what sets g apart within its cell: its labels of the differing facets.
func (g group) label(diff []facet) string {
	parts := make([]string, len(diff))
	for i, d := range diff {
		if f, ok := g.facets[d.name]; ok {
			parts[i] = f.label
		} else {
			parts[i] = "no " + d.name
		}
	}
	return strings.Join(parts, ", ")
}

// describeGroups says what the groups differ in and who has what: "code version and
// hyperparameter lr (seeds 1, 2: code a, lr=0.001; seed 3: code b, lr=0.03)".
func describeGroups(gs []group) string {
	diff := differing(gs)
	names := make([]string, len(diff))
	for i, d := range diff {
		names[i] = d.name
	}
	parts := make([]string, len(gs))
	for i, g := range gs {
		parts[i] = seedsText(g.records) + ": " + g.label(diff)
	}
	return andList(names) + " (" + strings.Join(parts, "; ") + ")"
}

// splitLabels labels each group by its differing facets; should two labels still read
// alike (hashes equal in their first digits), a number tells them apart.
func splitLabels(gs []group) []string {
	diff := differing(gs)
	out := make([]string, len(gs))
	count := map[string]int{}
	for i, g := range gs {
		out[i] = g.label(diff)
		count[out[i]]++
	}
	for i := range out {
		if count[out[i]] > 1 {
			out[i] += fmt.Sprintf(" #%d", i+1)
		}
	}
	return out
}

func seedsText(rs []Record) string {
	seeds := make([]string, len(rs))
	for i, r := range rs {
		seeds[i] = strconv.FormatInt(r.Seed, 10)
	}
	return plural(len(rs), "seed ", "seeds ") + strings.Join(seeds, ", ")
}

func andList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// canonical is v as compact JSON (maps with sorted keys), so that an in-memory int 32
// and the float64 32 read back from a file compare equal; values JSON cannot carry
// (NaN) fall back to Go's formatting.
func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// valueText writes a setting for a label or a CSV cell: numbers in their shortest exact
// form (0.001, 3e-05), strings bare, the rest as JSON.
func valueText(v any) string {
	switch x := v.(type) {
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case string:
		return x
	}
	return canonical(v)
}

// short is a hash's first 8 hex digits, as git abbreviates commits.
func short(hash string) string {
	if hash == "" {
		return "unknown"
	}
	return hash[:min(8, len(hash))]
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// Differences says how the record after differs from the one before, in what decides
// the numbers (model, code, settings hash presence, hyperparameters, method settings,
// data), e.g. "lr=0.012 → lr=0.05, code ab78186 → code cd901ef"; "" when nothing does.
func Differences(before, after Record) string {
	gs := partition([]Record{before, after})
	if len(gs) < 2 {
		return ""
	}
	var parts []string
	for _, d := range differing(gs) {
		parts = append(parts, gs[0].label([]facet{d})+" → "+gs[1].label([]facet{d}))
	}
	return strings.Join(parts, ", ")
}

// seedSetting says whether a method setting is a seed ("seed", "avf_seed"): the runner
// derives it from the run's seed, so it varies between the seeds of one cell by design,
// as Record.Seed does, and must not split them.
func seedSetting(key string) bool {
	return key == "seed" || strings.HasSuffix(key, "_seed")
}
