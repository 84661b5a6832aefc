package nlg

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// The shared real data (../shared/data, see its README.md).
var (
	sharedData = filepath.Join("..", "..", "..", "shared", "data")
	sharedXSum = filepath.Join(sharedData, "xsum")
	sharedCNN  = filepath.Join(sharedData, "cnn_dailymail")
)

func needShared(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared data missing under CI: %v", err)
		}
		t.Skipf("shared data missing: %v", err)
	}
}

func mustTask(t *testing.T, name string) Task {
	t.Helper()
	task, ok := Lookup(name)
	if !ok {
		t.Fatalf("no task %q", name)
	}
	return task
}

// readJSONLFile reads a reference JSON-lines file with encoding/json, apart
// from the loader under test.
func readJSONLFile(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLookup(t *testing.T) {
	for name, want := range map[string]string{"xsum": "xsum", "XSum": "xsum", "cnn_dailymail": "cnn_dailymail", "cnndm": "cnn_dailymail", "cnn_dm": "cnn_dailymail"} {
		task, ok := Lookup(name)
		if !ok || task.Name != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", name, task.Name, ok, want)
		}
	}
	if _, ok := Lookup("squad"); ok {
		t.Error("Lookup(squad) succeeded")
	}
}

// TestXSumSharedJSONL: the 1000-example XSum sample loads whole, as a file and
// as the "test" split of its folder (test-sample.jsonl matches test-*.jsonl).
func TestXSumSharedJSONL(t *testing.T) {
	needShared(t, sharedXSum)
	task := mustTask(t, "xsum")
	path := filepath.Join(sharedXSum, "test-sample.jsonl")
	sp, err := ReadFile(task, SplitTest, path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Examples) != 1000 || sp.Skipped != 0 {
		t.Fatalf("%d examples, %d skipped; want 1000, 0", len(sp.Examples), sp.Skipped)
	}
	first, last := sp.Examples[0], sp.Examples[999]
	if first.ID != "38264402" || first.Target != `There is a "chronic" need for more housing for prison leavers in Wales, according to a charity.` ||
		!strings.HasPrefix(first.Source, "Prison Link Cymru had 1,099 referrals in 2015-16 and said some ex-offenders were living rough for up to a year before finding suitable accommodation.\nWorkers at the charity") {
		t.Errorf("first example %q / %q / %.120q", first.ID, first.Target, first.Source)
	}
	if last.ID != "35860140" || !strings.HasPrefix(last.Target, "A pilot has died after his microlight hit an electricity pylon") {
		t.Errorf("last example %q / %q", last.ID, last.Target)
	}
	// Independently decoded with encoding/json.
	ref := readJSONLFile(t, path)
	for i, r := range ref {
		if ex := sp.Examples[i]; ex.ID != r["id"] || ex.Source != r["document"] || ex.Target != r["summary"] {
			t.Fatalf("example %d differs from encoding/json's reading", i)
		}
	}
	splits, err := LoadSplits(task, sharedXSum, []string{SplitTest}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := splits[0]; got.Format != FormatJSONL || len(got.Examples) != 1000 || got.Name != SplitTest {
		t.Errorf("LoadSplits: %s %s, %d examples", got.Name, got.Format, len(got.Examples))
	}
	if _, _, err := Load(task, sharedXSum, LoadOptions{}); err == nil || !strings.Contains(err.Error(), "no xsum train split found") {
		t.Errorf("Load without a train split: %v", err)
	}
}

// TestCNNStoriesMatchHF: the 10 shared CNN stories give what HF's
// cnn_dailymail loader (3.0.0) gives for them (testdata/cnn_hf_3.0.0.jsonl,
// from the transcribed _get_art_abs in scripts/fixtures/gen_nlg_data.py), and
// two stories checked by hand against the rules.
func TestCNNStoriesMatchHF(t *testing.T) {
	needShared(t, sharedCNN)
	task := mustTask(t, "cnn_dailymail")
	splits, err := LoadSplits(task, sharedCNN, []string{SplitTrain}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sp := splits[0]
	if sp.Format != FormatStories || len(sp.Examples) != 10 {
		t.Fatalf("format %s, %d examples; want stories, 10", sp.Format, len(sp.Examples))
	}
	ref := readJSONLFile(t, filepath.Join("testdata", "cnn_hf_3.0.0.jsonl"))
	for i, r := range ref {
		ex := sp.Examples[i]
		if ex.ID != r["id"] || ex.Source != r["article"] || ex.Target != r["highlights"] {
			t.Errorf("story %d (%s): differs from HF's\n got %.200q\nwant %.200q\n got %q\nwant %q", i, ex.ID, ex.Source, r["article"], ex.Target, r["highlights"])
		}
	}
	byID := map[string]Example{}
	for _, ex := range sp.Examples {
		byID[ex.ID] = ex
	}
	// By hand: highlights get " ." unless they end in . ! ? ' ` " ’ ” ), and
	// are joined by "\n"; article paragraphs are joined by " ".
	potter := byID["42c027e4ff9730fbb3de84c1af0d2c506e41c3e4"]
	if want := "Harry Potter star Daniel Radcliffe gets £20M fortune as he turns 18 Monday .\nYoung actor says he has no plans to fritter his cash away .\nRadcliffe's earnings from first five Potter films have been held in trust fund ."; potter.Target != want {
		t.Errorf("Potter highlights\n got %q\nwant %q", potter.Target, want)
	}
	if want := `LONDON, England (Reuters) -- Harry Potter star Daniel Radcliffe gains access to a reported £20 million ($41.1 million) fortune as he turns 18 on Monday, but he insists the money won't cast a spell on him. Daniel Radcliffe as Harry Potter in "Harry Potter and the Order of the Phoenix" To the disappointment of gossip columnists`; !strings.HasPrefix(potter.Source, want) {
		t.Errorf("Potter article starts %.300q", potter.Source)
	}
	if want := `he told Reuters. E-mail to a friend . Copyright 2007 Reuters. All rights reserved.This material may not be published, broadcast, rewritten, or redistributed.`; !strings.HasSuffix(potter.Source, want) {
		t.Errorf("Potter article ends %q", potter.Source[len(potter.Source)-200:])
	}
	floor := byID["ee8871b15c50d0db17b0179a6d2beab35065f1e9"]
	if want := "Mentally ill inmates in Miami are housed on the \"forgotten floor\"\nJudge Steven Leifman says most are there as a result of \"avoidable felonies\"\nWhile CNN tours facility, patient shouts: \"I am the son of the president\"\nLeifman says the system is unjust and he's fighting for change ."; floor.Target != want {
		t.Errorf("forgotten-floor highlights\n got %q\nwant %q", floor.Target, want)
	}
	if want := "And, for Leifman, justice is served. E-mail to a friend ."; !strings.HasSuffix(floor.Source, want) {
		t.Errorf("forgotten-floor article ends %q", floor.Source[len(floor.Source)-100:])
	}
}

// TestHFParquet: the parquet fixtures (HF column layout) load to the same
// examples as the JSON lines they were written from.
func TestHFParquet(t *testing.T) {
	needShared(t, sharedXSum)
	xsum := mustTask(t, "xsum")
	splits, err := LoadSplits(xsum, filepath.Join("testdata", "hf", "xsum"), []string{SplitTest}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := readJSONLFile(t, filepath.Join(sharedXSum, "test-sample.jsonl"))[:6]
	checkAgainst(t, splits[0], FormatParquet, ref, "document", "summary")

	cnn := mustTask(t, "cnn_dailymail")
	// The config folder (3.0.0) is found from the dataset folder.
	splits, err = LoadSplits(cnn, filepath.Join("testdata", "hf", "cnn_dailymail"), []string{SplitTrain}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkAgainst(t, splits[0], FormatParquet, readJSONLFile(t, filepath.Join("testdata", "cnn_hf_3.0.0.jsonl")), "article", "highlights")
}

func checkAgainst(t *testing.T, sp Split, format string, ref []map[string]string, src, tgt string) {
	t.Helper()
	if sp.Format != format || len(sp.Examples) != len(ref) {
		t.Fatalf("%s: format %s, %d examples; want %s, %d", sp.Path, sp.Format, len(sp.Examples), format, len(ref))
	}
	for i, r := range ref {
		if ex := sp.Examples[i]; ex.ID != r["id"] || ex.Source != r[src] || ex.Target != r[tgt] {
			t.Errorf("%s: example %d: got %q %.80q %.80q, want %q %.80q %.80q", sp.Path, i, ex.ID, ex.Source, ex.Target, r["id"], r[src], r[tgt])
		}
	}
}

// TestXSumOriginal: the original release layout gives what HF's xsum script
// gives (testdata/xsum_original_expected.jsonl), in split-JSON order; the
// documents equal the shared sample's (HF's own output for those articles).
func TestXSumOriginal(t *testing.T) {
	task := mustTask(t, "xsum")
	dir := filepath.Join("testdata", "xsum_original")
	splits, err := LoadSplits(task, dir, []string{SplitTrain, SplitValidation, SplitTest}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := readJSONLFile(t, filepath.Join("testdata", "xsum_original_expected.jsonl"))
	var got []Example
	for _, sp := range splits {
		if sp.Format != FormatXSumOriginal {
			t.Errorf("%s: format %s", sp.Name, sp.Format)
		}
		got = append(got, sp.Examples...)
	}
	if len(got) != len(ref) || len(splits[2].Examples) != 3 {
		t.Fatalf("%d examples (test %d), want %d (test 3)", len(got), len(splits[2].Examples), len(ref))
	}
	for i, r := range ref {
		if ex := got[i]; ex.ID != r["id"] || ex.Source != r["document"] || ex.Target != r["summary"] {
			t.Errorf("example %d: got %q %.80q %q, want %q %.80q %q", i, ex.ID, ex.Source, ex.Target, r["id"], r["document"], r["summary"])
		}
	}
	if _, err := os.Stat(sharedXSum); err == nil {
		sample := map[string]map[string]string{}
		for _, r := range readJSONLFile(t, filepath.Join(sharedXSum, "test-sample.jsonl")) {
			sample[r["id"]] = r
		}
		for _, ex := range got {
			if r := sample[ex.ID]; ex.Source != r["document"] || ex.Target != r["summary"] {
				t.Errorf("%s: differs from the HF sample", ex.ID)
			}
		}
	}
}

// TestBARTLines: fairseq/BART .source/.target, lines kept as they are.
func TestBARTLines(t *testing.T) {
	needShared(t, sharedCNN)
	dir := filepath.Join(sharedCNN, "bart_format")
	splits, err := LoadSplits(mustTask(t, "cnn_dailymail"), dir, []string{SplitTest}, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sp := splits[0]
	if sp.Format != FormatLines || len(sp.Examples) != 2 {
		t.Fatalf("format %s, %d examples; want lines, 2", sp.Format, len(sp.Examples))
	}
	ex := sp.Examples[1]
	if ex.ID != "1" || !strings.HasPrefix(ex.Source, "Tim Sherwood will welcome Gary Gardner back into his first team squad") ||
		ex.Target != " Gary Gardner confirms he'll report to Aston Villa for pre-season training.   The 22-year-old is out on loan at Championship side Nottingham Forest.   Tim Sherwood is keen to asses Gardner ahead of next season.   The midfielder would prefer a move back to Forest if Villa doesn't wok out.   CLICK HERE for all the latest Aston Villa news\u00a0. " {
		t.Errorf("example 1: %q %.80q %q", ex.ID, ex.Source, ex.Target)
	}
}

// TestParseStoryRules checks HF's rules on hand-made stories.
func TestParseStoryRules(t *testing.T) {
	cases := []struct {
		name, story, article, highlights string
	}{
		{"periods", "First line\n\nSecond line.\n@highlight\n\nOne\n\n@highlight\n\nTwo!\n", "First line . Second line.", "One .\nTwo!"},
		{"end tokens", "a'\nb`\nc\"\nd\u2019\ne\u201d\nf)\ng?\nh...\ni:\n@highlight\nx", "a' b` c\" d\u2019 e\u201d f) g? h... i: .", "x ."},
		// "@highlight" inside an article line: no period added, stays in the article.
		{"inline mark", "see @highlight here\n@highlight\nx.", "see @highlight here", "x."},
		// Python's strip: CR, tabs, NBSP, U+001C; "\r" does not end a line.
		{"strip", "\t a\u00a0\r\n\x1c\n@highlight\r\n  b \r\n", "a .", "b ."},
		{"no split on CR", "a\rb\n@highlight\nc", "a\rb .", "c ."},
		// Everything after the first @highlight is a highlight.
		{"sticky", "a.\n@highlight\nb.\nc.\n", "a.", "b.\nc."},
		{"mark prefix", "a.\n@highlightfoo\nb.", "a.", "b."},
	}
	for _, c := range cases {
		art, hl, msg := ParseStory([]byte(c.story))
		if msg != "" || art != c.article || hl != c.highlights {
			t.Errorf("%s: got %q, %q, %q; want %q, %q", c.name, art, hl, msg, c.article, c.highlights)
		}
	}
}

// writeFiles creates files (name -> content) under a new temp folder.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const (
	storyURL1 = "http://example.com/a"
	storyURL2 = "http://example.com/b"
)

// TestMalformed: each bad input gives one error naming the file, the record
// and the field, and SkipMalformed drops the record instead.
func TestMalformed(t *testing.T) {
	good := `{"document": "d", "summary": "s", "id": "1"}` + "\n"
	h1, h2 := urlHash(storyURL1), urlHash(storyURL2)
	goodStory := "Text.\n@highlight\nH.\n"
	xsumFile := func(body string) string {
		return "[SN]URL[SN]\nu\n\n[SN]TITLE[SN]\nt\n\n[SN]FIRST-SENTENCE[SN]\nsum\n\n[SN]RESTBODY[SN]\n" + body
	}
	cases := []struct {
		name, task string
		files      map[string]string
		split      string
		want       string // the error, with DIR for the folder
		kept       int    // examples kept with SkipMalformed; -1: a file-level error
	}{
		{"missing summary", "xsum", map[string]string{"test.jsonl": good + `{"document": "d", "id": "2"}` + "\n"}, "test",
			`nlg: DIR/test.jsonl:2: "summary": missing, want a string (xsum records have "document", "summary", "id")`, 1},
		{"non-string id", "xsum", map[string]string{"test.jsonl": good + `{"document": "d", "summary": "s", "id": 2}` + "\n"}, "test",
			`nlg: DIR/test.jsonl:2: "id": want a string, got a number`, 1},
		{"empty document", "xsum", map[string]string{"test.jsonl": `{"document": " \n", "summary": "s", "id": "2"}` + "\n" + good}, "test",
			`nlg: DIR/test.jsonl:1: "document": empty document, want text to summarise`, 1},
		{"empty summary", "cnn_dailymail", map[string]string{"test.jsonl": `{"article": "a", "highlights": "", "id": "2"}` + "\n"}, "test",
			`nlg: DIR/test.jsonl:1: "highlights": empty summary, want the reference text`, 0},
		{"duplicate id", "xsum", map[string]string{"test.jsonl": good + "\n" + good}, "test",
			`nlg: DIR/test.jsonl:3: "id": duplicate id "1" (first at line 1), want ids unique within a split`, 1},
		{"empty id", "xsum", map[string]string{"test.jsonl": `{"document": "d", "summary": "s", "id": ""}` + "\n"}, "test",
			`nlg: DIR/test.jsonl:1: "id": empty, want the example's id`, 0},
		{"not json", "xsum", map[string]string{"test.jsonl": good + "{\"document\": \n"}, "test",
			`nlg: DIR/test.jsonl:2: want one JSON object per line: unexpected EOF`, 1},
		{"json array", "xsum", map[string]string{"test.jsonl": "[1]\n" + good}, "test",
			`nlg: DIR/test.jsonl:1: want one JSON object per line: json: cannot unmarshal array into Go value of type map[string]interface {}`, 1},
		{"two values", "xsum", map[string]string{"test.jsonl": strings.TrimSuffix(good, "\n") + " {}\n"}, "test",
			`nlg: DIR/test.jsonl:1: want one JSON object per line: more than one JSON value on the line`, 0},
		{"invalid utf8", "xsum", map[string]string{"test.jsonl": "{\"document\": \"\xff\", \"summary\": \"s\", \"id\": \"2\"}\n"}, "test",
			`nlg: DIR/test.jsonl:1: want UTF-8 text, got invalid bytes`, 0},
		{"story without highlight", "cnn_dailymail", map[string]string{
			"url_lists/all_test.txt": storyURL1 + "\n" + storyURL2 + "\n", "cnn/stories/" + h1 + ".story": "Just text.\n", "cnn/stories/" + h2 + ".story": goodStory}, "test",
			`nlg: DIR/cnn/stories/` + h1 + `.story: no @highlight line, want the article followed by @highlight blocks (story of DIR/url_lists/all_test.txt:1)`, 1},
		{"story with empty highlights", "cnn_dailymail", map[string]string{
			"url_lists/all_test.txt": storyURL1 + "\n", "cnn/stories/" + h1 + ".story": "Text.\n@highlight\n\n"}, "test",
			`nlg: DIR/cnn/stories/` + h1 + `.story: @highlight blocks with no text, want at least one highlight (story of DIR/url_lists/all_test.txt:1)`, 0},
		{"story with no article", "cnn_dailymail", map[string]string{
			"url_lists/all_test.txt": storyURL1 + "\n", "cnn/stories/" + h1 + ".story": "@highlight\nH\n"}, "test",
			`nlg: DIR/cnn/stories/` + h1 + `.story: empty article (only highlights), want the article text before the first @highlight (story of DIR/url_lists/all_test.txt:1)`, 0},
		{"story not utf8", "cnn_dailymail", map[string]string{
			"url_lists/all_test.txt": storyURL1 + "\n", "cnn/stories/" + h1 + ".story": "ok\n\xc3(\n@highlight\nH\n"}, "test",
			`nlg: DIR/cnn/stories/` + h1 + `.story: line 2: want UTF-8 text, got invalid bytes (story of DIR/url_lists/all_test.txt:1)`, 0},
		{"url without story", "cnn_dailymail", map[string]string{
			"url_lists/all_val.txt": storyURL1 + "\n" + storyURL2 + "\n", "cnn/stories/" + h1 + ".story": goodStory}, "validation",
			`nlg: DIR/url_lists/all_val.txt:2: no story file ` + h2 + `.story for url "http://example.com/b" (looked in DIR/cnn/stories)`, 1},
		{"duplicate url", "cnn_dailymail", map[string]string{
			"all_train.txt": storyURL1 + "\n" + storyURL1 + "\n", "stories/" + h1 + ".story": goodStory}, "train",
			`nlg: DIR/all_train.txt:2: duplicate url "http://example.com/a" (first at DIR/all_train.txt:1), want each story once`, 1},
		{"no story folder", "cnn_dailymail", map[string]string{"url_lists/all_test.txt": storyURL1 + "\n"}, "test",
			`nlg: cnn_dailymail: no .story files under DIR (looked in DIR/cnn/stories, DIR/dailymail/stories, DIR/cnn_stories/cnn/stories, DIR/dailymail_stories/dailymail/stories, DIR/dm_stories/dailymail/stories, DIR/cnn_stories, DIR/dailymail_stories, DIR/dm_stories, DIR/stories)`, -1},
		{"source/target line counts", "cnn_dailymail", map[string]string{"test.source": "a\nb\n", "test.target": "x\n"}, "test",
			`nlg: DIR/test.source has 2 lines and DIR/test.target has 1; want one target line per source line`, -1},
		{"empty target line", "cnn_dailymail", map[string]string{"val.source": "a\nb\n", "val.target": "x\n \n"}, "validation",
			`nlg: DIR/val.target:2: empty summary, want the reference text`, 1},
		{"missing target file", "xsum", map[string]string{"test.source": "a\n"}, "test",
			`nlg: DIR/test.target: missing; test needs both .source and .target`, -1},
		{"xsum id without file", "xsum", map[string]string{
			xsumSplitFile: `{"train": [], "validation": [], "test": ["7", "8"]}`, "bbc-summary-data/7.summary": xsumFile("body\n")}, "test",
			`nlg: DIR/XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json: "test[1]": id "8" has no file DIR/bbc-summary-data/8.summary`, 1},
		{"xsum non-string id", "xsum", map[string]string{
			xsumSplitFile: `{"test": ["7", 8]}`, "bbc-summary-data/7.summary": xsumFile("body\n")}, "test",
			`nlg: DIR/XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json: "test[1]": want an article id string, got a number`, -1},
		{"xsum split missing", "xsum", map[string]string{
			xsumSplitFile: `{"train": ["7"]}`, "bbc-summary-data/7.summary": xsumFile("body\n")}, "test",
			`nlg: DIR/XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json: "test": missing, want a list of article ids (the file has "train")`, -1},
		{"xsum path id", "xsum", map[string]string{
			xsumSplitFile: `{"test": ["../7"]}`, "bbc-summary-data/7.summary": xsumFile("body\n")}, "test",
			`nlg: DIR/XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json: "test[0]": want an article id (a file name stem in bbc-summary-data), got "../7"`, 0},
		{"xsum no restbody", "xsum", map[string]string{
			xsumSplitFile: `{"test": ["7"]}`, "bbc-summary-data/7.summary": "[SN]URL[SN]\nu\n[SN]TITLE[SN]\nt\n[SN]FIRST-SENTENCE[SN]\ns\n"}, "test",
			`nlg: DIR/bbc-summary-data/7.summary: "[SN]RESTBODY[SN]": want the sections [SN]URL[SN], [SN]TITLE[SN], [SN]FIRST-SENTENCE[SN], [SN]RESTBODY[SN] in that order, each followed by its text; section 4 is missing or misplaced`, 0},
		{"xsum empty body", "xsum", map[string]string{
			xsumSplitFile: `{"test": ["7"]}`, "bbc-summary-data/7.summary": xsumFile("Email\n\n")}, "test",
			`nlg: DIR/bbc-summary-data/7.summary: "[SN]RESTBODY[SN]": empty document, want the article body`, 0},
		{"xsum no data folder", "xsum", map[string]string{xsumSplitFile: `{"test": ["7"]}`}, "test",
			`nlg: DIR/bbc-summary-data: no bbc-summary-data folder beside the split file DIR/XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json (want one <id>.summary file per article)`, -1},
		{"two layouts", "xsum", map[string]string{"test.jsonl": good, "test.source": "a\n", "test.target": "b\n"}, "test",
			`nlg: xsum: DIR holds the test split as jsonl and lines; set LoadOptions.Format to choose`, -1},
		{"nothing", "cnn_dailymail", map[string]string{"README": "x"}, "train",
			`nlg: no cnn_dailymail train split found under DIR (looked for DIR/3.0.0/train.parquet, DIR/3.0.0/train-*.parquet, DIR/3.0.0/train/*.parquet, DIR/train.parquet, DIR/train-*.parquet, DIR/train/*.parquet, DIR/3.0.0/train.jsonl, DIR/3.0.0/train-*.jsonl, DIR/train.jsonl, DIR/train-*.jsonl, DIR/train.source, DIR/url_lists/all_train.txt, DIR/all_train.txt)`, -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, c.files)
			task := mustTask(t, c.task)
			_, err := LoadSplits(task, dir, []string{c.split}, LoadOptions{})
			want := strings.ReplaceAll(c.want, "DIR", dir)
			if err == nil || err.Error() != want {
				t.Fatalf("error\n got %v\nwant %s", err, want)
			}
			sp, err := LoadSplits(task, dir, []string{c.split}, LoadOptions{SkipMalformed: true})
			if c.kept < 0 {
				if err == nil {
					t.Fatal("SkipMalformed loaded a broken layout")
				}
				return
			}
			if err != nil {
				t.Fatalf("SkipMalformed: %v", err)
			}
			if got := len(sp[0].Examples); got != c.kept || sp[0].Skipped == 0 || sp[0].SkipReasons[0] != want {
				t.Errorf("SkipMalformed: kept %d (want %d), skipped %d, reasons %q", got, c.kept, sp[0].Skipped, sp[0].SkipReasons)
			}
		})
	}
}

// TestLineCap: a line over LoadOptions.MaxLineBytes is malformed, read no
// further than the cap; the default cap (16 MiB) takes it.
func TestLineCap(t *testing.T) {
	long := `{"document": "` + strings.Repeat("x", 3000) + `", "summary": "s", "id": "2"}`
	dir := writeFiles(t, map[string]string{"test.jsonl": long + "\n" + `{"document": "d", "summary": "s", "id": "1"}` + "\n"})
	task := mustTask(t, "xsum")
	_, err := LoadSplits(task, dir, []string{SplitTest}, LoadOptions{MaxLineBytes: 1000})
	want := "nlg: " + filepath.Join(dir, "test.jsonl") + ":1: the line is 3043 bytes long, over the cap of 1000 bytes (nlg.MaxLineBytes; LoadOptions.MaxLineBytes sets another); a missing newline?"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	sp, err := LoadSplits(task, dir, []string{SplitTest}, LoadOptions{MaxLineBytes: 1000, SkipMalformed: true})
	if err != nil || len(sp[0].Examples) != 1 || sp[0].Examples[0].ID != "1" {
		t.Fatalf("SkipMalformed: %v %+v", err, sp)
	}
	sp, err = LoadSplits(task, dir, []string{SplitTest}, LoadOptions{})
	if err != nil || len(sp[0].Examples) != 2 {
		t.Fatalf("default cap: %v", err)
	}
	// A story file over the cap.
	h := urlHash(storyURL1)
	dir = writeFiles(t, map[string]string{"all_test.txt": storyURL1 + "\n", "stories/" + h + ".story": strings.Repeat("Text.\n", 100) + "@highlight\nH\n"})
	_, err = LoadSplits(mustTask(t, "cnn"), dir, []string{SplitTest}, LoadOptions{MaxLineBytes: 100})
	want = "nlg: " + filepath.Join(dir, "stories", h+".story") + ": the file is over the cap of 100 bytes (nlg.MaxLineBytes; LoadOptions.MaxLineBytes sets another)"
	if err == nil || err.Error() != want {
		t.Fatalf("story: got %v\nwant %s", err, want)
	}
}

func TestBadArguments(t *testing.T) {
	task := mustTask(t, "xsum")
	for _, c := range []struct {
		name string
		run  func() error
		want string
	}{
		{"unknown task", func() error {
			_, err := LoadSplits(Task{Name: "squad"}, ".", []string{"train"}, LoadOptions{})
			return err
		},
			`nlg: unknown task "squad" (valid: xsum, cnn_dailymail)`},
		{"unknown split", func() error { _, err := LoadSplits(task, ".", []string{"dev"}, LoadOptions{}); return err },
			`nlg: xsum has no split "dev" (want "train", "validation", "test")`},
		{"unknown format", func() error {
			_, err := LoadSplits(task, ".", []string{"train"}, LoadOptions{Format: "csv"})
			return err
		},
			`nlg: unknown format "csv" (want one of "parquet", "jsonl", "lines", "xsum-original", "stories", or empty to detect)`},
		{"negative cap", func() error {
			_, err := LoadSplits(task, ".", []string{"train"}, LoadOptions{MaxLineBytes: -1})
			return err
		},
			`nlg: LoadOptions.MaxLineBytes -1, want >= 0 (0: the default, 16777216)`},
		{"extension", func() error { _, err := ReadFile(task, "test", "x.csv", LoadOptions{}); return err },
			`nlg: x.csv: cannot tell the format from the extension (want .parquet or .jsonl, or set LoadOptions.Format)`},
		{"not a parquet", func() error {
			dir := writeFiles(t, map[string]string{"test.parquet": "PAR1 not really"})
			_, err := LoadSplits(task, dir, []string{"test"}, LoadOptions{})
			return err
		}, `nlg: DIR/test.parquet: not a readable parquet file: does not start and end with "PAR1"`},
	} {
		err := c.run()
		if err == nil || !matchDir(err.Error(), c.want) {
			t.Errorf("%s: got %v\nwant %s", c.name, err, c.want)
		}
	}
}

// matchDir compares got with want, where DIR in want stands for any folder.
func matchDir(got, want string) bool {
	before, after, ok := strings.Cut(want, "DIR")
	if !ok {
		return got == want
	}
	return strings.HasPrefix(got, before) && strings.HasSuffix(got, after)
}

// TestParquetSchemaErrors: a parquet file without the task's columns, or with
// a non-string one, is refused as a whole, naming the column.
func TestParquetSchemaErrors(t *testing.T) {
	task := mustTask(t, "cnn_dailymail")
	// The XSum fixture has document/summary/id, not article/highlights.
	_, err := ReadFile(task, "test", filepath.Join("testdata", "hf", "xsum", "test-00000-of-00001.parquet"), LoadOptions{SkipMalformed: true})
	want := `nlg: testdata/hf/xsum/test-00000-of-00001.parquet: "article": no such column; cnn_dailymail needs "article", "highlights", "id", the file has "document", "summary", "id"`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// TestParquetNull: a null cell is a malformed row naming row and column.
func TestParquetNull(t *testing.T) {
	type row struct {
		Document *string `parquet:"document,optional"`
		Summary  string  `parquet:"summary"`
		ID       string  `parquet:"id"`
	}
	doc := "d"
	path := filepath.Join(t.TempDir(), "test.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[row](f)
	if _, err := w.Write([]row{{&doc, "s", "1"}, {nil, "s", "2"}, {&doc, "s", "3"}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	task := mustTask(t, "xsum")
	_, err = ReadFile(task, SplitTest, path, LoadOptions{})
	if want := "nlg: " + path + `: row 1 (0-based): "document": null, want a string`; err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	sp, err := ReadFile(task, SplitTest, path, LoadOptions{SkipMalformed: true})
	if err != nil || len(sp.Examples) != 2 || sp.Examples[1].ID != "3" || sp.Skipped != 1 {
		t.Fatalf("SkipMalformed: %v %+v", err, sp)
	}
}
