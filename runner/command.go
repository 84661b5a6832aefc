package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/sugarme/gotch"

	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/methods/registry"
	"github.com/vectorfit/harness/reports"
)

// command is one training command: its settings, checked once, and what it has done.
type command struct {
	o        Options
	suite    suite
	tasks    []string
	methods  []string
	seeds    []int64
	dev      gotch.Device
	src      modelSource
	stderr   io.Writer
	existing map[string]reports.Record // records already in -out, by file name
	env      reports.Environment
	code     reports.Code
	release  func() // the -out lock

	threadsBefore int // libtorch's thread count before -threads, restored by close

	stop     atomic.Bool // Ctrl-C: finish the step, checkpoint, exit 130
	training atomic.Bool // a run is inside train.Run (else Ctrl-C exits at once)
	signals  chan os.Signal
	failed   []string // one line per failed or diverged run
}

// defaultThreads is libtorch's thread count as a fresh process sees it (its physical
// cores, or OMP_NUM_THREADS), read at start-up before anything can change it.
var defaultThreads = torchx.NumThreads()

// interruptedError ends a command stopped by Ctrl-C after checkpointing: exit 130.
type interruptedError struct{ msg string }

func (e *interruptedError) Error() string { return e.msg }

// failedRunsError ends a command some of whose runs failed or diverged: exit 1.
type failedRunsError struct {
	failed []string
	total  int
}

func (e *failedRunsError) Error() string {
	return fmt.Sprintf("%d of %d runs failed or diverged (the others' records are written):\n  %s",
		len(e.failed), e.total, strings.Join(e.failed, "\n  "))
}

// newCommand checks everything that can be checked before the first step: the suite,
// tasks, methods and their options, seeds, device, model, and the -out folder (lock,
// writable, existing records readable, no stale temporary files).
func newCommand(o Options, stderr io.Writer) (*command, error) {
	c, err := checkCommand(o, stderr)
	if err != nil {
		return nil, err
	}
	c.threadsBefore = torchx.NumThreads()
	threads := o.Threads
	if threads == 0 {
		threads = defaultThreads
	}
	torchx.SetNumThreads(threads)
	applySVDDevice(o)
	if err := c.pretrainTiny(); err != nil {
		c.close()
		return nil, err
	}
	c.env, c.code = environment(), codeVersion()
	if err := c.openOut(); err != nil {
		c.close()
		return nil, err
	}
	c.handleSignals()
	return c, nil
}

// checkCommand is the part of newCommand that changes nothing: suite, tasks, methods
// and their options, seeds, device and model (plans use it to name their runs).
func checkCommand(o Options, stderr io.Writer) (*command, error) {
	c := &command{o: o, stderr: stderr}
	var ok bool
	if c.suite, ok = suites[o.Suite]; !ok {
		return nil, fmt.Errorf("-suite %q: this build runs glue, squad, vision and nlg (diffusion is planned)", o.Suite)
	}
	var err error
	if c.tasks, err = c.suite.tasks(o); err != nil {
		return nil, err
	}
	if c.methods, err = registry.ParseList(o.Methods); err != nil {
		return nil, err
	}
	if c.seeds, err = o.seeds(); err != nil {
		return nil, err
	}
	if c.dev, err = resolveDevice(o.Device); err != nil {
		return nil, err
	}
	if err := checkPrecision(o, c.dev); err != nil {
		return nil, err
	}
	// Resolve every method's options before anything slow: a typo fails in a second.
	for _, n := range c.methods {
		if _, err := newMethod(o, n, 0); err != nil {
			return nil, err
		}
	}
	c.o = withSuiteDefaults(o, c.tasks)
	if c.src, err = resolveModel(c.o.Model, c.o.Suite); err != nil {
		return nil, err
	}
	if err := checkMaxLen(c.o, c.src); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *command) close() {
	if c.signals != nil {
		signal.Stop(c.signals)
	}
	if c.release != nil {
		c.release()
	}
	if c.threadsBefore > 0 { // a command run in-process (tests) leaves the count as it was
		torchx.SetNumThreads(c.threadsBefore)
		c.threadsBefore = 0
	}
}

// handleSignals makes the first Ctrl-C (or SIGTERM) stop the training run after its
// current step, with a checkpoint, and a second one, or one outside training, exit now.
func (c *command) handleSignals() {
	c.signals = make(chan os.Signal, 2)
	signal.Notify(c.signals, os.Interrupt, syscall.SIGTERM)
	go func() {
		for range c.signals {
			if c.training.Load() && !c.stop.Load() {
				c.stop.Store(true)
				fmt.Fprintln(c.stderr, "\ninterrupt: finishing the current step, then saving a checkpoint (interrupt again to quit at once)")
				continue
			}
			fmt.Fprintln(c.stderr, "\ninterrupt: quitting; the finished records are kept")
			c.close()
			os.Exit(130)
		}
	}()
}

// runAll runs every (task, method, seed); a failed run is listed and the next one
// starts, unless -fail-fast.
func (c *command) runAll() ([]reports.Record, error) {
	var done []reports.Record
	total := len(c.tasks) * len(c.methods) * len(c.seeds)
	// Every task's data is read and checked before the first step, so that a bad file
	// of the last task does not wait for the first task's training to show.
	preps := make([]prepared, len(c.tasks))
	for i, t := range c.tasks {
		p, err := c.suite.prepare(c.o, t)
		if l, ok := p.(logger); ok {
			l.setLog(c.stderr)
		}
		if err == nil && !c.o.AllowDevOverlap && c.o.DevFraction == 0 { // -dev-fraction holds out part of one file
			err = checkOverlap(p.files())
		}
		if err != nil {
			if stop := c.fail(fmt.Sprintf("%s (all methods and seeds)", t), err); stop != nil {
				return done, stop
			}
			continue
		}
		preps[i] = p
	}
	for i, t := range c.tasks {
		p := preps[i]
		if p == nil {
			continue
		}
		preps[i] = nil // the task's data can go once its runs are done
		for _, m := range c.methods {
			for _, seed := range c.seeds {
				name := fmt.Sprintf("%s %s seed %d", t, m, seed)
				rec, err := c.runOrSkip(t, m, seed, p)
				var ie *interruptedError
				if errors.As(err, &ie) {
					return done, err
				}
				if err != nil {
					if stop := c.fail(name, err); stop != nil {
						return done, stop
					}
					continue
				}
				done = append(done, rec)
				if rec.Diverged() {
					if stop := c.fail(name, fmt.Errorf("diverged at step %d: %s (record kept, marked diverged)", rec.Divergence.Step, rec.Divergence.Reason)); stop != nil {
						return done, stop
					}
				}
			}
		}
	}
	if len(c.failed) > 0 {
		return done, &failedRunsError{c.failed, total}
	}
	return done, nil
}

// fail lists a failed run; with -fail-fast it returns the error that ends the command.
func (c *command) fail(name string, err error) error {
	line := fmt.Sprintf("%s: %v", name, err)
	fmt.Fprintln(c.stderr, "failed:", line)
	c.failed = append(c.failed, line)
	if c.o.FailFast {
		return fmt.Errorf("%s (-fail-fast)", line)
	}
	return nil
}

// checkOverlap refuses training and evaluating on the same file: a dev score on the
// training data says nothing about generalisation.
func checkOverlap(files []reports.DataFile) error {
	for _, tr := range files {
		if tr.Role != "train" || tr.SHA256 == "" {
			continue
		}
		for _, dv := range files {
			if dv.Role != "train" && dv.SHA256 == tr.SHA256 {
				return fmt.Errorf("the train file %s and the %s file %s have the same contents (sha256 %.12s): the run would train and evaluate on the same examples; pass -allow-dev-overlap if that is meant",
					tr.Path, dv.Role, dv.Path, tr.SHA256)
			}
		}
	}
	return nil
}

// checkSplits refuses training and evaluating on one split of -data unless
// -dev-fraction holds part of it out or -allow-dev-overlap says it is meant.
func checkSplits(o Options, trainSplit, devSplit, what string) error {
	if o.DevFraction == 0 && trainSplit == devSplit && !o.AllowDevOverlap {
		return fmt.Errorf("-train-split and -dev-split are both %q: the run would train and evaluate on the same %s; hold out part of it with -dev-fraction 0.1, or pass -allow-dev-overlap if that is meant", trainSplit, what)
	}
	return nil
}
