// Package atomicfile writes files that appear whole or not at all: a crash leaves the
// old file (or none) and at most a hidden temporary file, named TempPrefix(path)*,
// which Clean removes.
package atomicfile

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix is the name prefix of Write's temporary files for path: ".NAME.tmp-".
func TempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// Write writes data to a temporary file beside path (so the rename cannot cross file
// systems), makes it 0644 (CreateTemp makes 0600; results are meant to be shared),
// syncs it, renames it over path and syncs the folder so that the rename persists.
func Write(path string, data []byte) error {
	return WriteFunc(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFunc is Write with the contents streamed by write, for files too large to hold
// in memory twice (checkpoints of a fully fine-tuned model). An error from write leaves
// the old file as it was.
func WriteFunc(path string, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, TempPrefix(path)+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	buf := bufio.NewWriterSize(f, 1<<20)
	if err = write(buf); err != nil {
		return err
	}
	if err = buf.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// IsTemp says whether a file name is one of Write's temporary files.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")
}

// Clean removes Write's temporary files left in dir by a killed process, and returns
// their names. Call it only while no other process writes into dir (under a lock).
func Clean(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() && IsTemp(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return removed, err
			}
			removed = append(removed, e.Name())
		}
	}
	return removed, nil
}
