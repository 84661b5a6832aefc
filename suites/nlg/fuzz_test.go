package nlg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzReadJSONL: any bytes as a JSON-lines file load or fail with an error
// naming the file; never a panic. Loaded examples satisfy the collector's
// checks. The seeds run as plain tests.
func FuzzReadJSONL(f *testing.F) {
	for _, seed := range []string{
		`{"document": "d", "summary": "s", "id": "1"}` + "\n",
		`{"document": "d", "summary": "s", "id": "1"}` + "\n" + `{"document": "d", "summary": "s", "id": "1"}`,
		`{"document": null, "summary": 1, "id": [1]}`,
		`{"document": "d", "summary": "s", "id": "1"} []`,
		"\xff\xfe{}\n\n\r\n",
		`{"document": "\ud800", "summary": "s", "id": "\u0000"}`,
		"null\ntrue\n\"x\"\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	task, _ := Lookup("xsum")
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "test.jsonl")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, skip := range []bool{false, true} {
			sp, err := ReadFile(task, SplitTest, path, LoadOptions{SkipMalformed: skip, MaxLineBytes: 4096})
			if err != nil {
				if !strings.Contains(err.Error(), path) {
					t.Fatalf("error does not name the file: %v", err)
				}
				continue
			}
			checkExamples(t, sp)
		}
	})
}

// FuzzReadStory: ParseStory never panics; on success the article and the
// highlights are non-empty valid UTF-8 with no empty highlight line, and the
// article has no newline.
func FuzzReadStory(f *testing.F) {
	for _, seed := range []string{
		"Text.\n\n@highlight\n\nH\n",
		"@highlight\n",
		"a\n@highlight",
		"\xc3(\n@highlight\nx",
		"a\r\n@highlight\r\n\r\nb\r",
		"see @highlight here\n@highlight\n\u2019\n",
		"\x1c\n\u3000@highlight\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		art, hl, msg := ParseStory(data)
		if msg != "" {
			if art != "" || hl != "" {
				t.Fatalf("failure %q with text", msg)
			}
			return
		}
		if art == "" || hl == "" || !utf8.ValidString(art) || !utf8.ValidString(hl) || strings.Contains(art, "\n") {
			t.Fatalf("bad success: %q / %q", art, hl)
		}
		for _, line := range strings.Split(hl, "\n") {
			if pyStrip(line) == "" {
				t.Fatalf("empty highlight line in %q", hl)
			}
		}
	})
}

func checkExamples(t *testing.T, sp Split) {
	t.Helper()
	seen := map[string]bool{}
	for _, ex := range sp.Examples {
		if ex.ID == "" || seen[ex.ID] || strings.TrimSpace(ex.Source) == "" || strings.TrimSpace(ex.Target) == "" {
			t.Fatalf("example breaks the checks: %+v", ex)
		}
		if !utf8.ValidString(ex.Source) || !utf8.ValidString(ex.Target) || !utf8.ValidString(ex.ID) {
			t.Fatalf("invalid UTF-8 in %+v", ex)
		}
		seen[ex.ID] = true
	}
}
