package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteReplacesWholeAndCleanRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	for _, data := range []string{"first", "second"} {
		if err := Write(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != data {
			t.Errorf("read %q, want %q", got, data)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	// What a kill -9 during Write leaves, and files that only look alike.
	left := TempPrefix(path) + "123"
	for _, n := range []string{left, "r.json.tmp-1", ".hidden"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	removed, err := Clean(dir)
	if err != nil || !slices.Equal(removed, []string{left}) {
		t.Errorf("Clean removed %v (%v), want only %s", removed, err, left)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{".hidden", "r.json", "r.json.tmp-1"}; !slices.Equal(names, want) {
		t.Errorf("left %v, want %v", names, want)
	}
}
