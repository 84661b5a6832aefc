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

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "runner:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "report":
			return reportCmd(args[1:], stdout, stderr)
		case "score":
			return scoreCmd(args[1:], stdout, stderr)
		}
	}
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	recs, err := runAll(o, stderr)
	if len(recs) > 0 {
		if rerr := reports.Render(stdout, recs, "md"); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}
