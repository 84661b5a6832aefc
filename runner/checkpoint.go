package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/atomicfile"
	"github.com/vectorfit/harness/internal/scoremap"
	"github.com/vectorfit/harness/methods"
	"github.com/vectorfit/harness/models/safetensors"
	"github.com/vectorfit/harness/reports"
	"github.com/vectorfit/harness/train"
)

// Folders in -out: a run's checkpoint (removed when its record is written, unless
// -keep-checkpoints) and its best evaluation's trainable parameters (-save-best).
const (
	checkpointsDir = "checkpoints"
	bestDir        = "best"
	partialSuffix  = ".partial"
)

// identity is what a checkpoint must share with the run that resumes it: the same
// settings, code and machine-side numerics, or the resumed run would not be the run
// it continues.
type identity struct {
	SettingsHash string            `json:"settings_hash"`
	Code         reports.Code      `json:"code"`
	Device       string            `json:"device"`
	TorchThreads int               `json:"torch_threads"`
	Variables    map[string]string `json:"variables,omitempty"`
}

func identityOf(r reports.Record) identity {
	return identity{SettingsHash: r.SettingsHash, Code: r.Code, Device: r.Device,
		TorchThreads: r.Environment.TorchThreads, Variables: r.Environment.Variables}
}

// saveCheckpoint writes the loop's state and the method's into dir.
func saveCheckpoint(dir string, id identity, cp train.Checkpoint, meth methods.Method) error {
	raw, err := json.Marshal(id)
	if err != nil {
		return err
	}
	st := train.Stored{Identity: raw, Loop: cp}
	if sm, ok := meth.(methods.Stateful); ok {
		if st.MethodTensors, st.Method, err = sm.SaveState(); err != nil {
			return err
		}
	}
	return train.SaveCheckpoint(dir, st)
}

// resume loads dir's checkpoint into cfg.Resume and the method, after checking that
// it is this run's. No checkpoint: nil, nil.
func resume(dir string, want identity, meth methods.Method, cfg *train.Config) (*train.Stored, error) {
	st, err := train.LoadCheckpoint(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w (remove %s, or rerun with -force, to start this run over)", err, dir)
	}
	var got identity
	if err := json.Unmarshal(st.Identity, &got); err != nil {
		st.Drop()
		return nil, fmt.Errorf("checkpoint %s: identity: %w", dir, err)
	}
	if d := identityDiff(got, want); d != "" {
		st.Drop()
		return nil, fmt.Errorf("checkpoint %s is of another run (%s): resuming it would not reproduce this one; rerun as it was, or -force to discard it and start over", dir, d)
	}
	if sm, ok := meth.(methods.Stateful); ok {
		if err := sm.LoadState(st.MethodTensors, st.Method); err != nil {
			st.Drop()
			return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
		}
	}
	cfg.Resume = &st.Loop
	return &st, nil
}

func identityDiff(got, want identity) string {
	switch {
	case got.SettingsHash != want.SettingsHash:
		return fmt.Sprintf("settings hash %.12s, this run's %.12s", got.SettingsHash, want.SettingsHash)
	case !sameCode(got.Code, want.Code):
		return fmt.Sprintf("code %s (binary %.12s), this run's %s (binary %.12s)", got.Code.Version, got.Code.BinarySHA256, want.Code.Version, want.Code.BinarySHA256)
	case got.Device != want.Device:
		return fmt.Sprintf("device %s, this run's %s", got.Device, want.Device)
	case got.TorchThreads != want.TorchThreads:
		return fmt.Sprintf("%d libtorch threads, this run's %d (-threads)", got.TorchThreads, want.TorchThreads)
	case fmt.Sprint(got.Variables) != fmt.Sprint(want.Variables):
		return fmt.Sprintf("environment %v, this run's %v", got.Variables, want.Variables)
	}
	return ""
}

// peftExporter is a method that saves its adapter as a PEFT folder (LoRA).
type peftExporter interface {
	SavePEFT(dir, baseModel string) error
}

// saveBest returns the OnBest hook of -save-best: the trainable parameters at the best
// evaluation, in -out/best/<run>/, replaced whole at each new best. LoRA writes a PEFT
// adapter folder; other methods trainable.safetensors (adapter and head, by name).
func (c *command) saveBest(meth methods.Method, rec reports.Record) func(train.Eval) error {
	dir := filepath.Join(c.o.Out, bestDir, rec.FileName()[:len(rec.FileName())-len(".json")])
	return func(e train.Eval) error {
		tmp := dir + partialSuffix
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		if err := exportTrainable(meth, rec.Model.Name, tmp); err != nil {
			os.RemoveAll(tmp)
			return err
		}
		about, err := json.MarshalIndent(map[string]any{
			"suite": rec.Suite, "task": rec.Task, "method": rec.Method, "seed": rec.Seed, "model": rec.Model,
			"method_settings": rec.MethodSettings, "settings_hash": rec.SettingsHash,
			"step": e.Step, "scores": scoremap.Map(e.Scores.Values), "main_score": e.Scores.Main, // NaN (undefined) as null
		}, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(filepath.Join(tmp, "evaluation.json"), append(about, '\n')); err != nil {
			return err
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		return os.Rename(tmp, dir)
	}
}

func exportTrainable(meth methods.Method, base, dir string) error {
	if p, ok := meth.(peftExporter); ok {
		return p.SavePEFT(dir, base)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	adapter, head := meth.Trainable()
	tensors := map[string]*ts.Tensor{}
	for _, p := range append(adapter, head...) {
		tensors[p.Name] = p.T
	}
	return safetensors.Save(filepath.Join(dir, "trainable.safetensors"), tensors, map[string]string{"method": meth.Name()})
}

// sameCode compares builds by their binaries' hashes where both have one (the version
// string cannot tell two dirty trees apart, and git describe at run time follows the
// folder, not the binary), else by version.
func sameCode(a, b reports.Code) bool {
	if a.BinarySHA256 != "" && b.BinarySHA256 != "" {
		return a.BinarySHA256 == b.BinarySHA256
	}
	return a.Version == b.Version && a.GoVersion == b.GoVersion
}
