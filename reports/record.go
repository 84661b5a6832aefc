// Package reports stores one JSON record per run (SPEC §5) and renders the records as
// the paper's tables (markdown), a flat CSV, or a JSON array.
//
// A table cell is the mean ± std of one (task, method)'s seeds, so it averages only
// records that differ in nothing but the seed: equal model (name and file hashes), code
// version, method settings, hyperparameters and data, and a settings hash present in all
// or none (records from before it existed group among themselves). Otherwise Render
// refuses with a *MixedError naming what differs and which seeds have what; Mix averages
// anyway and notes it under the table (‡), Split shows each group as its own row
// ("VectorFit [lr=0.03]"). Diverged runs never enter a mean, score or time: the cell
// is marked †, a footnote names each diverged seed with its step, reason and best score
// before it, and a cell whose every seed diverged reads "diverged"; the detail table
// counts them apart ("3 + 1 diverged"). CSV and JSON average nothing and list every
// record with these fields.
//
// It depends on methods only for the parameter and rank types; it never touches tensors.
package reports

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/vectorfit/harness/internal/scoremap"
	"github.com/vectorfit/harness/methods"
)

// SchemaVersion is the Record layout this package writes and reads. Bump it when a field
// changes meaning, so that old records are rejected instead of misread.
const SchemaVersion = 1

// Record is everything one (suite, task, method, seed) run reports: enough to compare it
// with the others and to rerun it.
type Record struct {
	Schema            int            `json:"schema"`
	Suite             string         `json:"suite"`  // e.g. "glue"
	Task              string         `json:"task"`   // e.g. "rte"
	Method            string         `json:"method"` // registry name, e.g. "vectorfit"
	MethodDescription string         `json:"method_description"`
	MethodSettings    map[string]any `json:"method_settings"`
	Seed              int64          `json:"seed"`
	Model             Model          `json:"model"`
	Data              []DataFile     `json:"data"`
	// Hyperparameters are the training settings: lr, epochs, batch, max_len, warmup,
	// weight_decay, ...
	Hyperparameters map[string]any `json:"hyperparameters"`
	// Scores are the best evaluation's scores, raw: fractions for percentages, counts
	// and thresholds as they are (the metric registry says which; only rendering
	// scales). NaN is an undefined score (e.g. STS-B's correlation of constant
	// predictions), written null in the JSON file and shown n/a in tables.
	Scores       map[string]float64    `json:"scores"`
	MainScore    string                `json:"main_score"` // the key of Scores that picks the best evaluation
	BestStep     int                   `json:"best_step"`
	History      []Eval                `json:"history"`
	Params       methods.Counts        `json:"params"`
	Ranks        []methods.RankSummary `json:"ranks"`
	MatrixRanks  []methods.MatrixRank  `json:"matrix_ranks,omitempty"`
	Timing       Timing                `json:"timing"`
	Schedule     Schedule              `json:"schedule"`
	PeakRSSBytes int64                 `json:"peak_rss_bytes"` // 0 where unavailable
	Device       string                `json:"device"`
	Code         Code                  `json:"code"`
	// Environment is what else changes the numbers on one machine (threads, ...).
	Environment Environment `json:"environment"`
	// Precision is the run's arithmetic (-dtype, autocast, SVD device, loss scaler);
	// PeakGPUMemory its device memory, null on the CPU (precision.go).
	Precision     Precision  `json:"precision"`
	PeakGPUMemory *GPUMemory `json:"peak_gpu_memory"`
	// SettingsHash is the SHA-256 of everything that determines the run's numbers apart
	// from the code and the machine: suite, task, method, seed, method settings,
	// hyperparameters, model and data files (see SettingsHash). A rerun with an equal
	// hash is skipped; reports put only records of equal hash, model and code in a cell.
	// Empty in records written before it existed.
	SettingsHash string `json:"settings_hash,omitempty"`
	// Status is StatusFinished, or StatusDiverged when a NaN/Inf loss or gradient
	// stopped the run (Divergence says where); the scores are then the best evaluation
	// reached before it, and may be empty. Empty in older records means finished.
	Status     string      `json:"status,omitempty"`
	Divergence *Divergence `json:"divergence,omitempty"`
	Command    []string    `json:"command"` // the command as typed (os.Args; a go run binary as "go run ./runner")
	StartedAt  time.Time   `json:"started_at"`
	FinishedAt time.Time   `json:"finished_at"`
}

// Record statuses.
const (
	StatusFinished = "finished"
	StatusDiverged = "diverged"
)

// Divergence is where and why a run stopped on a non-finite loss or gradient.
type Divergence struct {
	Step   int    `json:"step"`   // the optimizer step whose loss or gradient was not finite (1-based)
	Reason string `json:"reason"` // e.g. "loss is NaN"
}

// Diverged says whether the run was stopped by a non-finite loss or gradient.
func (r Record) Diverged() bool { return r.Status == StatusDiverged }

// Environment is what changes a run's numbers on the same machine besides its settings:
// libtorch's intra-op thread count (reductions split differently), Go's, the CPU, and the
// environment variables the math libraries read.
type Environment struct {
	TorchThreads int               `json:"torch_threads"`
	GoMaxProcs   int               `json:"gomaxprocs"`
	CPU          string            `json:"cpu,omitempty"`
	Hostname     string            `json:"hostname,omitempty"`
	Variables    map[string]string `json:"variables,omitempty"` // OMP_NUM_THREADS, MKL_NUM_THREADS, ... as set
}

// Model identifies the base model, down to the bytes of its files.
type Model struct {
	Name          string `json:"name"`
	Source        string `json:"source"` // local path or hub id
	Revision      string `json:"revision"`
	ConfigSHA256  string `json:"config_sha256"`
	WeightsSHA256 string `json:"weights_sha256"`
}

// DataFile is one data file a run read.
type DataFile struct {
	Role     string `json:"role"` // "train", "validation", "validation_mismatched", ...
	Path     string `json:"path"`
	SHA256   string `json:"sha256"`
	Bytes    int64  `json:"bytes"`
	Examples int    `json:"examples"`
}

// Eval is one evaluation during training.
type Eval struct {
	Step   int                `json:"step"`
	Epoch  int                `json:"epoch"`
	Loss   float64            `json:"loss"`   // mean training loss since the previous evaluation
	Scores map[string]float64 `json:"scores"` // NaN (JSON null): undefined
}

// Schedule is the learning-rate schedule a run resolved, in optimizer steps (after
// epochs, -max-train, -max-steps and gradient accumulation). WarmupExceedsSteps flags a
// warm-up at or beyond the run's total steps: the learning rate never reached its peak.
type Schedule struct {
	TotalSteps         int  `json:"total_steps"`
	WarmupSteps        int  `json:"warmup_steps"`
	WarmupExceedsSteps bool `json:"warmup_exceeds_steps"`
}

// Timing is wall-clock time in seconds (SPEC §5).
type Timing struct {
	SetupSeconds float64 `json:"setup_seconds"` // model load, SVD, method setup
	TrainSeconds float64 `json:"train_seconds"` // excluding evaluation
	EvalSeconds  float64 `json:"eval_seconds"`
	StepSeconds  float64 `json:"step_seconds"` // TrainSeconds / Steps
	// CheckpointSeconds is this process's time writing checkpoints (in neither of the
	// above).
	CheckpointSeconds float64 `json:"checkpoint_seconds,omitempty"`
	Steps             int     `json:"steps"`
}

// Code identifies the harness build that produced a record.
type Code struct {
	Version   string `json:"version"` // the build's VCS revision (+ "-dirty"), else git describe --always --dirty, else "unknown"
	GoVersion string `json:"go_version"`
	Libtorch  string `json:"libtorch"` // filled by the caller: this package does not link libtorch
	// BinarySHA256 is the running executable's hash: "-dirty" says the tree had edits,
	// not which; the hash tells two builds apart (checkpoints resume only in the same).
	BinarySHA256 string `json:"binary_sha256,omitempty"`
}

// id is what makes two records the same run: a rerun replaces it.
type id struct {
	suite, task, method string
	seed                int64
}

func (r Record) id() id { return id{r.Suite, r.Task, r.Method, r.Seed} }

func (i id) String() string {
	return fmt.Sprintf("%s/%s %s seed %d", i.suite, i.task, i.method, i.seed)
}

// FileName is "<suite>_<task>_<method>_seed<seed>.json", each part reduced to
// [A-Za-z0-9.-] so that "_" stays an unambiguous separator and no part can name a
// directory. Distinct runs could still meet in one name; Write refuses that.
func (r Record) FileName() string {
	return fmt.Sprintf("%s_%s_%s_seed%s.json",
		sanitise(r.Suite), sanitise(r.Task), sanitise(r.Method), strconv.FormatInt(r.Seed, 10))
}

func sanitise(s string) string {
	s = strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '.':
			return c
		}
		return '-'
	}, s)
	// "." and ".." alone would still be path elements; a leading dot would hide the file.
	if strings.HasPrefix(s, ".") {
		s = "-" + s[1:]
	}
	return s
}

// validate checks what the tables rely on: the identity, a main score that exists, and
// scores that are numbers or undefined (NaN, JSON null); an infinite score is a bug.
func validate(r Record) error {
	var errs []error
	if r.Schema != SchemaVersion {
		errs = append(errs, fmt.Errorf("schema %d, this code reads %d", r.Schema, SchemaVersion))
	}
	for _, f := range []struct{ name, v string }{{"suite", r.Suite}, {"task", r.Task}, {"method", r.Method}} {
		if f.v == "" {
			errs = append(errs, fmt.Errorf("empty %s", f.name))
		}
	}
	if _, ok := r.Scores[r.MainScore]; !ok && !(r.Diverged() && len(r.Scores) == 0) { // diverged before its first evaluation
		errs = append(errs, fmt.Errorf("main_score %q is not among the scores %v", r.MainScore, sortedKeys(r.Scores)))
	}
	switch {
	case r.Status != "" && r.Status != StatusFinished && r.Status != StatusDiverged:
		errs = append(errs, fmt.Errorf("status %q, want %q or %q", r.Status, StatusFinished, StatusDiverged))
	case r.Diverged() != (r.Divergence != nil):
		errs = append(errs, fmt.Errorf("status %q with divergence %v: a diverged record says where, no other does", r.Status, r.Divergence))
	}
	errs = append(errs, finite("scores", r.Scores))
	for i, e := range r.History {
		if math.IsNaN(e.Loss) || math.IsInf(e.Loss, 0) {
			errs = append(errs, fmt.Errorf("history[%d].loss is %v", i, e.Loss))
		}
		errs = append(errs, finite(fmt.Sprintf("history[%d].scores", i), e.Scores))
	}
	return errors.Join(errs...)
}

func finite(field string, scores map[string]float64) error {
	for _, k := range sortedKeys(scores) {
		if v := scores[k]; math.IsInf(v, 0) {
			return fmt.Errorf("%s[%q] is %v: a score is a number or undefined (null), never infinite", field, k, v)
		}
	}
	return nil
}

// The JSON form of Record and Eval writes an undefined score (NaN) as null and reads
// null back as NaN (scoremap.Map); every other field is encoding/json's default. The Go
// fields stay map[string]float64, so code reading records needs no change.

type (
	recordFields Record // no methods: the default encoding of every field
	evalFields   Eval
)

// recordJSON shadows Scores: the outer field wins over the embedded one.
type recordJSON struct {
	*recordFields
	Scores scoremap.Map `json:"scores"`
}

type evalJSON struct {
	*evalFields
	Scores scoremap.Map `json:"scores"`
}

// MarshalJSON writes undefined scores as null.
func (r Record) MarshalJSON() ([]byte, error) {
	return json.Marshal(recordJSON{(*recordFields)(&r), r.Scores})
}

// UnmarshalJSON reads null scores as undefined (NaN).
func (r *Record) UnmarshalJSON(data []byte) error {
	v := recordJSON{recordFields: (*recordFields)(r)}
	if err := json.Unmarshal(data, &v); err != nil {
		return unembedded(err, "recordFields.")
	}
	r.Scores = v.Scores
	return nil
}

// MarshalJSON writes undefined scores as null.
func (e Eval) MarshalJSON() ([]byte, error) {
	return json.Marshal(evalJSON{(*evalFields)(&e), e.Scores})
}

// UnmarshalJSON reads null scores as undefined (NaN).
func (e *Eval) UnmarshalJSON(data []byte) error {
	v := evalJSON{evalFields: (*evalFields)(e)}
	if err := json.Unmarshal(data, &v); err != nil {
		return unembedded(err, "evalFields.")
	}
	e.Scores = v.Scores
	return nil
}

// unembedded drops the embedded helper type from a type error's field path, so that it
// names the field as the file does ("params.adapter").
func unembedded(err error, prefix string) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		typ.Field = strings.TrimPrefix(typ.Field, prefix)
	}
	return err
}
