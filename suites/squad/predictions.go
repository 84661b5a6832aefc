package squad

// predictions.json ({"qid": "answer text", ...}) and na_prob.json ({"qid": 0.93,
// ...}), the two files the official v2.0 script reads (v1.1 reads the first).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/vectorfit/harness/internal/atomicfile"
)

// WritePredictions writes predictions.json atomically (a temporary file renamed
// into place), keys sorted.
func WritePredictions(path string, preds map[string]string) error {
	return writeJSONAtomic(path, preds)
}

// WriteNAProbs writes na_prob.json atomically, keys sorted: the order in which
// Evaluate breaks ties between equal probabilities, so that the official script
// run on the file finds the same best thresholds.
func WriteNAProbs(path string, probs map[string]float64) error {
	return writeJSONAtomic(path, probs)
}

func writeJSONAtomic(path string, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("squad: %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("squad: %w", err)
	}
	if err := atomicfile.Write(path, buf.Bytes()); err != nil {
		return fmt.Errorf("squad: %s: %w", path, err)
	}
	return nil
}

// ReadPredictions reads predictions.json: one JSON object mapping question ids to
// answer strings.
func ReadPredictions(path string) (map[string]string, error) {
	out := map[string]string{}
	_, err := readObject(path, func(key string, raw json.RawMessage) error {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return fmt.Errorf("want an answer string, got %s", jsonKind(raw))
		}
		out[key] = s
		return nil
	})
	return out, err
}

// ReadNAProbs reads na_prob.json: one JSON object mapping question ids to numbers.
// order is the keys in file order, which EvaluateInOrder needs to break ties as
// the official script does.
func ReadNAProbs(path string) (probs map[string]float64, order []string, err error) {
	probs = map[string]float64{}
	order, err = readObject(path, func(key string, raw json.RawMessage) error {
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return fmt.Errorf("want a number, got %s", jsonKind(raw))
		}
		probs[key] = f
		return nil
	})
	return probs, order, err
}

// readObject streams the members of a top-level JSON object in file order.
// Repeated keys are an error: Python would silently keep the last value.
func readObject(path string, member func(key string, raw json.RawMessage) error) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("squad: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("squad: %s: want a JSON object of question id → value", path)
	}
	var order []string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("squad: %s: %w", path, err)
		}
		key := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("squad: %s: key %q: %w", path, key, err)
		}
		if seen[key] {
			return nil, fmt.Errorf("squad: %s: key %q appears twice", path, key)
		}
		seen[key] = true
		if err := member(key, raw); err != nil {
			return nil, fmt.Errorf("squad: %s: key %q: %w", path, key, err)
		}
		order = append(order, key)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("squad: %s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("squad: %s: data after the JSON object", path)
	}
	return order, nil
}

// ScoreFiles does what the official scripts' command lines do: load the data
// (version as Load takes it: "" reads the JSON's own), read the predictions and,
// for v2.0, the na_prob file if naProbPath is not empty (its key order kept for
// the best-threshold search), and score with the --na-prob-thresh naThreshold
// (DefaultNAThreshold is the script's default). Print the result with
// PrintOfficial(w, scores, ds.Version). The v1.1 script warns on stderr about
// unanswered questions: Missing(ds, preds) lists them.
func ScoreFiles(dataPath, version, predPath, naProbPath string, naThreshold float64) (scores map[string]float64, ds Dataset, preds map[string]string, err error) {
	if ds, err = Load(dataPath, version); err != nil {
		return nil, Dataset{}, nil, err
	}
	if preds, err = ReadPredictions(predPath); err != nil {
		return nil, ds, nil, err
	}
	var na map[string]float64
	var order []string
	if naProbPath != "" {
		if !ds.IsV2() {
			return nil, ds, preds, fmt.Errorf("squad: %s: the SQuAD v1.1 evaluation takes no na_prob file", naProbPath)
		}
		if na, order, err = ReadNAProbs(naProbPath); err != nil {
			return nil, ds, preds, err
		}
	}
	scores, err = EvaluateInOrder(ds, preds, na, order, naThreshold)
	return scores, ds, preds, err
}
