package models

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sugarme/gotch/pickle"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models/safetensors"
)

// The files of a model folder: what every family's Load reads, in one place.

// Weight files of a Hugging Face (transformers) model folder, in the order
// transformers tries them. The microsoft/deberta-v3-base hub repo ships only
// pytorch_model.bin.
const (
	SafetensorsFile = "model.safetensors"
	PytorchFile     = "pytorch_model.bin"
)

// FirstFile is the first of names present in dir (joined to dir); ok is false when
// none is. Each family turns "none" into an error naming what its folder should hold.
func FirstFile(dir string, names []string) (path string, ok bool) {
	for _, name := range names {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// WeightsFile is dir's model.safetensors, else its pytorch_model.bin.
func WeightsFile(dir string) (string, error) {
	if p, ok := FirstFile(dir, []string{SafetensorsFile, PytorchFile}); ok {
		return p, nil
	}
	return "", fmt.Errorf("%s: no %s or %s", dir, SafetensorsFile, PytorchFile)
}

// ReadConfig reads the config.json at path and parses it with parse, which names path
// in its errors.
func ReadConfig[C any](path string, parse func(raw []byte, source string) (C, error)) (C, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		var zero C
		return zero, err
	}
	return parse(raw, path)
}

// ReadWeights finds dir's weights with weightsFile (a family's file preference) and
// reads every tensor of them; weights is the file read.
func ReadWeights(dir string, weightsFile func(dir string) (string, error)) (weights string, tensors map[string]*ts.Tensor, err error) {
	weights, err = weightsFile(dir)
	if err != nil {
		return "", nil, err
	}
	tensors, err = ReadCheckpoint(weights)
	return weights, tensors, err
}

// LoadFolder is a family's Load: dir/config.json read with loadConfig, the weights
// found with weightsFile and read, the model built with fromTensors (which names the
// weights file in its errors). weights is the file read ("" when none was found), for
// the caller's LoadReport.
func LoadFolder[C, M, R any](dir string, loadConfig func(path string) (C, error), weightsFile func(dir string) (string, error),
	fromTensors func(C, map[string]*ts.Tensor, string) (M, R, error)) (m M, rep R, weights string, err error) {
	c, err := loadConfig(filepath.Join(dir, "config.json"))
	if err != nil {
		return m, rep, "", err
	}
	weights, tensors, err := ReadWeights(dir, weightsFile)
	if err != nil {
		return m, rep, "", err
	}
	m, rep, err = fromTensors(c, tensors, weights)
	return m, rep, weights, err
}

// ReadCheckpoint reads every tensor of a .safetensors file or of a PyTorch .bin (a
// torch.save'd state_dict, read with gotch's unpickler).
func ReadCheckpoint(path string) (map[string]*ts.Tensor, error) {
	if strings.HasSuffix(path, ".safetensors") {
		return safetensors.Load(path)
	}
	return readPytorch(path)
}

// readPytorch reads a torch.save'd state_dict. gotch's unpickler panics on some malformed
// input: that becomes an error naming the file and saying how to convert it instead.
func readPytorch(path string) (tensors map[string]*ts.Tensor, err error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			tensors, err = nil, fmt.Errorf("%v", r)
		}
		if err != nil {
			err = fmt.Errorf("%s: cannot read it as a PyTorch state_dict (%w); convert it to safetensors with: %s",
				path, err, convertCommand(path))
		}
	}()
	return pickle.Decode(path)
}

// convertCommand is the one-line Python conversion of a .bin checkpoint.
func convertCommand(path string) string {
	out := filepath.Join(filepath.Dir(path), SafetensorsFile)
	return fmt.Sprintf(`python3 -c "import torch; from safetensors.torch import save_file; `+
		`sd = torch.load('%s', map_location='cpu'); save_file({k: v.contiguous().clone() for k, v in sd.items()}, '%s', metadata={'format': 'pt'})"`,
		path, out)
}
