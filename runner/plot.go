package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vectorfit/harness/plots"
	"github.com/vectorfit/harness/reports"
)

// plotCmd draws a figure from a folder of records:
// go run ./runner plot -in results -out sst2.svg -task sst2 (score vs trainable
// parameters, the paper's SST-2 figure) or -kind time (training time per method).
func plotCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("plot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "results", "folder of JSON records")
	out := fs.String("out", "", "figure to write: FILE.svg or FILE.png")
	kind := fs.String("kind", "params", "params (main score vs trainable parameters, log x) or time (training time per method, bars)")
	task := fs.String("task", "", "task to draw, e.g. sst2 (needed for -kind params when the records hold several tasks; -kind time without it averages over every task)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("plot: unexpected argument %q (the folder goes in -in, the figure in -out)", fs.Arg(0))
	}
	if *out == "" {
		return fmt.Errorf("plot: -out FILE.svg or FILE.png is required")
	}
	if !slices.Contains(plots.Kinds, *kind) {
		return fmt.Errorf("plot: unknown -kind %q, want one of %s", *kind, strings.Join(plots.Kinds, ", "))
	}
	recs, err := reports.ReadDir(*in)
	if err != nil {
		return err
	}
	if err := plots.Save(recs, *out, plots.Options{Kind: *kind, Task: *task}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}
