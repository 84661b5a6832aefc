package nlg

// Prediction files: JSON lines {"id": "...", "prediction": "..."}, one per dev
// example, so that a run's summaries can be re-scored (or scored by someone else)
// without the model.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vectorfit/harness/internal/atomicfile"

	"github.com/vectorfit/harness/internal/lines"
)

// WritePredictions writes the file atomically, in the given order.
func WritePredictions(path string, ids, preds []string) error {
	if len(ids) != len(preds) {
		return fmt.Errorf("nlg: %s: %d ids for %d predictions", path, len(ids), len(preds))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i := range ids {
		if err := enc.Encode(map[string]string{"id": ids[i], "prediction": preds[i]}); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, buf.Bytes())
}

// ReadPredictions reads a prediction file into id → prediction. Errors name the file,
// line and field: bad JSON, a missing or non-string id or prediction, a duplicate id
// (with the line of the first), a line over MaxLineBytes. Blank lines are skipped;
// other fields are ignored.
func ReadPredictions(path string) (map[string]string, error) {
	preds, first := map[string]string{}, map[string]int{}
	err := eachLine(path, MaxLineBytes, func(lineNo int, line string, tooLong *ParseError) error {
		if tooLong != nil {
			return tooLong
		}
		if strings.TrimSpace(line) == "" {
			return nil
		}
		obj, err := lines.DecodeObject(line)
		if err != nil {
			return lineError(path, lineNo, "", "want one JSON object per line: %v", err)
		}
		var vals [2]string
		for i, k := range []string{"id", "prediction"} {
			v, present := obj[k]
			s, ok := v.(string)
			switch {
			case !present:
				return lineError(path, lineNo, k, "missing, want a string (lines are {\"id\": ..., \"prediction\": ...})")
			case !ok:
				return lineError(path, lineNo, k, "want a string, got %s", jsonKind(v))
			}
			vals[i] = s
		}
		if prev, dup := first[vals[0]]; dup {
			return lineError(path, lineNo, "id", "duplicate id %q (first at line %d)", vals[0], prev)
		}
		first[vals[0]], preds[vals[0]] = lineNo, vals[1]
		return nil
	})
	return preds, err
}

// ScoreFile scores a prediction file against a split: ROUGE F-measures (fractions)
// after run_summarization's postprocessing. Every example needs a prediction, and
// every prediction an example.
func ScoreFile(split Split, predPath string) (map[string]float64, error) {
	preds, err := ReadPredictions(predPath)
	if err != nil {
		return nil, err
	}
	var p, r, missing []string
	for _, ex := range split.Examples {
		text, ok := preds[ex.ID]
		if !ok {
			missing = append(missing, ex.ID)
			continue
		}
		delete(preds, ex.ID)
		p, r = append(p, PostprocessText(text)), append(r, PostprocessText(ex.Target))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("nlg: %s has no prediction for %d of the %d examples of %s (first: id %q)", predPath, len(missing), len(split.Examples), split.Path, missing[0])
	}
	if len(preds) > 0 {
		for id := range preds {
			return nil, fmt.Errorf("nlg: %s predicts %d ids that %s does not have (e.g. %q)", predPath, len(preds), split.Path, id)
		}
	}
	return CorpusRouge(p, r)
}
