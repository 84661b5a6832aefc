// Command runner trains and evaluates fine-tuning methods on a suite and reports the
// results (SPEC §5):
//
//	go run ./runner -suite glue -method vectorfit,lora,fullft -task rte,stsb -model tiny -data synthetic
//	go run ./runner report -in results [-format md|csv|json]
//	go run ./runner score -suite glue -task rte -data DIR -pred predictions.jsonl
//
// With no flags it runs VectorFit on every GLUE task with the paper's model
// (microsoft/deberta-v3-base) and nyu-mll/glue, from the Hugging Face cache or the hub;
// -model tiny -data synthetic runs anywhere. Records go to -out, one JSON file per (task, method, seed), each
// written as soon as its run ends; the table of this run's records is printed at the end.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/vectorfit/harness/reports"
)

// Exit statuses: 0 all runs finished; 1 some runs failed or diverged (the others'
// records are written, the failures listed); 2 bad input or a command that could not
// start; 130 interrupted (the current run checkpointed).
func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	if !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "runner:", err)
	}
	os.Exit(exitStatus(err))
}

func exitStatus(err error) int {
	var ie *interruptedError
	var fe *failedRunsError
	var re *regressionError
	switch {
	case errors.As(err, &ie):
		return 130
	case errors.As(err, &fe), errors.As(err, &re):
		return 1
	}
	return 2
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "report":
			return reportCmd(args[1:], stdout, stderr)
		case "jobs":
			return jobsCmd(args[1:], stdout, stderr)
		case "score":
			return scoreCmd(args[1:], stdout, stderr)
		case "plan", "merge":
			return planCmd(args, stdout, stderr)
		case "compare":
			return compareCmd(args[1:], stdout, stderr)
		case "plot":
			return plotCmd(args[1:], stdout, stderr)
		}
	}
	if planRequested(args) {
		return planRunCmd(args, stdout, stderr)
	}
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	recs, err := runAll(o, stderr)
	if len(recs) > 0 {
		if rerr := reports.RenderGrouped(stdout, recs, "md", reports.Split); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}
