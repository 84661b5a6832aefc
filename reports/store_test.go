package reports

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	for _, c := range []struct {
		suite, task, method string
		seed                int64
		want                string
	}{
		{"glue", "rte", "vectorfit", 42, "glue_rte_vectorfit_seed42.json"},
		{"glue", "SST-2", "lora", 1, "glue_SST-2_lora_seed1.json"},
		// "_" is the separator and "/" a directory: both become "-".
		{"my_suite", "a/b", "lo ra", 7, "my-suite_a-b_lo-ra_seed7.json"},
		{"glue", "..", "x", -1, "glue_-._x_seed-1.json"},
	} {
		r := Record{Suite: c.suite, Task: c.task, Method: c.method, Seed: c.seed}
		if got := r.FileName(); got != c.want {
			t.Errorf("FileName(%q, %q, %q, %d) = %q, want %q", c.suite, c.task, c.method, c.seed, got, c.want)
		}
	}
}

func TestWriteReadDirRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "runs", "new") // Write creates it
	a := fullRecord()
	b := fullRecord()
	b.Task, b.MainScore, b.Scores = "cola", "matthews", map[string]float64{"matthews": 0.61, "accuracy": 0.83}
	b.MatrixRanks = nil // omitempty must read back as nil
	for _, r := range []Record{a, b} {
		path, err := Write(dir, r)
		if err != nil {
			t.Fatal(err)
		}
		if want := filepath.Join(dir, r.FileName()); path != want {
			t.Errorf("Write returned %s, want %s", path, want)
		}
	}
	got, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{b, a} // cola before rte
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ReadDir\n%+v\nwant\n%+v", got, want)
	}
}

func TestWriteSetsSchema(t *testing.T) {
	dir := t.TempDir()
	r := rec("rte", "lora", 1, "accuracy", 0.5)
	r.Schema = 0
	if _, err := Write(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Schema != SchemaVersion {
		t.Errorf("schema %d, want %d", got[0].Schema, SchemaVersion)
	}
}

func TestWriteIsAtomicAndReplacesARerun(t *testing.T) {
	dir := t.TempDir()
	first := rec("rte", "lora", 1, "accuracy", 0.5)
	rerun := rec("rte", "lora", 1, "accuracy", 0.6)
	for _, r := range []Record{first, rerun} {
		if _, err := Write(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	// Only the record itself: no temporary file left behind, readable by everyone.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != first.FileName() {
		t.Fatalf("dir holds %v, want only %s", entries, first.FileName())
	}
	if info, _ := entries[0].Info(); info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", info.Mode().Perm())
	}
	got, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Scores["accuracy"] != 0.6 {
		t.Errorf("after a rerun ReadDir = %+v, want the rerun's score 0.6", got)
	}
}

func TestWriteFailureLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	r := rec("rte", "lora", 1, "accuracy", 0.5)
	// A directory where the record should go makes the rename fail after the temp file
	// was written.
	if err := os.Mkdir(filepath.Join(dir, r.FileName()), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(dir, r); err == nil {
		t.Fatal("Write over a directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !entries[0].IsDir() {
		t.Errorf("dir holds %v, want only the blocking directory", entries)
	}
}

func TestWriteRefusesToReplaceAnotherRun(t *testing.T) {
	dir := t.TempDir()
	a := rec("rte", "lo_ra", 1, "accuracy", 0.5)
	b := rec("rte", "lo-ra", 1, "accuracy", 0.6) // sanitises to the same name
	if _, err := Write(dir, a); err != nil {
		t.Fatal(err)
	}
	_, err := Write(dir, b)
	if err == nil || !strings.Contains(err.Error(), "not replacing") || !strings.Contains(err.Error(), "lo_ra") {
		t.Fatalf("Write of a colliding run: %v, want a refusal naming the existing run", err)
	}
	got, _ := ReadDir(dir)
	if len(got) != 1 || got[0].Method != "lo_ra" {
		t.Errorf("the first run was replaced: %+v", got)
	}
}

func TestWriteRejectsInvalidRecords(t *testing.T) {
	nanLoss := fullRecord()
	nanLoss.History[1].Loss = math.NaN()
	noMain := rec("rte", "lora", 1, "accuracy", 0.5)
	noMain.MainScore = ""
	infScore := rec("rte", "lora", 1, "accuracy", math.Inf(1))
	noTask := rec("", "lora", 1, "accuracy", 0.5)
	future := rec("rte", "lora", 1, "accuracy", 0.5)
	future.Schema = SchemaVersion + 1
	for _, c := range []struct {
		name, want string
		r          Record
	}{
		{"NaN loss", "history[1].loss is NaN", nanLoss},
		{"no main score", `main_score "" is not among the scores`, noMain},
		{"infinite score", `scores["accuracy"] is +Inf`, infScore},
		{"no task", "empty task", noTask},
		{"future schema", "schema 2, this code reads 1", future},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Write(dir, c.r)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Write: %v, want an error containing %q", err, c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a rejected record left %v", entries)
			}
		})
	}
}

func TestReadDirErrors(t *testing.T) {
	valid, err := os.ReadFile(writeOne(t, t.TempDir(), rec("rte", "lora", 1, "accuracy", 0.5)))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"empty dir", nil, []string{"no records (*.json) in"}},
		{"only other files and a leftover temporary", map[string]string{
			"notes.txt": "x", ".glue_rte_lora_seed1.json.tmp-123": `{"schema": 1, "sui`,
		}, []string{"no records"}},
		{"syntax error", map[string]string{"bad.json": "{\n  \"schema\": 1,\n  \"suite\": glue\n}"},
			[]string{"malformed record", "bad.json", "line 3, column 12 (byte 28)", "invalid character 'g'"}},
		{"truncated", map[string]string{"cut.json": string(valid[:len(valid)/2])},
			[]string{"malformed record", "cut.json", "unexpected end of JSON input"}},
		{"wrong type", map[string]string{"typed.json": `{"schema": 1, "params": {"adapter": "many"}}`},
			[]string{"malformed record", "typed.json", `field "params.adapter"`, "line 1, column"}},
		{"valid JSON, not a record", map[string]string{"empty.json": `{}`},
			[]string{"invalid record", "empty.json", "schema 0", "empty suite"}},
		{"the same run twice", map[string]string{"a.json": string(valid), "b.json": string(valid)},
			[]string{"a.json and", "b.json both hold glue/rte lora seed 1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, text := range c.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := ReadDir(dir)
			if err == nil {
				t.Fatal("ReadDir succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ReadDir: %v\nwant it to contain %q", err, w)
				}
			}
		})
	}
}

func TestReadDirMissingDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := ReadDir(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("ReadDir(%s): %v, want an error naming it", missing, err)
	}
}

func TestReadDirIgnoresLeftoversAndSubdirs(t *testing.T) {
	dir := t.TempDir()
	writeOne(t, dir, rec("rte", "lora", 1, "accuracy", 0.5))
	for _, name := range []string{".glue_rte_lora_seed2.json.tmp-99", "README.md"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "old.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDir(dir)
	if err != nil || len(got) != 1 {
		t.Errorf("ReadDir = %d records, %v; want the one record", len(got), err)
	}
}

func writeOne(t *testing.T, dir string, r Record) string {
	t.Helper()
	path, err := Write(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFileSHA256(t *testing.T) {
	path := filepath.Join(t.TempDir(), "abc")
	if err := os.WriteFile(path, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, n, err := FileSHA256(path)
	if err != nil {
		t.Fatal(err)
	}
	// FIPS 180-2's example digest of "abc".
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; sum != want || n != 3 {
		t.Errorf("FileSHA256 = %s, %d; want %s, 3", sum, n, want)
	}
	if _, _, err := FileSHA256(path + ".missing"); err == nil {
		t.Error("FileSHA256 of a missing file succeeded")
	}
}

func TestCodeVersion(t *testing.T) {
	t.Run("outside a checkout", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir)) // don't find a repo above it
		t.Chdir(dir)
		c := CodeVersion()
		if c.Version != "unknown" || !strings.HasPrefix(c.GoVersion, "go") {
			t.Errorf("CodeVersion = %+v, want version unknown and a Go version", c)
		}
	})
	t.Run("in a checkout", func(t *testing.T) {
		if _, err := exec.LookPath("git"); err != nil {
			t.Skip("no git")
		}
		dir := t.TempDir()
		git := func(args ...string) {
			cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"}, args...)...)
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
		git("init", "-q")
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
		git("add", "f")
		git("commit", "-q", "-m", "one")
		t.Chdir(dir)
		clean := CodeVersion().Version
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte("2"), 0o644); err != nil {
			t.Fatal(err)
		}
		dirty := CodeVersion().Version
		if clean == "unknown" || strings.HasSuffix(clean, "-dirty") || dirty != clean+"-dirty" {
			t.Errorf("versions clean %q, dirty %q; want a commit and the same with -dirty", clean, dirty)
		}
	})
}

// The sort is part of ReadDir's contract: tables and CSV rows follow it.
func TestSortRecords(t *testing.T) {
	rs := []Record{
		rec("rte", "lora", 2, "a", 0), rec("boolq", "lora", 1, "a", 0), rec("rte", "vectorfit", 1, "a", 0),
		rec("cola", "zeta", 1, "a", 0), rec("rte", "lora", 1, "a", 0), rec("cola", "fullft", 1, "a", 0),
	}
	sortRecords(rs)
	var got []string
	for _, r := range rs {
		got = append(got, r.id().String())
	}
	want := []string{
		"glue/cola fullft seed 1", "glue/cola zeta seed 1",
		"glue/rte vectorfit seed 1", "glue/rte lora seed 1", "glue/rte lora seed 2",
		"glue/boolq lora seed 1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

// An undefined score (NaN) is null in the file and NaN again when read; an infinite
// one is refused.
func TestUndefinedScoreIsNullInTheRecord(t *testing.T) {
	dir := t.TempDir()
	r := rec("stsb", "lora", 1, "pearson", math.NaN()).with(map[string]float64{"spearman": 0.5})
	path, err := Write(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "\"pearson\": null,\n") {
		t.Errorf("the record does not write pearson as null:\n%s", data)
	}
	got, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v := got[0].Scores["pearson"]; !math.IsNaN(v) || got[0].Scores["spearman"] != 0.5 {
		t.Errorf("read back %v, want pearson undefined", got[0].Scores)
	}
	if _, err := Write(dir, rec("stsb", "lora", 2, "pearson", math.Inf(1))); err == nil || !strings.Contains(err.Error(), `scores["pearson"] is +Inf`) {
		t.Errorf("Write of +Inf: %v", err)
	}
}
