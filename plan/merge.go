package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// MergeResult counts what Merge did.
type MergeResult struct {
	Copied    int // files copied into out
	Identical int // files already there (from an earlier input or out itself) with the same bytes
	Records   int // records (top-level .json files) in out afterwards
}

// mergedDirs are the folders under a record folder that belong to its runs
// (checkpoints are per machine and are not merged).
var mergedDirs = []string{"predictions", "best"}

// Merge copies the records of every folder in ins (and their predictions/ and best/
// files) into out. A file present in two places with different bytes is a conflict:
// nothing is copied and the error names both files (for records, with their settings
// hashes). Identical files are copied once.
func Merge(ins []string, out string) (MergeResult, error) {
	var res MergeResult
	if len(ins) == 0 {
		return res, fmt.Errorf("merge: no -in folders")
	}
	src := map[string]string{} // relative path -> the file it comes from
	var order []string
	var conflicts []string
	claim := func(rel, path string) error {
		prev, ok := src[rel]
		if !ok {
			src[rel] = path
			order = append(order, rel)
			return nil
		}
		same, err := sameBytes(prev, path)
		if err != nil {
			return err
		}
		if same {
			res.Identical++
			return nil
		}
		conflicts = append(conflicts, conflict(rel, prev, path))
		return nil
	}
	// What out already holds takes part like an input, first.
	for _, dir := range append([]string{out}, ins...) {
		files, err := runFiles(dir)
		if errors.Is(err, fs.ErrNotExist) && dir == out {
			continue
		}
		if err != nil {
			return res, fmt.Errorf("merge: -in %s: %w", dir, err)
		}
		for _, rel := range files {
			if err := claim(rel, filepath.Join(dir, rel)); err != nil {
				return res, err
			}
		}
	}
	if len(conflicts) > 0 {
		return res, fmt.Errorf("merge: %d conflicting files, nothing copied:\n  %s", len(conflicts), strings.Join(conflicts, "\n  "))
	}
	for _, rel := range order {
		dst := filepath.Join(out, rel)
		if src[rel] == dst {
			continue
		}
		if err := copyFile(src[rel], dst); err != nil {
			return res, fmt.Errorf("merge: %w", err)
		}
		res.Copied++
	}
	for _, rel := range order {
		if !strings.Contains(rel, string(filepath.Separator)) && strings.HasSuffix(rel, ".json") {
			res.Records++
		}
	}
	return res, nil
}

// runFiles lists a record folder's records and run files, relative to it, sorted.
func runFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	for _, sub := range mergedDirs {
		root := filepath.Join(dir, sub)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && p != root { // temporary files of a killed run
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				rel, _ := filepath.Rel(dir, p)
				out = append(out, rel)
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

// conflict describes two different files of one name; records name their hashes.
func conflict(rel, a, b string) string {
	if !strings.HasSuffix(rel, ".json") || strings.Contains(rel, string(filepath.Separator)) {
		return fmt.Sprintf("%s and %s differ", a, b)
	}
	ha, hb := settingsHash(a), settingsHash(b)
	if ha == hb {
		return fmt.Sprintf("%s and %s have the same settings hash %.12s but different contents (the same run done twice? keep one)", a, b, ha)
	}
	return fmt.Sprintf("%s and %s are records of one run name with different settings (hashes %.12s and %.12s)", a, b, ha, hb)
}

func settingsHash(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	var r struct {
		Hash string `json:"settings_hash"`
	}
	if json.Unmarshal(raw, &r) != nil || r.Hash == "" {
		return "(none)"
	}
	return r.Hash
}

func sameBytes(a, b string) (bool, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}

// copyFile writes dst through a temporary file and a rename, so that an interrupted
// merge leaves no half file.
func copyFile(src, dst string) error {
	raw, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".merge-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(raw)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
