package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/models/bart"
	"github.com/vectorfit/harness/models/bert"
	"github.com/vectorfit/harness/models/deberta"
	"github.com/vectorfit/harness/models/tokenize"
	"github.com/vectorfit/harness/reports"
)

// numericVariables are the environment variables that change a run's numbers on the
// same machine: thread counts of libtorch's OpenMP and MKL, MKL's reproducibility mode,
// the CPU kernels libtorch dispatches to, and CUDA's device and math-mode switches.
var numericVariables = []string{
	"OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_CBWR", "ATEN_CPU_CAPABILITY",
	"CUDA_VISIBLE_DEVICES", "CUBLAS_WORKSPACE_CONFIG", "NVIDIA_TF32_OVERRIDE",
}

// environment is what the record stores of this machine besides the device.
func environment() reports.Environment {
	e := reports.Environment{TorchThreads: torchx.NumThreads(), GoMaxProcs: runtime.GOMAXPROCS(0), CPU: cpuModel()}
	e.Hostname, _ = os.Hostname()
	for _, k := range numericVariables {
		if v, ok := os.LookupEnv(k); ok {
			if e.Variables == nil {
				e.Variables = map[string]string{}
			}
			e.Variables[k] = v
		}
	}
	return e
}

// cpuModel is /proc/cpuinfo's first "model name" ("" where there is none).
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// maxSequence is the longest input a text model's positions can number (0: no limit;
// vision models have none to check here).
func maxSequence(src modelSource, suite string) (int64, error) {
	if suite == "vision" || suite == "diffusion" {
		return 0, nil
	}
	if src.dir == "" && suite == "nlg" {
		return bart.Tiny(tokenize.Builtin().VocabSize()).MaxPositionEmbeddings, nil
	}
	if src.dir == "" {
		return bert.Tiny(tokenize.Builtin().VocabSize()).MaxSequence(), nil
	}
	kind, err := modelType(src.dir)
	if err != nil {
		return 0, err
	}
	path := filepath.Join(src.dir, "config.json")
	switch kind {
	case "deberta-v2":
		c, err := deberta.LoadConfig(path)
		return c.MaxSequence(), err
	case "bert", "roberta":
		c, err := bert.LoadConfig(path)
		return c.MaxSequence(), err
	case "bart":
		c, err := bart.LoadConfig(path)
		return c.MaxPositionEmbeddings, err
	}
	return 0, nil // buildText names the unsupported model_type
}

// checkMaxLen refuses -max-len beyond the model's position embeddings before any data
// is read (a long text would otherwise fail inside the embedding lookup).
func checkMaxLen(o Options, src modelSource) error {
	if o.MaxLen == 0 {
		return nil
	}
	return checkLen("-max-len", int64(o.MaxLen), src, o.Suite)
}

func checkLen(what string, n int64, src modelSource, suite string) error {
	limit, err := maxSequence(src, suite)
	if err != nil || limit == 0 || n <= limit {
		return err
	}
	return fmt.Errorf("%s %d: the model %s numbers at most %d positions (max_position_embeddings in its config.json); want ≤ %d",
		what, n, src.name, limit, limit)
}
