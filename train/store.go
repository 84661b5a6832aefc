package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/atomicfile"
	"github.com/vectorfit/harness/models/safetensors"
)

// A checkpoint folder holds state.json and the safetensors file it names. Saving
// writes a new tensors file, then state.json over the old one (each atomically), then
// removes the old tensors file, so a crash at any point leaves a state.json whose
// tensors file is whole.
const (
	stateFile   = "state.json"
	storeFormat = 1
	methodTag   = "method/" // prefix of the method's tensors in the file
)

// Stored is a checkpoint as the caller saves it: the loop's state, the method's state,
// and an identity (the caller's settings, code and machine) compared before resuming.
type Stored struct {
	Format   int             `json:"format"`
	Identity json.RawMessage `json:"identity"`
	Loop     Checkpoint      `json:"loop"`
	Method   json.RawMessage `json:"method,omitempty"`
	Tensors  string          `json:"tensors"` // the tensors file, in the folder
	// MethodTensors are the method's tensors (methods.Stateful).
	MethodTensors map[string]*ts.Tensor `json:"-"`
}

// SaveCheckpoint writes s into dir (created if needed).
func SaveCheckpoint(dir string, s Stored) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tensors := map[string]*ts.Tensor{}
	for k, t := range s.Loop.Tensors {
		tensors[k] = t
	}
	for k, t := range s.MethodTensors {
		tensors[methodTag+k] = t
	}
	s.Format = storeFormat
	s.Tensors = fmt.Sprintf("step-%09d.safetensors", s.Loop.Step)
	if err := safetensors.Save(filepath.Join(dir, s.Tensors), tensors, nil); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", filepath.Join(dir, stateFile), err)
	}
	if err := atomicfile.Write(filepath.Join(dir, stateFile), append(raw, '\n')); err != nil {
		return err
	}
	return removeOthers(dir, s.Tensors)
}

// removeOthers deletes the folder's tensor files other than keep, and temporary files
// a crash left behind.
func removeOthers(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if n != keep && n != stateFile && (strings.HasSuffix(n, ".safetensors") || atomicfile.IsTemp(n)) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return err
			}
		}
	}
	return nil
}

// LoadCheckpoint reads the checkpoint in dir; an error wrapping fs.ErrNotExist means
// there is none.
func LoadCheckpoint(dir string) (Stored, error) {
	path := filepath.Join(dir, stateFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return Stored{}, err
	}
	var s Stored
	if err := json.Unmarshal(raw, &s); err != nil {
		return Stored{}, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if s.Format != storeFormat {
		return Stored{}, fmt.Errorf("checkpoint %s: format %d, this code reads %d", path, s.Format, storeFormat)
	}
	if s.Tensors == "" || filepath.Base(s.Tensors) != s.Tensors {
		return Stored{}, fmt.Errorf("checkpoint %s: tensors file %q is not a file name in the folder", path, s.Tensors)
	}
	all, err := safetensors.Load(filepath.Join(dir, s.Tensors))
	if errors.Is(err, fs.ErrNotExist) {
		return Stored{}, fmt.Errorf("checkpoint %s names %s, which is missing", path, s.Tensors)
	}
	if err != nil {
		return Stored{}, err
	}
	s.Loop.Tensors, s.MethodTensors = map[string]*ts.Tensor{}, map[string]*ts.Tensor{}
	for k, t := range all {
		if name, ok := strings.CutPrefix(k, methodTag); ok {
			s.MethodTensors[name] = t
		} else {
			s.Loop.Tensors[k] = t
		}
	}
	return s, nil
}

// Drop frees the checkpoint's tensors (those LoadCheckpoint made).
func (s Stored) Drop() {
	for _, m := range []map[string]*ts.Tensor{s.Loop.Tensors, s.MethodTensors} {
		for _, t := range m {
			t.MustDrop()
		}
	}
}
