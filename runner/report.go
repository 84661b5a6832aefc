package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/suites/glue"
	"github.com/vectorfit/harness/suites/nlg"
	"github.com/vectorfit/harness/suites/squad"
)

// reportCmd renders a folder of records: go run ./runner report -in results -format md.
// The tables average the seeds of a (task, method) only when they share model, code
// version and settings; otherwise they refuse, naming the differences, unless -mix
// (average anyway, noted under the table) or -split (one row per group) says otherwise.
func reportCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "results", "folder of JSON records")
	format := fs.String("format", "md", "md, latex (booktabs paper tables, one per suite), csv or json (csv and json list every record and average nothing)")
	mix := fs.Bool("mix", false, "md: average the seeds of a (task, method) even when they differ in model, code version or settings, with a note under the table saying what each such cell mixes")
	split := fs.Bool("split", false, "md: show the seeds of a (task, method) that differ in model, code version or settings as separate rows, labelled with what differs (e.g. \"VectorFit [lr=0.03]\")")
	paper := fs.Bool("paper", false, "md: the paper's published numbers beside ours with the delta (table: -paper-table)")
	paperTable := fs.String("paper-table", reports.DefaultPaperTable, "with -paper: a paper table JSON file, or the name of one built in (reports/paper/)")
	detail := fs.String("detail", "main", "md: the detail table's scores: main (the paper cell's, e.g. SQuAD EM and F1) or all (every score; csv and json always carry all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *detail != "main" && *detail != "all" {
		return fmt.Errorf("report: -detail %q, want main or all", *detail)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("report: unexpected argument %q (the folder goes in -in)", fs.Arg(0))
	}
	grouping := reports.Refuse
	switch {
	case *mix && *split:
		return errors.New("report: -mix and -split exclude each other: -mix averages records that differ into one cell, -split shows them as separate rows")
	case *mix:
		grouping = reports.Mix
	case *split:
		grouping = reports.Split
	}
	recs, err := reports.ReadDir(*in)
	if err != nil {
		return err
	}
	if *paper {
		if *format != "md" {
			return fmt.Errorf("report: -paper writes markdown; drop -format %s", *format)
		}
		var pt reports.PaperTable
		if pt, err = reports.ReadPaperTable(*paperTable); err == nil {
			err = reports.RenderPaper(stdout, recs, pt, grouping)
		}
	} else {
		err = reports.RenderWith(stdout, recs, *format, reports.Options{Grouping: grouping, DetailAll: *detail == "all"})
	}
	if mixed := (*reports.MixedError)(nil); errors.As(err, &mixed) {
		return fmt.Errorf("%w\nrerun with -split to show each group as its own row, or with -mix to average them anyway (noted under the table)", err)
	}
	return err
}

// scoreCmd scores a JSON-lines prediction file against a task's dev data with the
// harness's own metric code: go run ./runner score -suite glue -task rte -data DIR -pred FILE.
func scoreCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.SetOutput(stderr)
	suite := fs.String("suite", "glue", "suite")
	taskName := fs.String("task", "", "task, e.g. rte")
	dataDir := fs.String("data", "", "GLUE folder (TSV or nyu-mll/glue layout)")
	pred := fs.String("pred", "", `JSON-lines predictions {"idx": 0, "prediction": 1}`)
	split := fs.String("split", "", "glue: dev split to score (default: the task's first, e.g. validation_matched for mnli); nlg: the split (default validation)")
	version := fs.String("version", "", "squad: 1.1 or 2.0 (default: the data file's own)")
	naProb := fs.String("na-prob", "", "squad v2.0: na_prob.json")
	naThresh := fs.Float64("na-prob-thresh", squad.DefaultNAThreshold, "squad v2.0: no-answer threshold")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch *suite {
	case "squad":
		return scoreSQuAD(*dataDir, *version, *pred, *naProb, *naThresh, stdout, stderr)
	case "nlg":
		return scoreNLG(*taskName, *dataDir, *split, *pred, stdout)
	case "glue":
	default:
		return fmt.Errorf("score -suite %q: this build scores glue, squad and nlg", *suite)
	}
	if *taskName == "" || *dataDir == "" || *pred == "" {
		return fmt.Errorf("score needs -task, -data and -pred")
	}
	t, err := glue.Lookup(*taskName)
	if err != nil {
		return err
	}
	if _, err := os.Stat(*pred); err != nil {
		return err
	}
	name := *split
	if name == "" {
		name = t.DevSplits[0]
	}
	if !slices.Contains(t.DevSplits, name) {
		return fmt.Errorf("score -split %q: %s has %v", name, t.Name, t.DevSplits)
	}
	// Only the scored split is read: a folder with dev.tsv and no train.tsv scores.
	devs, err := glue.LoadSplits(t, *dataDir, []string{name}, glue.LoadOptions{})
	if err != nil {
		return err
	}
	dev := devs[0]
	scores, err := glue.ScoreFile(t, dev, *pred)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s (%s, %d examples) predictions %s\n", t.Name, dev.Name, filepath.Base(dev.Path), len(dev.Examples), *pred)
	for _, m := range t.Metrics {
		fmt.Fprintf(stdout, "%s\t%.6f\n", m, scores[m])
	}
	return nil
}

// scoreSQuAD prints what the official evaluate-v1.1.py / evaluate-v2.0.py print.
func scoreSQuAD(data, version, pred, naProb string, thresh float64, stdout, stderr io.Writer) error {
	if data == "" || pred == "" {
		return fmt.Errorf("score -suite squad needs -data (the dev JSON, or a folder holding it) and -pred")
	}
	if fi, err := os.Stat(data); err == nil && fi.IsDir() {
		if data, err = squadDevFile(data, version); err != nil {
			return err
		}
	}
	scores, ds, preds, err := squad.ScoreFiles(data, version, pred, naProb, thresh)
	if err != nil {
		return err
	}
	if ds.Version == squad.V1 {
		for _, id := range squad.Missing(ds, preds) {
			fmt.Fprintf(stderr, "Unanswered question %s will receive score 0.\n", id)
		}
	}
	return squad.PrintOfficial(stdout, scores, ds.Version)
}

// squadDevFile finds the dev file in a SQuAD folder, as training does (the official
// dev-v2.0.json / dev-v1.1.json, or Hugging Face's validation parquet), reading nothing
// else: a folder without the train file scores. With no -version the folder must hold
// one version's dev file.
func squadDevFile(dir, version string) (string, error) {
	versions := []string{"2.0", "1.1"}
	if version != "" {
		versions = []string{version}
	}
	var patterns []string
	for _, v := range versions {
		patterns = append(patterns, "dev-v"+v+".json")
	}
	patterns = append(patterns, "*/validation-*.parquet", "validation-*.parquet")
	var found []string
	for _, p := range patterns {
		m, _ := filepath.Glob(filepath.Join(dir, p))
		found = append(found, m...)
	}
	switch len(found) {
	case 0:
		want := make([]string, len(patterns))
		for i, p := range patterns {
			want[i] = filepath.Join(dir, p)
		}
		return "", fmt.Errorf("score -suite squad: no dev file in %s (looked for %s)", dir, strings.Join(want, ", "))
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("score -suite squad: %s holds several dev files (%s); pass -data FILE or -version", dir, strings.Join(found, ", "))
}

// scoreNLG prints the ROUGE F-measures (×100, as the paper reports them) of a JSON-lines
// prediction file ({"id", "prediction"}) against a summarisation split (default
// validation; -data is the dataset folder or the split's file).
func scoreNLG(taskName, data, split, pred string, stdout io.Writer) error {
	if taskName == "" || data == "" || pred == "" {
		return fmt.Errorf("score -suite nlg needs -task (xsum or cnn_dailymail), -data and -pred")
	}
	task, ok := nlg.Lookup(taskName)
	if !ok {
		return fmt.Errorf("score -suite nlg -task %q: want one of %v", taskName, nlg.Names())
	}
	if split == "" {
		split = "validation"
	}
	var dev nlg.Split
	var err error
	if fi, serr := os.Stat(data); serr == nil && !fi.IsDir() {
		dev, err = nlg.ReadFile(task, split, data, nlg.LoadOptions{})
	} else {
		var splits []nlg.Split
		if splits, err = nlg.LoadSplits(task, data, []string{split}, nlg.LoadOptions{}); err == nil {
			dev = splits[0]
		}
	}
	if err != nil {
		return err
	}
	scores, err := nlg.ScoreFile(dev, pred)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s (%s, %d examples) predictions %s\n", task.Name, split, filepath.Base(dev.Path), len(dev.Examples), pred)
	for _, k := range nlg.RougeTypes {
		fmt.Fprintf(stdout, "%s\t%.2f\n", k, 100*scores[k])
	}
	return nil
}
