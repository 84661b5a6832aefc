package reports

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/vectorfit/harness/models"
)

// glueOrder is the column order of the paper's GLUE table; other tasks follow it
// alphabetically.
var glueOrder = []string{"cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte"}

// methodOrder puts the harness's three first methods first, then the paper's
// baselines in its table's order (PiSSA and DoRA, which the paper does not test, after
// LoRA's family), then VectorFit's ablations; others follow alphabetically.
var methodOrder = []string{"vectorfit", "lora", "fullft", "bitfit", "hadapter", "padapter", "adalora", "pissa", "dora", "svft",
	"vectorfit-noavf", "vectorfit-random", "vectorfit-sigma", "vectorfit-bias", "vectorfit-attn", "vectorfit-ffn"}

var taskNames = map[string]string{
	"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "qqp": "QQP", "stsb": "STS-B",
	"mnli": "MNLI", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI",
	"xsum": "XSum", "cnndailymail": "CNN/DM", "squad": "SQuAD v1.1", "squadv2": "SQuAD v2.0",
	"cifar10": "CIFAR-10", "gtsrb": "GTSRB", "mnist": "MNIST", "resisc45": "RESISC45", "dreambooth": "DreamBooth",
}

var methodNames = map[string]string{"vectorfit": "VectorFit", "lora": "LoRA", "fullft": "Full FT",
	"bitfit": "BitFit", "adalora": "AdaLoRA", "svft": "SVFT", "hadapter": "Adapter^H", "padapter": "Adapter^P",
	"pissa": "PiSSA", "dora": "DoRA",
	// The VectorFit paper's ablations (methods/registry.Ablations), as its ablation
	// table names them.
	"vectorfit-noavf": "VectorFit w/o AVF", "vectorfit-random": "VectorFit (random freezing)",
	"vectorfit-sigma": "VectorFit (Σ only)", "vectorfit-bias": "VectorFit (bias only)",
	"vectorfit-attn": "VectorFit (attention)", "vectorfit-ffn": "VectorFit (FFN)",
}

// normTask lets "SST-2", "sst_2" and "sst2" find the same place and display name.
func normTask(t string) string {
	return strings.NewReplacer("-", "", "_", "").Replace(strings.ToLower(t))
}

func rankIn(order []string, s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

func compareTasks(a, b taskKey) int {
	return cmp.Or(
		cmp.Compare(a.suite, b.suite),
		cmp.Compare(rankIn(glueOrder, normTask(a.task)), rankIn(glueOrder, normTask(b.task))),
		cmp.Compare(a.task, b.task))
}

func compareMethods(a, b string) int {
	return cmp.Or(cmp.Compare(rankIn(methodOrder, a), rankIn(methodOrder, b)), cmp.Compare(a, b))
}

func sortRecords(rs []Record) {
	slices.SortStableFunc(rs, func(a, b Record) int {
		return cmp.Or(
			compareTasks(taskKey{a.Suite, a.Task}, taskKey{b.Suite, b.Task}),
			compareMethods(a.Method, b.Method),
			cmp.Compare(a.Seed, b.Seed))
	})
}

// taskKey is one column of the paper table: a task of a suite.
type taskKey struct{ suite, task string }

// rowKey is one row of the paper table: a method and, with Split, the label of a group
// of its records that differ from the method's others ("lr=0.03"; empty otherwise).
type rowKey struct{ method, variant string }

// cellKey is one (task, row) cell: its records are the seeds.
type cellKey struct {
	taskKey
	row rowKey
}

// grid groups records into tasks × rows.
type grid struct {
	tasks      []taskKey // in compareTasks order, as the records are sorted
	rows       []rowKey  // methods in compareMethods order; a method's unlabelled row first
	cells      map[cellKey][]Record
	mixed      map[cellKey]string // with Mix: what a cell's records differ in
	main       map[taskKey]string // each task's main score
	multiSuite bool               // label columns "suite/task" when tasks of several suites meet
	detailAll  bool               // the detail table lists every score, not only the paper cell's
}

// newGrid checks the records as a set and groups them. Every record of a task must share
// its main score, or the seeds (and methods) of a column would compare different metrics.
// The records of a (task, method) that differ in model, code version or settings are
// refused, averaged or split as grouping says.
func newGrid(records []Record, grouping Grouping) (*grid, error) {
	rs := slices.Clone(records)
	sortRecords(rs)
	seen := map[id]bool{}
	main := map[taskKey]string{}
	suites := map[string]bool{}
	var tasks []taskKey
	var methods []string
	byCell := map[taskKey]map[string][]Record{}
	for _, r := range rs {
		if err := validate(r); err != nil {
			return nil, fmt.Errorf("reports: record %s: %w", r.id(), err)
		}
		if seen[r.id()] {
			return nil, fmt.Errorf("reports: %s appears twice: its seed would count twice", r.id())
		}
		seen[r.id()] = true
		t := taskKey{r.Suite, r.Task}
		// A run that diverged before its first evaluation has no score to compare, and
		// may not name its main score.
		if !(r.Diverged() && len(r.Scores) == 0 && r.MainScore == "") {
			if m, ok := main[t]; ok && m != r.MainScore {
				return nil, fmt.Errorf("reports: %s/%s mixes main scores %q and %q (%s)", r.Suite, r.Task, m, r.MainScore, r.id())
			}
			main[t] = r.MainScore
		}
		suites[r.Suite] = true
		if byCell[t] == nil {
			tasks = append(tasks, t)
			byCell[t] = map[string][]Record{}
		}
		if !slices.Contains(methods, r.Method) {
			methods = append(methods, r.Method)
		}
		byCell[t][r.Method] = append(byCell[t][r.Method], r)
	}
	slices.SortFunc(methods, compareMethods)
	g := &grid{tasks: tasks, cells: map[cellKey][]Record{}, mixed: map[cellKey]string{}, main: main, multiSuite: len(suites) > 1}
	var refused []string
	for _, t := range tasks {
		for _, m := range methods {
			cell := byCell[t][m]
			if len(cell) == 0 {
				continue
			}
			gs := partition(cell)
			switch {
			case len(gs) == 1:
				g.add(t, rowKey{m, ""}, cell)
			case grouping == Mix:
				g.add(t, rowKey{m, ""}, cell)
				g.mixed[cellKey{t, rowKey{m, ""}}] = describeGroups(gs)
			case grouping == Split:
				for i, label := range splitLabels(gs) {
					g.add(t, rowKey{m, label}, gs[i].records)
				}
			default:
				refused = append(refused, fmt.Sprintf("%s/%s %s: seeds differ in %s", t.suite, t.task, m, describeGroups(gs)))
			}
		}
	}
	if len(refused) > 0 {
		return nil, &MixedError{Cells: refused}
	}
	// A method's rows stay together; its unlabelled row leads, labelled ones follow in
	// the order they first appear (task order, then seed order).
	slices.SortStableFunc(g.rows, func(a, b rowKey) int {
		return cmp.Or(compareMethods(a.method, b.method), cmp.Compare(a.labelled(), b.labelled()))
	})
	return g, nil
}

func (r rowKey) labelled() int {
	if r.variant == "" {
		return 0
	}
	return 1
}

func (g *grid) add(t taskKey, row rowKey, rs []Record) {
	if !slices.Contains(g.rows, row) {
		g.rows = append(g.rows, row)
	}
	g.cells[cellKey{t, row}] = rs
}

func (g *grid) taskLabel(t taskKey) string {
	name := t.task
	if n, ok := taskNames[normTask(t.task)]; ok {
		name = n
	}
	if g.multiSuite {
		return t.suite + "/" + name
	}
	return name
}

// plainTaskLabel is the task's name without its suite: each suite has its own paper
// table.
func (g *grid) plainTaskLabel(t taskKey) string {
	if n, ok := taskNames[normTask(t.task)]; ok {
		return n
	}
	return t.task
}

func methodLabel(m string) string {
	if n, ok := methodNames[m]; ok {
		return n
	}
	return m
}

// rowLabel is the method's name, and with Split what sets the row apart:
// "VectorFit [lr=0.03]".
func rowLabel(r rowKey) string {
	if r.variant == "" {
		return methodLabel(r.method)
	}
	return methodLabel(r.method) + " [" + r.variant + "]"
}

// finished drops diverged records: their scores are the best before the divergence and
// their times stop early, so no mean counts them.
func finished(rs []Record) []Record {
	return slices.DeleteFunc(slices.Clone(rs), Record.Diverged)
}

// meanStd is the mean and the sample standard deviation (n−1), the usual spread over a
// handful of seeds; std is 0 for a single value.
func meanStd(xs []float64) (mean, std float64) {
	n := float64(len(xs))
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	for _, x := range xs {
		mean += x
	}
	mean /= n
	if n < 2 {
		return mean, 0
	}
	var ss float64
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(ss / (n - 1))
}

func mean(xs []float64) float64 {
	m, _ := meanStd(xs)
	return m
}

// collect maps each record to a value, skipping records without one.
func collect(rs []Record, f func(Record) (float64, bool)) []float64 {
	var out []float64
	for _, r := range rs {
		if v, ok := f(r); ok {
			out = append(out, v)
		}
	}
	return out
}

// layerTypes lists the layer types present in rs: models.LayerTypes order, then others.
func layerTypes(rs []Record) []models.LayerType {
	present := map[models.LayerType]bool{}
	for _, r := range rs {
		for _, s := range r.Ranks {
			present[s.Type] = true
		}
	}
	var out []models.LayerType
	for _, t := range models.LayerTypes {
		if present[t] {
			out = append(out, t)
			delete(present, t)
		}
	}
	return append(out, slices.Sorted(maps.Keys(present))...)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
