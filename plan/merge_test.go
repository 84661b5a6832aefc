package plan

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestMerge(t *testing.T) {
	root := t.TempDir()
	a, b, out := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "out")
	write(t, filepath.Join(a, "glue_rte_lora_seed1.json"), `{"settings_hash":"aaa","x":1}`)
	write(t, filepath.Join(a, "predictions/glue_rte_lora_seed1/predictions.jsonl"), "p1\n")
	write(t, filepath.Join(b, "glue_rte_lora_seed2.json"), `{"settings_hash":"bbb"}`)
	write(t, filepath.Join(b, "predictions/glue_rte_lora_seed2/img.png"), "png")
	write(t, filepath.Join(b, "glue_rte_lora_seed1.json"), `{"settings_hash":"aaa","x":1}`) // identical duplicate
	write(t, filepath.Join(b, ".runner.lock"), "")                                          // not merged
	write(t, filepath.Join(b, "checkpoints/glue_rte_lora_seed3/state"), "ck")               // not merged
	write(t, filepath.Join(b, "predictions/glue_rte_lora_seed2/.tmp-123"), "partial")       // not merged
	res, err := Merge([]string{a, b}, out)
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied != 4 || res.Identical != 1 || res.Records != 2 {
		t.Errorf("result %+v, want 4 copied, 1 identical, 2 records", res)
	}
	var got []string
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(out, p)
			got = append(got, rel)
		}
		return nil
	})
	want := "glue_rte_lora_seed1.json glue_rte_lora_seed2.json predictions/glue_rte_lora_seed1/predictions.jsonl predictions/glue_rte_lora_seed2/img.png"
	if strings.Join(got, " ") != want {
		t.Errorf("out holds %v, want %s", got, want)
	}
	if read(t, filepath.Join(out, "predictions/glue_rte_lora_seed2/img.png")) != "png" {
		t.Error("image not copied as it was")
	}
	// Merging again changes nothing: everything is there, identical.
	res, err = Merge([]string{a, b}, out)
	if err != nil || res.Copied != 0 || res.Identical != 5 {
		t.Errorf("second merge: %+v %v", res, err)
	}
}

func TestMergeConflicts(t *testing.T) {
	for _, c := range []struct {
		name, a, b, file, want string
	}{
		{"same hash", `{"settings_hash":"abc123","finished_at":"1"}`, `{"settings_hash":"abc123","finished_at":"2"}`, "glue_rte_lora_seed1.json",
			"have the same settings hash abc123 but different contents"},
		{"other settings", `{"settings_hash":"abc"}`, `{"settings_hash":"def"}`, "glue_rte_lora_seed1.json",
			"are records of one run name with different settings (hashes abc and def)"},
		{"predictions", "1", "2", "predictions/r/predictions.jsonl", "differ"},
	} {
		root := t.TempDir()
		a, b, out := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "out")
		write(t, filepath.Join(a, c.file), c.a)
		write(t, filepath.Join(b, c.file), c.b)
		write(t, filepath.Join(a, "other.json"), "{}")
		_, err := Merge([]string{a, b}, out)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, want := range []string{"merge: 1 conflicting files, nothing copied", filepath.Join(a, c.file), filepath.Join(b, c.file), c.want} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", c.name, err, want)
			}
		}
		if _, err := os.Stat(filepath.Join(out, "other.json")); err == nil {
			t.Errorf("%s: a file was copied despite the conflict", c.name)
		}
	}
	// A record already in -out conflicts like an input's.
	root := t.TempDir()
	a, out := filepath.Join(root, "a"), filepath.Join(root, "out")
	write(t, filepath.Join(a, "r.json"), `{"settings_hash":"x1"}`)
	write(t, filepath.Join(out, "r.json"), `{"settings_hash":"x2"}`)
	if _, err := Merge([]string{a}, out); err == nil || !strings.Contains(err.Error(), filepath.Join(out, "r.json")+" and "+filepath.Join(a, "r.json")) {
		t.Errorf("existing -out record: %v", err)
	}
	if _, err := Merge([]string{filepath.Join(root, "missing")}, out); err == nil || !strings.Contains(err.Error(), "merge: -in "+filepath.Join(root, "missing")) {
		t.Errorf("missing -in: %v", err)
	}
	if _, err := Merge(nil, out); err == nil {
		t.Error("no -in: no error")
	}
}
