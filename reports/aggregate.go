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

// methodOrder puts the paper's methods first, in its row order; others follow
// alphabetically.
var methodOrder = []string{"vectorfit", "lora", "fullft"}

var taskNames = map[string]string{
	"cola": "CoLA", "sst2": "SST-2", "mrpc": "MRPC", "qqp": "QQP", "stsb": "STS-B",
	"mnli": "MNLI", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI",
}

var methodNames = map[string]string{"vectorfit": "VectorFit", "lora": "LoRA", "fullft": "Full FT"}

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

// cellKey is one (task, method) cell: its records are the seeds.
type cellKey struct {
	taskKey
	method string
}

// grid groups records into tasks × methods.
type grid struct {
	tasks      []taskKey // in compareTasks order, as the records are sorted
	methods    []string
	cells      map[cellKey][]Record
	main       map[taskKey]string // each task's main score
	multiSuite bool               // label columns "suite/task" when tasks of several suites meet
}

// newGrid checks the records as a set and groups them. Every record of a task must share
// its main score, or the seeds (and methods) of a column would compare different metrics.
func newGrid(records []Record) (*grid, error) {
	rs := slices.Clone(records)
	sortRecords(rs)
	g := &grid{cells: map[cellKey][]Record{}}
	seen := map[id]bool{}
	main := map[taskKey]string{}
	suites := map[string]bool{}
	for _, r := range rs {
		if err := validate(r); err != nil {
			return nil, fmt.Errorf("reports: record %s: %w", r.id(), err)
		}
		if seen[r.id()] {
			return nil, fmt.Errorf("reports: %s appears twice: its seed would count twice", r.id())
		}
		seen[r.id()] = true
		t := taskKey{r.Suite, r.Task}
		if m, ok := main[t]; ok && m != r.MainScore {
			return nil, fmt.Errorf("reports: %s/%s mixes main scores %q and %q (%s)", r.Suite, r.Task, m, r.MainScore, r.id())
		}
		main[t] = r.MainScore
		suites[r.Suite] = true
		g.add(r)
	}
	slices.SortFunc(g.methods, compareMethods)
	g.multiSuite = len(suites) > 1
	g.main = main
	return g, nil
}

func (g *grid) add(r Record) {
	t := taskKey{r.Suite, r.Task}
	if !slices.Contains(g.tasks, t) {
		g.tasks = append(g.tasks, t)
	}
	if !slices.Contains(g.methods, r.Method) {
		g.methods = append(g.methods, r.Method)
	}
	g.cells[cellKey{t, r.Method}] = append(g.cells[cellKey{t, r.Method}], r)
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

func methodLabel(m string) string {
	if n, ok := methodNames[m]; ok {
		return n
	}
	return m
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
