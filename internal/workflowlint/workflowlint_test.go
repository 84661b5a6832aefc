package workflowlint

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
)

// repoRoot is the folder holding go.mod, found upwards from this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
}

// newLinter uses the repository's .github/actionlint.yaml (the self-hosted runner
// labels). shellcheck and pyflakes stay off: whether they are installed would change the
// findings from one machine to another.
func newLinter(t *testing.T, root string) *actionlint.Linter {
	t.Helper()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{
		ConfigFile: filepath.Join(root, ".github", "actionlint.yaml"),
		WorkingDir: root,
	})
	if err != nil {
		t.Fatalf("actionlint: %v", err)
	}
	return l
}

// The nightly jobs README documents must exist, and every workflow must lint clean.
func TestWorkflows(t *testing.T) {
	root := repoRoot(t)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.y*ml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nightly-cpu.yml", "nightly-gpu.yml"} {
		found := false
		for _, f := range files {
			found = found || filepath.Base(f) == want
		}
		if !found {
			t.Errorf(".github/workflows/%s is missing (README, \"Nightly regression checks\", describes it)", want)
		}
	}
	errs, err := newLinter(t, root).LintFiles(files, nil)
	if err != nil {
		t.Fatalf("actionlint: %v", err)
	}
	for _, e := range errs {
		rel, _ := filepath.Rel(root, e.Filepath)
		t.Errorf("%s:%d:%d: %s [%s]", rel, e.Line, e.Column, e.Message, e.Kind)
	}
	t.Logf("actionlint checked %d workflow files", len(files))
}

// The linter must see the mistakes the nightly files could make, or a clean run above
// proves nothing: each broken workflow here must produce a finding naming its mistake.
func TestLinterCatchesMistakes(t *testing.T) {
	root := repoRoot(t)
	cases := []struct{ name, workflow, want string }{
		{"unknown runner label", `on: push
jobs:
  a:
    runs-on: [self-hosted, tpu]
    steps:
      - run: echo hi
`, `label "tpu" is unknown`},
		{"needs an unknown job", `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    needs: shards
    steps:
      - run: echo hi
`, `"shards"`},
		{"bad cron", `on:
  schedule:
    - cron: "61 2 * * *"
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - run: echo hi
`, "invalid CRON format"},
		{"undefined matrix key", `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        shard: [1, 2]
    steps:
      - run: echo ${{ matrix.shards }}
`, "shards"},
		{"outdated action", `on: push
jobs:
  a:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v1
`, "too old"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs, err := newLinter(t, root).Lint(filepath.Join(root, ".github", "workflows", "broken.yml"), []byte(c.workflow), nil)
			if err != nil {
				t.Fatalf("actionlint: %v", err)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Message)
			}
			if !strings.Contains(strings.Join(msgs, "\n"), c.want) {
				t.Errorf("findings %q, want one containing %q", msgs, c.want)
			}
		})
	}
}
