package reports

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/vectorfit/harness/internal/atomicfile"
)

// Write stores r as dir/r.FileName(), creating dir. The file appears whole or not at
// all: a crash leaves at most a hidden temporary file, which ReadDir ignores. A file of
// the same (suite, task, method, seed) is replaced (a rerun); a file of another run that
// sanitises to the same name, or one that cannot be read as a record, is an error rather
// than lost. A zero Schema is set to SchemaVersion.
func Write(dir string, r Record) (string, error) {
	if r.Schema == 0 {
		r.Schema = SchemaVersion
	}
	if err := validate(r); err != nil {
		return "", fmt.Errorf("reports: record %s: %w", r.id(), err)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", fmt.Errorf("reports: encoding record %s: %w", r.id(), err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("reports: %w", err)
	}
	path := filepath.Join(dir, r.FileName())
	if err := checkReplaceable(path, r.id()); err != nil {
		return "", err
	}
	if err := atomicfile.Write(path, append(data, '\n')); err != nil {
		return "", fmt.Errorf("reports: writing %s: %w", path, err)
	}
	return path, nil
}

// checkReplaceable allows replacing path only when it is absent or holds the same run.
func checkReplaceable(path string, want id) error {
	old, err := readRecord(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("reports: not replacing %s, which is not a readable record (remove it to rerun): %w", path, err)
	case old.id() != want:
		return fmt.Errorf("reports: not replacing %s: it holds %s, not %s (names that sanitise alike)", path, old.id(), want)
	}
	return nil
}

// ReadDir reads every *.json record in dir, sorted by suite, task (GLUE order first),
// method (vectorfit, lora, fullft first) and seed. A malformed or invalid file, two files
// of the same run (which would count a seed twice) and a dir without records are errors.
func ReadDir(dir string) ([]Record, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	var out []Record
	seen := map[id]string{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, ".json") {
			continue
		}
		path := filepath.Join(dir, name)
		r, err := readRecord(path)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[r.id()]; dup {
			return nil, fmt.Errorf("reports: %s and %s both hold %s: keep one, or its seed counts twice", prev, path, r.id())
		}
		seen[r.id()] = path
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("reports: no records (*.json) in %s", dir)
	}
	sortRecords(out)
	return out, nil
}

// readRecord parses and validates one file; errors name the file and where it broke.
func readRecord(path string) (Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Record{}, fmt.Errorf("reports: %w", err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return Record{}, fmt.Errorf("reports: malformed record %s: %s: %w", path, jsonWhere(data, err), err)
	}
	if err := validate(r); err != nil {
		return Record{}, fmt.Errorf("reports: invalid record %s: %w", path, err)
	}
	return r, nil
}

// jsonWhere turns a decoding error's byte offset into a line and column, and names the
// field of a type mismatch, so that a hand-edited file can be fixed without guessing.
func jsonWhere(data []byte, err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return position(data, syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q, %s", typ.Field, position(data, typ.Offset))
	}
	return "decoding"
}

// position locates the last byte the decoder read (Go's offsets count the bytes read, so
// the offending one is the one before) as a 1-based line and column.
func position(data []byte, offset int64) string {
	at := min(max(offset-1, 0), int64(len(data)))
	before := data[:at]
	line := 1 + bytes.Count(before, []byte("\n"))
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d (byte %d)", line, col, at)
}

// CodeVersion describes the code of this process: `git describe --always --dirty` run in
// the working directory ("unknown" outside a git checkout or without git) and the Go
// version. Libtorch is left for the caller, which links it.
func CodeVersion() Code {
	c := Code{Version: buildRevision(), GoVersion: runtime.Version()}
	if c.Version == "" {
		c.Version = gitDescribe()
	}
	if exe, err := os.Executable(); err == nil {
		c.BinarySHA256, _, _ = FileSHA256(exe)
	}
	return c
}

// buildRevision is the VCS revision go build stamped into the binary (12 hex digits,
// "-dirty" when the tree had uncommitted changes), "" when there is none (go test
// binaries, -buildvcs=false). Unlike git describe at run time, it names the code that
// was built, whatever the folder's state now.
func buildRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return ""
	}
	return rev + dirty
}

func gitDescribe() string {
	// A hung git (e.g. a network file system) must not hold up the end of a run.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "describe", "--always", "--dirty").Output()
	if v := strings.TrimSpace(string(out)); err == nil && v != "" {
		return v
	}
	return "unknown"
}

// FileSHA256 returns the hex SHA-256 and the size of a file, streaming it so that model
// weights need not fit in memory twice.
func FileSHA256(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("reports: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("reports: hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
