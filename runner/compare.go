package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/vectorfit/harness/reports"
)

// compareCmd is the nightly regression check:
//
//	go run ./runner compare -baseline baselines/nightly-cpu -in results [-tolerance-std 3 -tolerance-points 1 -format md|json]
//
// It prints, for every (suite, task, method, settings) group of the baseline, the
// baseline and new value of each score and the delta, and exits 1 when a score moved
// beyond tolerance, a trainable-parameter count changed, a baseline run (group or seed)
// is missing, or a new seed diverged where the baseline's finished; 0 otherwise, 2 on bad
// input. Groups only in -in are listed as new and fail nothing. The rules are
// reports.Tolerance's.
func compareCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	baseline := fs.String("baseline", "", "folder of baseline records (e.g. baselines/nightly-cpu)")
	in := fs.String("in", "", "folder of new records (e.g. results)")
	k := fs.Float64("tolerance-std", reports.DefaultTolerance.StdMultiple, "a score moved when |Δ| > this × the baseline's seed std (with ≥ 2 baseline seeds and std > 0)")
	p := fs.Float64("tolerance-points", reports.DefaultTolerance.Points, "otherwise when |Δ| > this many points (score × 100)")
	format := fs.String("format", "md", "md (a table and a summary line) or json (raw fractions, null where undefined)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("compare: unexpected argument %q (folders go in -baseline and -in)", fs.Arg(0))
	case *baseline == "" || *in == "":
		return fmt.Errorf("compare needs -baseline DIR and -in DIR")
	case *format != "md" && *format != "json":
		return fmt.Errorf("compare -format %q: want md or json", *format)
	}
	base, err := reports.ReadDir(*baseline)
	if err != nil {
		return fmt.Errorf("compare -baseline: %w", err)
	}
	cur, err := reports.ReadDir(*in)
	if err != nil {
		return fmt.Errorf("compare -in: %w", err)
	}
	c, err := reports.Compare(base, cur, reports.Tolerance{StdMultiple: *k, Points: *p})
	if err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	if err := reports.RenderComparison(stdout, c, *format); err != nil {
		return err
	}
	if !c.OK {
		return &regressionError{c.SummaryLine()}
	}
	return nil
}

// regressionError ends a compare that found a regression: exit 1, as a run with failed
// runs does (bad input is 2).
type regressionError struct{ summary string }

func (e *regressionError) Error() string { return e.summary }
