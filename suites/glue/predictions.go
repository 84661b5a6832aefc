package glue

// Prediction files: JSON lines {"idx": 0, "prediction": 1}, one per dev
// example, keyed by Example.Idx. They let a run's predictions be re-scored
// (or scored by someone else) without the model.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/vectorfit/harness/internal/lines"
)

// Field names of a prediction line. Other fields (logits, probabilities,
// the input text) are allowed and ignored.
const (
	predIdxField   = "idx"
	predValueField = "prediction"
)

// ReadPredictions reads a JSON-lines prediction file and returns the
// prediction per idx: a class id (as float64) for classification, the
// predicted score for STS-B.
//
// For classification the prediction may be the class id (1, also 1.0), the
// class name ("entailment"), or the id as a string ("0", "1", as in the
// CoLA/SST-2/MRPC/QQP TSV files). For STS-B it is a number (a numeric string
// is accepted too). Blank lines are skipped. Errors name the file and line:
// bad JSON, a missing or non-integer idx, an unknown label, a class id out of
// range, and a duplicate idx (with the line of its first occurrence).
func ReadPredictions(task Task, path string) (map[int]float64, error) {
	if err := checkTask(task); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("glue: predictions: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	preds := map[int]float64{}
	firstLine := map[int]int{} // idx → line, to point at both duplicates
	lineNo := 0
	for {
		line, length, err := lines.Read(r, MaxLineBytes)
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("glue: %s: %w", path, err)
		}
		if length == 0 && line == "" && err == io.EOF {
			break
		}
		lineNo++
		if length > MaxLineBytes {
			return nil, lineTooLong(path, lineNo, length, MaxLineBytes)
		}
		if strings.TrimSpace(line) != "" {
			idx, p, perr := parsePredictionLine(task, path, lineNo, line)
			if perr != nil {
				return nil, perr
			}
			if prev, dup := firstLine[idx]; dup {
				return nil, lineError(path, lineNo, predIdxField, "duplicate idx %d (first at line %d)", idx, prev)
			}
			firstLine[idx] = lineNo
			preds[idx] = p
		}
		if err == io.EOF {
			break
		}
	}
	return preds, nil
}

func parsePredictionLine(task Task, path string, lineNo int, line string) (int, float64, *ParseError) {
	obj, err := lines.DecodeObject(line)
	if err != nil {
		return 0, 0, lineError(path, lineNo, "", `want a JSON object like {"idx": 0, "prediction": 1}: %v`, err)
	}
	rawIdx, ok := obj[predIdxField]
	if !ok {
		return 0, 0, lineError(path, lineNo, predIdxField, "missing, want the example's 0-based idx")
	}
	num, ok := rawIdx.(json.Number)
	if !ok {
		return 0, 0, lineError(path, lineNo, predIdxField, "want a non-negative integer, got %s", jsonKind(rawIdx))
	}
	idx64, err := num.Int64()
	if err != nil || idx64 < 0 || idx64 > math.MaxInt32 {
		return 0, 0, lineError(path, lineNo, predIdxField, "want a non-negative integer, got %s", num)
	}
	rawPred, ok := obj[predValueField]
	if !ok {
		return 0, 0, lineError(path, lineNo, predValueField, "missing")
	}
	p, msg := predictionValue(task, rawPred)
	if msg != "" {
		return 0, 0, lineError(path, lineNo, predValueField, "%s", msg)
	}
	return int(idx64), p, nil
}

// predictionValue converts a decoded "prediction" value; the message is
// empty on success.
func predictionValue(task Task, v any) (float64, string) {
	if task.IsRegression() {
		var s string
		switch x := v.(type) {
		case json.Number:
			s = x.String()
		case string:
			s = strings.TrimSpace(x)
		default:
			return 0, fmt.Sprintf("want a predicted STS-B score (a number), got %s", jsonKind(v))
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, fmt.Sprintf("want a finite number, got %q", s)
		}
		return f, ""
	}
	want := fmt.Sprintf("want a class id 0..%d or one of %s", task.NumLabels-1, quoteList(task.Labels))
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil || f != math.Trunc(f) || f < 0 || f >= float64(task.NumLabels) {
			return 0, fmt.Sprintf("%s, got %s", want, x)
		}
		return f, ""
	case string:
		id, ok := task.LabelID(x)
		if !ok {
			return 0, fmt.Sprintf("%s, got %q", want, x)
		}
		return float64(id), ""
	}
	return 0, fmt.Sprintf("%s, got %s", want, jsonKind(v))
}

// maxListedIdx bounds how many idx an alignment error lists.
const maxListedIdx = 5

// ScoreFile reads a prediction file and scores it against a dev split with
// Compute. Every example of the split must have a prediction, and every
// prediction must belong to an example of the split: a prediction for an idx
// the split does not have usually means the file is for another split (MNLI
// matched vs mismatched) or another task, so it is an error rather than
// silently ignored.
func ScoreFile(task Task, dev Split, predPath string) (map[string]float64, error) {
	preds, err := ReadPredictions(task, predPath)
	if err != nil {
		return nil, err
	}
	aligned := make([]float64, len(dev.Examples))
	var missing []int
	inSplit := make(map[int]bool, len(dev.Examples))
	for i, ex := range dev.Examples {
		inSplit[ex.Idx] = true
		p, ok := preds[ex.Idx]
		if !ok {
			missing = append(missing, ex.Idx)
			continue
		}
		aligned[i] = p
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("glue: %s: %d of the %d %s examples have no prediction (first idx: %s)",
			predPath, len(missing), len(dev.Examples), dev.Name, listIdx(missing))
	}
	var extra []int
	for idx := range preds {
		if !inSplit[idx] {
			extra = append(extra, idx)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return nil, fmt.Errorf("glue: %s: %d predictions have an idx that the %s split (%d examples, %s) does not have (first: %s); predictions for another split?",
			predPath, len(extra), dev.Name, len(dev.Examples), dev.Path, listIdx(extra))
	}
	scores, err := Compute(task, aligned, dev.Examples)
	if err != nil {
		return nil, fmt.Errorf("%w (predictions from %s)", err, predPath)
	}
	return scores, nil
}

func listIdx(idx []int) string {
	n := min(len(idx), maxListedIdx)
	parts := make([]string, n)
	for i := range n {
		parts[i] = strconv.Itoa(idx[i])
	}
	s := strings.Join(parts, ", ")
	if len(idx) > n {
		s += ", ..."
	}
	return s
}
