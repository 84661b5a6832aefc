package train

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// redrawEvery throttles the bar: a toy task can do thousands of steps a second, and a
// log file should not receive a line for each.
const redrawEvery = 200 * time.Millisecond

// progress draws "step 120/1000  loss 0.4321  3.20 steps/s  ETA 4m35s  dev acc 0.91
// (best 0.92)" on one line, rewritten with \r.
type progress struct {
	w         io.Writer
	total     int
	lastDraw  time.Time
	width     int    // longest line drawn, to blank what a shorter line leaves behind
	steps     string // latest step, loss, rate and ETA
	dev, line string // latest evaluation; the line = steps + dev
}

// newProgress returns a bar writing to w; a nil w gives a bar that draws nothing.
func newProgress(w io.Writer, total int) *progress { return &progress{w: w, total: total} }

// show redraws the bar after step; trainTime (evaluation excluded) gives the rate.
func (p *progress) show(step int, loss float64, trainTime time.Duration) {
	if p.w == nil || trainTime <= 0 {
		return
	}
	rate := float64(step) / trainTime.Seconds()
	eta := time.Duration(float64(p.total-step) / rate * float64(time.Second)).Round(time.Second)
	p.steps = fmt.Sprintf("step %d/%d  loss %.4f  %.2f steps/s  ETA %s", step, p.total, loss, rate, eta)
	p.line = p.steps + p.dev
	if step == 1 || step == p.total || time.Since(p.lastDraw) >= redrawEvery {
		p.draw()
	}
}

// setDev adds the latest evaluation to the bar. The evaluation comes after the step's
// show, so the line is rebuilt here: otherwise the last line drawn (done) would show
// the evaluation before the final one.
func (p *progress) setDev(main string, v, best float64) {
	p.dev = fmt.Sprintf("  dev %s %.4f (best %.4f)", main, v, best)
	if p.steps != "" {
		p.line = p.steps + p.dev
	}
}

func (p *progress) draw() {
	pad := max(0, p.width-len(p.line))
	p.width = max(p.width, len(p.line))
	fmt.Fprintf(p.w, "\r%s%s", p.line, strings.Repeat(" ", pad))
	p.lastDraw = time.Now()
}

// done draws the last state and ends the line.
func (p *progress) done() {
	if p.w == nil || p.line == "" {
		return
	}
	p.draw()
	fmt.Fprintln(p.w)
}
