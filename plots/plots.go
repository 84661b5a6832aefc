// Package plots draws the paper's figures from run records with gonum.org/v1/plot:
// score versus trainable parameters for one task (the VectorFit paper's SST-2 figure:
// log-scale x, one marker and colour per method, seed std as error bars, each point
// labelled), and training time per method (bars).
package plots

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/vectorfit/harness/reports"
)

// Kinds are the figures Save draws.
var Kinds = []string{"params", "time"}

// Options choose the figure.
type Options struct {
	Kind string // "params" (default) or "time"
	// Task is the task to draw ("sst2"); it may be empty when the records hold one
	// task. The time figure without a task averages over every task's runs.
	Task string
}

// Save draws records as o says into out, a .svg or .png file.
func Save(records []reports.Record, out string, o Options) error {
	ext := strings.ToLower(filepath.Ext(out))
	if ext != ".svg" && ext != ".png" {
		return fmt.Errorf("plot: -out %q: want a .svg or .png file", out)
	}
	p, err := Draw(records, o)
	if err != nil {
		return err
	}
	if err := p.Save(16*vg.Centimeter, 11*vg.Centimeter, out); err != nil {
		return fmt.Errorf("plot: writing %s: %w", out, err)
	}
	return nil
}

// Draw builds the figure without writing it.
func Draw(records []reports.Record, o Options) (*plot.Plot, error) {
	kind := o.Kind
	if kind == "" {
		kind = "params"
	}
	if !slices.Contains(Kinds, kind) {
		return nil, fmt.Errorf("plot: unknown -kind %q, want one of %s", o.Kind, strings.Join(Kinds, ", "))
	}
	if len(records) == 0 {
		return nil, errors.New("plot: no records to plot")
	}
	rs, task, err := selectTask(records, o.Task, kind == "params")
	if err != nil {
		return nil, err
	}
	ms := byMethod(rs)
	if len(ms) == 0 {
		return nil, fmt.Errorf("plot: every run of %s diverged: nothing to plot", taskText(task))
	}
	if kind == "time" {
		return timePlot(ms, task)
	}
	return paramsPlot(ms, task)
}

// selectTask keeps the records of the task asked for (finished runs only: a diverged
// run's score is from before it stopped). A score-vs-params figure compares one task's
// metric, so it needs one task.
func selectTask(records []reports.Record, task string, needOne bool) ([]reports.Record, string, error) {
	var tasks []string
	for _, r := range records {
		if !slices.Contains(tasks, r.Task) {
			tasks = append(tasks, r.Task)
		}
	}
	if task == "" {
		if len(tasks) > 1 && needOne {
			return nil, "", fmt.Errorf("plot: the records hold tasks %s; choose one with -task", strings.Join(tasks, ", "))
		}
		if len(tasks) == 1 {
			task = tasks[0]
		}
	} else if !slices.Contains(tasks, task) {
		return nil, "", fmt.Errorf("plot: no records of task %q (the records hold %s)", task, strings.Join(tasks, ", "))
	}
	var out []reports.Record
	for _, r := range records {
		if (task == "" || r.Task == task) && !r.Diverged() {
			out = append(out, r)
		}
	}
	return out, task, nil
}

func taskText(task string) string {
	if task == "" {
		return "every task"
	}
	return "task " + reports.TaskLabel(task)
}

// method is one method's finished runs.
type method struct {
	name string
	runs []reports.Record
}

func byMethod(rs []reports.Record) []method {
	var out []method
	for _, r := range rs {
		i := slices.IndexFunc(out, func(m method) bool { return m.name == r.Method })
		if i < 0 {
			out = append(out, method{name: r.Method})
			i = len(out) - 1
		}
		out[i].runs = append(out[i].runs, r)
	}
	slices.SortFunc(out, func(a, b method) int { return reports.CompareMethods(a.name, b.name) })
	return out
}

// meanStd is the mean and sample std (n−1) of xs, NaN (undefined scores) left out.
func meanStd(xs []float64) (mean, std float64, n int) {
	xs = slices.DeleteFunc(slices.Clone(xs), math.IsNaN)
	n = len(xs)
	if n == 0 {
		return math.NaN(), 0, 0
	}
	for _, x := range xs {
		mean += x
	}
	mean /= float64(n)
	if n > 1 {
		for _, x := range xs {
			std += (x - mean) * (x - mean)
		}
		std = math.Sqrt(std / float64(n-1))
	}
	return mean, std, n
}

// scale is how the paper prints the metric: percentages ×100, cosines as they are.
func scale(suite, key string) float64 {
	if reports.LookupMetric(suite, key).Scale == reports.Percent {
		return 100
	}
	return 1
}

// paramsPlot is the SST-2 figure: x = trainable (adapter) parameters, log scale;
// y = the main score; one glyph shape and colour per method; error bars = seed std.
func paramsPlot(ms []method, task string) (*plot.Plot, error) {
	first := ms[0].runs[0]
	metric := reports.LookupMetric(first.Suite, first.MainScore)
	k := scale(first.Suite, first.MainScore)
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: %s vs trainable parameters", reports.TaskLabel(task), metric.Name)
	p.X.Label.Text = "Trainable parameters (log scale)"
	p.Y.Label.Text = metric.Name
	if k == 100 {
		p.Y.Label.Text += " (%)"
	}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = countTicks{}
	p.Add(plotter.NewGrid())
	var xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	plotted := 0
	for i, m := range ms {
		var scores, params []float64
		for _, r := range m.runs {
			if v, ok := r.Scores[r.MainScore]; ok {
				scores = append(scores, k*v)
			}
			params = append(params, float64(r.Params.Adapter))
		}
		y, sd, n := meanStd(scores)
		x, _, _ := meanStd(params)
		if n == 0 || x <= 0 {
			continue // no defined score, or no trainable parameters to place on a log axis
		}
		plotted++
		pt := struct {
			plotter.XYs
			plotter.YErrors
		}{plotter.XYs{{X: x, Y: y}}, plotter.YErrors{{Low: sd, High: sd}}}
		sc, err := plotter.NewScatter(pt)
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: plotutil.Color(i), Shape: plotutil.Shape(i), Radius: vg.Points(4)}
		p.Add(sc)
		if n > 1 {
			eb, err := plotter.NewYErrorBars(pt)
			if err != nil {
				return nil, fmt.Errorf("plot: %w", err)
			}
			eb.LineStyle.Color = plotutil.Color(i)
			p.Add(eb)
		}
		p.Legend.Add(fmt.Sprintf("%s (%d seed%s)", reports.MethodLabel(m.name), n, plural(n)), sc)
		xmin, xmax = min(xmin, x), max(xmax, x)
		ymin, ymax = min(ymin, y-sd), max(ymax, y+sd)
	}
	if plotted == 0 {
		return nil, fmt.Errorf("plot: no method of %s has a defined %s and trainable parameters", taskText(task), metric.Name)
	}
	// Room around the points: half a decade left and right, 10% of the range above and
	// below but at least one point (0.01 of a cosine), so that no marker sits on the
	// frame and methods that tie (every one at the majority class) still get a readable
	// axis rather than ticks that all print the same rounded value.
	p.X.Min, p.X.Max = xmin/3, xmax*3
	pad := max((ymax-ymin)*0.1, k/100)
	p.Y.Min, p.Y.Max = ymin-pad, ymax+pad
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	return p, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// countTicks labels a log axis at each decade with the paper's units (10K, 1M).
type countTicks struct{}

func (countTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		v := math.Pow(10, e)
		if v >= min && v <= max {
			ts = append(ts, plot.Tick{Value: v, Label: countText(v)})
		}
		for m := 2.0; m < 10; m++ {
			if w := m * v; w >= min && w <= max {
				ts = append(ts, plot.Tick{Value: w}) // minor
			}
		}
	}
	return ts
}

func countText(v float64) string {
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%gB", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%gK", v/1e3)
	}
	return fmt.Sprintf("%g", v)
}

// timePlot is one bar per method: the mean training time of its runs (seconds,
// excluding evaluation), seed std as error bars.
func timePlot(ms []method, task string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Training time per method: " + taskText(task)
	if task == "" {
		p.Title.Text = "Training time per method (mean over every task's runs)"
	}
	p.Y.Label.Text = "Training time per run (s)"
	var names []string
	var vals plotter.Values
	var errs plotter.YErrors
	var xys plotter.XYs
	for i, m := range ms {
		var ts []float64
		for _, r := range m.runs {
			ts = append(ts, r.Timing.TrainSeconds)
		}
		v, sd, _ := meanStd(ts)
		names = append(names, reports.MethodLabel(m.name))
		vals = append(vals, v)
		errs = append(errs, struct{ Low, High float64 }{sd, sd})
		xys = append(xys, plotter.XY{X: float64(i), Y: v})
	}
	bars, err := plotter.NewBarChart(vals, vg.Points(28))
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	eb, err := plotter.NewYErrorBars(struct {
		plotter.XYs
		plotter.YErrors
	}{xys, errs})
	if err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	p.Add(plotter.NewGrid(), bars, eb)
	p.NominalX(names...)
	// The tallest error bar inside the frame, with a margin.
	top := 0.0
	for i, v := range vals {
		top = max(top, v+errs[i].High)
	}
	p.Y.Min, p.Y.Max = 0, 1.08*top
	// Half a bar slot either side, so that the first and last names clear the frame.
	p.X.Min, p.X.Max = -0.6, float64(len(vals))-0.4
	p.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ts := plot.DefaultTicks{}.Ticks(lo, hi)
		for i := range ts {
			if ts[i].Label != "" {
				ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', 4, 64)
			}
		}
		return ts
	})
	return p, nil
}
