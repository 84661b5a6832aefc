package train

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vectorfit/harness/internal/torchx"
)

// evalModeTask records, in order, the EvalMode calls and evaluations Run makes.
type evalModeTask struct {
	*logTask
	log *[]string
}

func (t evalModeTask) Evaluate() (Scores, error) {
	*t.log = append(*t.log, fmt.Sprintf("evaluate(training=%v)", t.training))
	return t.logTask.Evaluate()
}

// Config.EvalMode brackets every evaluation, true before and false after, under
// no-grad and in eval mode (a cache built there carries no graph and sees no dropout),
// and never runs around a training step.
func TestRunBracketsEvaluationsWithEvalMode(t *testing.T) {
	var log []string
	task := evalModeTask{newLogTask(0.1), &log}
	cfg := Config{MaxSteps: 4, EvalEvery: 2, Seed: 1}
	cfg.EvalMode = func(on bool) {
		grad := torchx.SetGradEnabled(false) // reads the mode; restored below
		torchx.SetGradEnabled(grad)
		log = append(log, fmt.Sprintf("evalmode(%v, grad=%v, training=%v)", on, grad, task.training))
	}
	if _, err := Run(cfg, task, cfg.AdamW([]Group{{Name: "all", Params: task.params(), LR: 0.05}})); err != nil {
		t.Fatal(err)
	}
	one := []string{"evalmode(true, grad=false, training=false)", "evaluate(training=false)", "evalmode(false, grad=false, training=false)"}
	want := slices.Concat(one, one) // after steps 2 and 4
	if !slices.Equal(log, want) {
		t.Errorf("calls\n%q\nwant\n%q", log, want)
	}
}
