package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vectorfit/harness/internal/atomicfile"
	"github.com/vectorfit/harness/reports"
)

// openOut makes -out ready before the first step: a folder (created if needed) that
// this process can write, locked against a second runner, cleaned of the temporary
// files a killed run leaves, and whose existing records all read.
func (c *command) openOut() error {
	dir := c.o.Out
	if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
		return fmt.Errorf("-out %s is a file; want a folder for the records", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("-out %s: %w", dir, err)
	}
	if err := probeWrite(dir); err != nil {
		return err
	}
	release, err := lockOut(dir, func(f string, a ...any) { fmt.Fprintf(c.stderr, f, a...) })
	if err != nil {
		return err
	}
	c.release = release
	if err := c.cleanStale(); err != nil {
		return err
	}
	if c.existing, err = readExisting(dir); err != nil {
		return err
	}
	return nil
}

// probeWrite writes and removes a file in dir: a read-only folder fails now, not when
// the first record is due.
func probeWrite(dir string) error {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("-out %s is not writable: %w", dir, err)
	}
	name := f.Name()
	_, err = f.WriteString("probe")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	os.Remove(name)
	if err != nil {
		return fmt.Errorf("-out %s is not writable: %w", dir, err)
	}
	return nil
}

// cleanStale removes temporary files a killed runner left in -out and its checkpoint
// and prediction folders (safe: this process holds the lock).
func (c *command) cleanStale() error {
	dirs := []string{c.o.Out}
	for _, d := range []string{checkpointsDir, "predictions"} {
		sub, _ := filepath.Glob(filepath.Join(c.o.Out, d, "*"))
		dirs = append(dirs, sub...)
	}
	for _, d := range dirs {
		removed, err := atomicfile.Clean(d)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cleaning %s: %w", d, err)
		}
		for _, n := range removed {
			fmt.Fprintf(c.stderr, "removed %s, a partial file a killed run left\n", filepath.Join(d, n))
		}
	}
	// Folders of a -save-best export that was interrupted.
	tmp, _ := filepath.Glob(filepath.Join(c.o.Out, bestDir, "*"+partialSuffix))
	for _, d := range tmp {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "removed %s, a partial export a killed run left\n", d)
	}
	return nil
}

// readExisting reads every record in dir, by file name; one that does not read is an
// error now rather than after training (when writing beside it would fail).
func readExisting(dir string) (map[string]reports.Record, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	any := false
	for _, e := range entries {
		any = any || (!e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), "."))
	}
	out := map[string]reports.Record{}
	if !any {
		return out, nil
	}
	recs, err := reports.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("-out %s holds records that do not read (move them away, or use another -out): %w", dir, err)
	}
	for _, r := range recs {
		out[r.FileName()] = r
	}
	return out, nil
}
