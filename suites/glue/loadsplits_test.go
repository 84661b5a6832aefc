package glue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LoadSplits reads only the splits asked for, in either layout: a folder with the dev
// file and no train file loads its dev split; a split that is missing is an error
// naming the files looked for; a split the task does not have is refused.
func TestLoadSplitsReadsOnlyWhatIsAsked(t *testing.T) {
	rte := mustTask(t, "rte")
	hfDev := t.TempDir()
	raw, err := os.ReadFile(filepath.Join("testdata", "hf", "rte", "validation.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(hfDev, "rte"), 0o755)
	os.WriteFile(filepath.Join(hfDev, "rte", "validation.jsonl"), raw, 0o644)
	wantRows := strings.Count(strings.TrimSpace(string(raw)), "\n") + 1

	got, err := LoadSplits(rte, hfDev, []string{SplitValidation}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != SplitValidation || got[0].Format != FormatJSONL || len(got[0].Examples) != wantRows {
		t.Errorf("got %d splits, first %q %s with %d rows; want validation jsonl with %d", len(got), got[0].Name, got[0].Format, len(got[0].Examples), wantRows)
	}
	if _, _, err := Load(rte, hfDev, LoadOptions{}); err == nil || !strings.Contains(err.Error(), filepath.Join(hfDev, "rte", "train.jsonl")) {
		t.Errorf("Load without a train split: %v, want an error naming %s", err, filepath.Join(hfDev, "rte", "train.jsonl"))
	}
	empty := t.TempDir()
	if _, err := LoadSplits(rte, empty, []string{SplitValidation}, LoadOptions{}); err == nil || !strings.Contains(err.Error(), filepath.Join(empty, "RTE", "dev.tsv")) {
		t.Errorf("no dev file: %v, want an error naming %s", err, filepath.Join(empty, "RTE", "dev.tsv"))
	}
	if _, err := LoadSplits(rte, hfDev, []string{SplitValidationMatched}, LoadOptions{}); err == nil || !strings.Contains(err.Error(), `no split "validation_matched"`) {
		t.Errorf("a split rte does not have: %v", err)
	}
}
