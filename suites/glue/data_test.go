package glue

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// sharedGLUE is the real GLUE data shipped beside the repository
// (/work/shared/data/glue for a checkout at /work/main; CI lays shared/ out
// the same way). See shared/data/README.md and SOURCES.md for what each file
// is: most are complete train files and the first half of dev.
const sharedGLUE = "../../../shared/data/glue"

func mustTask(t *testing.T, name string) Task {
	t.Helper()
	task, err := Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func requireShared(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(sharedGLUE); err != nil {
		t.Fatalf("real GLUE data not found at %s (shared/ must sit beside the repository): %v", sharedGLUE, err)
	}
}

// want describes one expected example: texts and label as read by eye from
// the file (label as the class name, or the STS-B score).
type want struct {
	text1, text2 string
	label        string
	score        float64
}

func checkExample(t *testing.T, task Task, where string, got Example, w want, idx int) {
	t.Helper()
	if got.Idx != idx || got.Text1 != w.text1 || got.Text2 != w.text2 || !got.HasLabel {
		t.Errorf("%s: got idx %d %q / %q (has label %v), want idx %d %q / %q", where, got.Idx, got.Text1, got.Text2, got.HasLabel, idx, w.text1, w.text2)
	}
	if task.IsRegression() {
		if got.Score != w.score {
			t.Errorf("%s: score %v, want %v", where, got.Score, w.score)
		}
		return
	}
	if name := task.Labels[got.Label]; name != w.label {
		t.Errorf("%s: label %d (%s), want %s", where, got.Label, name, w.label)
	}
}

// TestLoadRealGLUE loads every task from the real files and checks counts,
// the first and last example of every split, and the label histogram
// (counted independently with a tab split in Python), which pins the
// mapping from the file's label strings to Hugging Face's class ids.
func TestLoadRealGLUE(t *testing.T) {
	requireShared(t)
	type splitWant struct {
		n           int
		first, last want
		perClass    []int // examples per class id; nil for STS-B
		scoreSum    float64
	}
	cases := []struct {
		task  string
		train splitWant
		dev   []splitWant
	}{
		{"cola",
			splitWant{n: 8551,
				first:    want{text1: "Our friends won't buy this analysis, let alone the next one we propose.", label: "acceptable"},
				last:     want{text1: "What all did you get for Christmas?", label: "acceptable"},
				perClass: []int{2528, 6023}},
			[]splitWant{{n: 522,
				first:    want{text1: "The sailors rode the breeze clear of the rocks.", label: "acceptable"},
				last:     want{text1: "The monkey is ate the banana", label: "unacceptable"},
				perClass: []int{159, 363}}}},
		{"sst2",
			// Trailing spaces are in the file and are kept.
			splitWant{n: 67349,
				first:    want{text1: "hide new secretions from the parental units ", label: "negative"},
				last:     want{text1: "this new jangle of noise , mayhem and stupidity must be a serious contender for the title . ", label: "negative"},
				perClass: []int{29780, 37569}},
			[]splitWant{{n: 436,
				first:    want{text1: "it 's a charming and often affecting journey . ", label: "positive"},
				last:     want{text1: "a marvel like none you 've seen . ", label: "positive"},
				perClass: []int{208, 228}}}},
		{"mrpc",
			// 3667, not the 3668 of Hugging Face's MRPC train: see
			// TestMRPCTrainCount.
			splitWant{n: 3667,
				first: want{text1: `Amrozi accused his brother , whom he called " the witness " , of deliberately distorting his evidence .`,
					text2: `Referring to him as only " the witness " , Amrozi accused his brother of deliberately distorting his evidence .`, label: "equivalent"},
				last: want{text1: "The 30-year bond US30YT = RR rose 22 / 32 for a yield of 4.31 percent , versus 4.35 percent at Wednesday 's close .",
					text2: "The 30-year bond US30YT = RR grew 1-3 / 32 for a yield of 4.30 percent , down from 4.35 percent late Wednesday .", label: "not_equivalent"},
				perClass: []int{1194, 2473}},
			[]splitWant{{n: 204,
				// An unbalanced quote opens text2: csv quote handling would
				// swallow the following lines.
				first: want{text1: "He said the foodservice pie business doesn 't fit the company 's long-term growth strategy .",
					text2: `" The foodservice pie business does not fit our long-term growth strategy .`, label: "equivalent"},
				last: want{text1: "The vote came just two days after Kurds swept City Council elections , taking the largest single block of votes on the 30-seat council .",
					text2: "The vote for mayor followed City Council elections that gave Kurds the largest block of votes on the 30-seat council .", label: "equivalent"},
				perClass: []int{64, 140}}}},
		{"qqp",
			splitWant{n: 32,
				first:    want{text1: "Why do some people think that having a baby is a blessing?", text2: "Why is having a baby a blessing?", label: "duplicate"},
				last:     want{text1: "I am planning to invest in SBI SIP. Is my decision a good one?", text2: "Which are the good SIP plans to invest in?", label: "not_duplicate"},
				perClass: []int{16, 16}},
			[]splitWant{{n: 2,
				first: want{text1: "Why are African-Americans so beautiful?", text2: "Why are hispanics so beautiful?", label: "not_duplicate"},
				last: want{text1: "I want to pursue PhD in Computer Science about social network,what is the open problem in social networks?",
					text2: "I handle social media for a non-profit. Should I start going to social media networking events? Are there any good ones in the bay area?", label: "not_duplicate"},
				perClass: []int{2, 0}}}},
		{"stsb",
			splitWant{n: 5749,
				first:    want{text1: "A plane is taking off.", text2: "An air plane is taking off.", score: 5},
				last:     want{text1: "Putin spokesman: Doping charges appear unfounded", text2: "The Latest on Severe Weather: 1 Dead in Texas After Tornado", score: 0},
				scoreSum: 15528.043396825396},
			[]splitWant{{n: 750,
				first:    want{text1: "A man with a hard hat is dancing.", text2: "A man wearing a hard hat is dancing.", score: 5},
				last:     want{text1: "Aloes, like most succulents, are very hardy and will withstand considerable neglect .", text2: "Some of the guys at my office have potted aloe plants.", score: 1.6},
				scoreSum: 1683.298}}},
		{"mnli",
			splitWant{n: 48,
				first: want{text1: "That's all right.", text2: "That's fine.", label: "entailment"},
				last: want{text1: "Inevitably, some people will get burned in the process, but others will rise triumphantly from the fray to even greater successes.",
					text2: "Nobody will be burned in the process, but neither will anyone be successful.", label: "contradiction"},
				perClass: []int{16, 16, 16}},
			[]splitWant{
				{n: 2,
					first: want{text1: "The new rights are nice enough", text2: "Everyone really likes the newest benefits ", label: "neutral"},
					last: want{text1: "This site includes a list of all award winners and a searchable database of Government Executive articles.",
						text2: "The Government Executive articles housed on the website are not able to be searched.", label: "contradiction"},
					perClass: []int{0, 1, 1}},
				{n: 2,
					first: want{text1: "Your contribution helped make it possible for us to provide our students with a quality education.",
						text2: "Your contributions were of no help with our students' education.", label: "contradiction"},
					perClass: []int{0, 0, 2}},
			}},
		{"qnli",
			splitWant{n: 32,
				first: want{text1: "In what year did Robert Louis Stevenson die?",
					text2: "Mission work in Samoa had begun in late 1830 by John Williams, of the London Missionary Society arriving in Sapapali'i from The Cook Islands and Tahiti.", label: "not_entailment"},
				last: want{text1: "How many noble truths are there?",
					text2: "According to Buddhist tradition, the Buddha lived and taught in the eastern part of the Indian subcontinent, present-day Nepal sometime between the 6th and 4th centuries", label: "entailment"},
				perClass: []int{16, 16}},
			[]splitWant{{n: 2732,
				first: want{text1: "What came into force after the new constitution was herald?",
					text2: "As of that day, the new constitution heralding the Second Republic came into force.", label: "entailment"},
				last: want{text1: "Who was ABC Great States sold to in 1974?",
					text2: "On January 17, 1972, Elton Rule was named President and Chief Operating Officer of ABC a few months after Goldenson reduced his role in the company after suffering a heart attack.", label: "not_entailment"},
				perClass: []int{1338, 1394}}}},
		{"rte",
			splitWant{n: 2490,
				first: want{text1: "No Weapons of Mass Destruction Found in Iraq Yet.", text2: "Weapons of Mass Destruction Found in Iraq.", label: "not_entailment"},
				last: want{text1: "Turkey is unlikely to become involved in, or allow U.S. forces to use Turkish territory in a Middle East war that does not threaten her territory directly.",
					text2: "U.S. to use Turkish military bases.", label: "not_entailment"},
				perClass: []int{1249, 1241}},
			[]splitWant{{n: 139,
				first: want{text1: "Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, according to the Christopher Reeve Foundation.",
					text2: "Christopher Reeve had an accident.", label: "not_entailment"},
				last: want{text1: "Note that SBB, CFF and FFS stand out for the main railway company, in German, French and Italian.",
					text2: "The French railway company is called SNCF.", label: "not_entailment"},
				perClass: []int{74, 65}}}},
	}
	for _, c := range cases {
		t.Run(c.task, func(t *testing.T) {
			task := mustTask(t, c.task)
			train, dev, err := Load(task, sharedGLUE, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			check := func(sp Split, w splitWant) {
				t.Helper()
				if sp.Format != FormatTSV || sp.Skipped != 0 || len(sp.Files) != 1 || sp.Files[0] != sp.Path {
					t.Errorf("%s: format %q skipped %d files %v path %q", sp.Name, sp.Format, sp.Skipped, sp.Files, sp.Path)
				}
				if len(sp.Examples) != w.n {
					t.Fatalf("%s (%s): %d examples, want %d", sp.Name, sp.Path, len(sp.Examples), w.n)
				}
				checkExample(t, task, sp.Name+" first", sp.Examples[0], w.first, 0)
				if w.last.text1 != "" {
					checkExample(t, task, sp.Name+" last", sp.Examples[w.n-1], w.last, w.n-1)
				}
				if task.IsRegression() {
					sum := 0.0
					for _, ex := range sp.Examples {
						sum += ex.Score
					}
					if math.Abs(sum-w.scoreSum) > 1e-8 {
						t.Errorf("%s: score sum %.12f, want %.12f", sp.Name, sum, w.scoreSum)
					}
					return
				}
				counts := make([]int, task.NumLabels)
				for i, ex := range sp.Examples {
					counts[ex.Label]++
					if ex.Idx != i {
						t.Fatalf("%s: example %d has Idx %d", sp.Name, i, ex.Idx)
					}
				}
				if !slices.Equal(counts, w.perClass) {
					t.Errorf("%s: examples per class %v, want %v (%v)", sp.Name, counts, w.perClass, task.Labels)
				}
			}
			if train.Name != SplitTrain {
				t.Errorf("train split named %q", train.Name)
			}
			check(train, c.train)
			if len(dev) != len(c.dev) {
				t.Fatalf("%d dev splits, want %d", len(dev), len(c.dev))
			}
			for i := range dev {
				if dev[i].Name != task.DevSplits[i] {
					t.Errorf("dev split %d named %q, want %q", i, dev[i].Name, task.DevSplits[i])
				}
				check(dev[i], c.dev[i])
			}
		})
	}
}

// TestMRPCTrainCount documents a surprise in the shared data: its MRPC
// train.tsv (declared an unmodified GLUE file) has 3667 data lines, one
// fewer than the 3668 of the GLUE paper and Hugging Face. The loader must
// not invent or drop anything: 3668 lines = header + 3667 rows.
func TestMRPCTrainCount(t *testing.T) {
	requireShared(t)
	raw, err := os.ReadFile(filepath.Join(sharedGLUE, "MRPC", "train.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(raw), "\n")
	train, err := ReadSplitFile(mustTask(t, "mrpc"), SplitTrain, filepath.Join(sharedGLUE, "MRPC", "train.tsv"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lines != 3668 || len(train.Examples) != lines-1 {
		t.Fatalf("%d lines, %d examples; want 3668 lines = header + 3667 examples", lines, len(train.Examples))
	}
}

// TestLoadPathForms: the GLUE root, the task folder itself, and a k-shot
// folder with the same file names all work; pointing a task at another
// task's folder fails.
func TestLoadPathForms(t *testing.T) {
	requireShared(t)
	cases := []struct {
		task, path     string
		nTrain, nDev   int
		wantErrContain string
	}{
		{task: "rte", path: sharedGLUE, nTrain: 2490, nDev: 139},
		{task: "rte", path: filepath.Join(sharedGLUE, "RTE"), nTrain: 2490, nDev: 139},
		{task: "rte", path: filepath.Join(sharedGLUE, "RTE") + "/", nTrain: 2490, nDev: 139},
		{task: "qnli", path: filepath.Join(sharedGLUE, "QNLI", "kshot", "16-13"), nTrain: 32, nDev: 32},
		{task: "qqp", path: filepath.Join(sharedGLUE, "QQP", "kshot", "16-21"), nTrain: 32, nDev: 32},
		// RTE and QNLI files have the same label vocabulary: without the
		// folder-name check this would load RTE as QNLI... and fail only on
		// the missing "question" column. Better said plainly.
		{task: "qnli", path: filepath.Join(sharedGLUE, "RTE"), wantErrContain: "looks like the rte folder, not qnli's"},
		// A k-shot MNLI folder has no dev_mismatched.tsv.
		{task: "mnli", path: filepath.Join(sharedGLUE, "MNLI", "kshot", "16-13"), wantErrContain: "no dev_mismatched.tsv (the validation_mismatched split)"},
		{task: "rte", path: filepath.Join(sharedGLUE, "nonexistent"), wantErrContain: "no such file"},
		{task: "rte", path: filepath.Join(sharedGLUE, "RTE", "train.tsv"), wantErrContain: "want a folder"},
		{task: "rte", path: t.TempDir(), wantErrContain: "no rte train split found"},
	}
	for _, c := range cases {
		t.Run(c.task+" "+c.path, func(t *testing.T) {
			train, dev, err := Load(mustTask(t, c.task), c.path, LoadOptions{})
			if c.wantErrContain != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErrContain) {
					t.Fatalf("error %v, want it to contain %q", err, c.wantErrContain)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(train.Examples) != c.nTrain || len(dev) != 1 || len(dev[0].Examples) != c.nDev {
				t.Fatalf("train %d dev %d, want %d %d", len(train.Examples), len(dev[0].Examples), c.nTrain, c.nDev)
			}
		})
	}
}

func TestReadSplitFileKShotMNLI(t *testing.T) {
	requireShared(t)
	sp, err := ReadSplitFile(mustTask(t, "mnli"), SplitValidationMatched, filepath.Join(sharedGLUE, "MNLI", "kshot", "16-13", "dev_matched.tsv"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Name != SplitValidationMatched || len(sp.Examples) != 48 {
		t.Fatalf("got %s with %d examples, want validation_matched with 48", sp.Name, len(sp.Examples))
	}
	if _, err := ReadSplitFile(mustTask(t, "mnli"), SplitTrain, "x.csv", LoadOptions{}); err == nil || !strings.Contains(err.Error(), "extension") {
		t.Fatalf("want an error about the extension, got %v", err)
	}
}

func TestLoadMaxExamples(t *testing.T) {
	requireShared(t)
	train, dev, err := Load(mustTask(t, "mnli"), sharedGLUE, LoadOptions{MaxExamples: 5})
	if err != nil {
		t.Fatal(err)
	}
	// MaxExamples caps every split; MNLI's dev files have only 2 rows.
	if len(train.Examples) != 5 || len(dev[0].Examples) != 2 || len(dev[1].Examples) != 2 {
		t.Fatalf("got %d, %d, %d examples", len(train.Examples), len(dev[0].Examples), len(dev[1].Examples))
	}
}

// writeFile writes a temporary file under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTSVMalformed corrupts one line of a small file per case and checks
// that the error names the file, the line (1-based, header included, as an
// editor shows it), the column, and what was expected.
func TestTSVMalformed(t *testing.T) {
	rteHeader := "index\tsentence1\tsentence2\tlabel\n"
	cases := []struct {
		name, task, content string
		line                int
		column              string
		msgContains         string
	}{
		{"rte bad label", "rte", rteHeader + "0\ta\tb\tentailment\n1\ta\tb\tentailed\n", 3, "label", `want one of "entailment", "not_entailment", got "entailed"`},
		{"rte missing column", "rte", rteHeader + "0\ta\tb\tentailment\n1\ta\tb\n", 3, "label", "has 3 tab-separated fields, want 4"},
		{"rte extra column", "rte", rteHeader + "0\ta\tb\tentailment\textra\n", 2, "#5", "has 5 tab-separated fields, want 4"},
		{"rte missing header column", "rte", "index\tpremise\thypothesis\tlabel\n0\ta\tb\tentailment\n", 1, "sentence1", "not in the header"},
		{"cola label out of vocabulary", "cola", "gj04\t1\t\tGood.\ngj04\t2\t*\tBad.\n", 2, "label", `want one of "0", "1", got "2"`},
		{"cola missing sentence", "cola", "gj04\t1\t\n", 1, "sentence", "has 3 tab-separated fields, want 4"},
		{"stsb unparsable score", "stsb", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tg\tf\ty\to\tn\tn\ta\tb\tfive\n", 2, "score", `got "five"`},
		{"stsb score out of range", "stsb", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tg\tf\ty\to\tn\tn\ta\tb\t7\n", 2, "score", "want an STS-B score in [0, 5], got 7"},
		{"qqp short line", "qqp", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t2\t3\tWhy?\n", 2, "question2", "has 4 tab-separated fields, want 6"},
		{"mnli unknown gold label", "mnli", "index\tsentence1\tsentence2\tlabel1\tgold_label\n0\ta\tb\tneutral\t-\n", 2, "gold_label", `got "-"`},
		{"sst2 invalid utf-8", "sst2", "sentence\tlabel\nbad \xff byte\t1\n", 2, "sentence", "want UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "dev.tsv", c.content)
			_, err := ReadSplitFile(mustTask(t, c.task), SplitValidation, path, LoadOptions{})
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want a *ParseError, got %v", err)
			}
			if pe.Path != path || pe.Line != c.line || pe.Column != c.column {
				t.Errorf("error at %s:%d column %q, want %s:%d column %q", pe.Path, pe.Line, pe.Column, path, c.line, c.column)
			}
			msg := err.Error()
			for _, part := range []string{path + ":" + strconv.Itoa(c.line), `column "` + c.column + `"`, c.msgContains} {
				if !strings.Contains(msg, part) {
					t.Errorf("error %q does not contain %q", msg, part)
				}
			}
		})
	}
}

// TestTSVSkipMalformed: with SkipMalformed the bad lines are counted and
// described, and the good rows keep their position in the file as Idx.
func TestTSVSkipMalformed(t *testing.T) {
	content := "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n" +
		"1\t1\t2\tA?\tB?\t0\n" +
		"2\t3\t4\tC? (question2 broken by a newline\n" + // short line, as in the real QQP train
		"rest of it)\t1\n" +
		"3\t5\t6\tE?\tF?\t1\n"
	path := writeFile(t, t.TempDir(), "train.tsv", content)
	task := mustTask(t, "qqp")
	if _, err := ReadSplitFile(task, SplitTrain, path, LoadOptions{}); err == nil {
		t.Fatal("malformed lines loaded without SkipMalformed")
	}
	sp, err := ReadSplitFile(task, SplitTrain, path, LoadOptions{SkipMalformed: true})
	if err != nil {
		t.Fatal(err)
	}
	if sp.Skipped != 2 || len(sp.SkipReasons) != 2 || !strings.Contains(sp.SkipReasons[0], path+":3") {
		t.Fatalf("skipped %d, reasons %q", sp.Skipped, sp.SkipReasons)
	}
	want := []Example{
		{Idx: 0, Text1: "A?", Text2: "B?", Label: 0, HasLabel: true},
		{Idx: 3, Text1: "E?", Text2: "F?", Label: 1, HasLabel: true},
	}
	if !reflect.DeepEqual(sp.Examples, want) {
		t.Fatalf("got %+v, want %+v", sp.Examples, want)
	}
}

// TestTSVQuotesCRLFBlankLines: quotes are ordinary characters, CRLF line
// ends and a BOM are stripped, blank lines are not rows, and the last line
// may lack its newline.
func TestTSVQuotesCRLFBlankLines(t *testing.T) {
	content := "\uFEFFsentence\tlabel\r\n" +
		"\"unbalanced quote\t1\r\n" +
		"\r\n" +
		"it said \"\"hi\"\"\t0\r\n" +
		"no newline at end\t1"
	path := writeFile(t, t.TempDir(), "train.tsv", content)
	sp, err := ReadSplitFile(mustTask(t, "sst2"), SplitTrain, path, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Example{
		{Idx: 0, Text1: `"unbalanced quote`, Label: 1, HasLabel: true},
		{Idx: 1, Text1: `it said ""hi""`, Label: 0, HasLabel: true},
		{Idx: 2, Text1: "no newline at end", Label: 1, HasLabel: true},
	}
	if !reflect.DeepEqual(sp.Examples, want) {
		t.Fatalf("got %+v, want %+v", sp.Examples, want)
	}
}

// TestHFFixturesMatchTSV loads the parquet and JSON-lines fixtures made by
// scripts/fixtures/gen_glue_parquet.py from the first 6 rows of the real RTE
// and STS-B files, and requires exactly the examples the TSV loader reads
// from those rows (STS-B's float32 scores included).
func TestHFFixturesMatchTSV(t *testing.T) {
	requireShared(t)
	const rows = 6
	for _, name := range []string{"rte", "stsb"} {
		task := mustTask(t, name)
		tsvTrain, tsvDev, err := Load(task, sharedGLUE, LoadOptions{MaxExamples: rows})
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{FormatParquet, FormatJSONL} {
			t.Run(name+" "+format, func(t *testing.T) {
				// Both the HF root (testdata/hf) and the config folder work.
				for _, path := range []string{filepath.Join("testdata", "hf"), filepath.Join("testdata", "hf", name)} {
					train, dev, err := Load(task, path, LoadOptions{Format: format})
					if err != nil {
						t.Fatal(err)
					}
					if train.Format != format || len(train.Files) != 1 || !strings.HasPrefix(filepath.Base(train.Path), "train") {
						t.Errorf("train split: format %q files %v", train.Format, train.Files)
					}
					if len(train.Examples) != rows || !reflect.DeepEqual(train.Examples, tsvTrain.Examples) {
						t.Errorf("train differs from TSV:\n got %+v\nwant %+v", train.Examples, tsvTrain.Examples)
					}
					if len(dev) != 1 || dev[0].Name != SplitValidation || !reflect.DeepEqual(dev[0].Examples, tsvDev[0].Examples) {
						t.Errorf("dev differs from TSV:\n got %+v\nwant %+v", dev, tsvDev[0].Examples)
					}
				}
			})
		}
	}
}

// TestHFFixtureFloat32Score: STS-B dev row 5 is 2.615 in the TSV; the
// parquet stores float32(2.615) = 2.6150000095367432 and the loader must
// give back 2.615 exactly.
func TestHFFixtureFloat32Score(t *testing.T) {
	sp, err := ReadSplitFile(mustTask(t, "stsb"), SplitValidation, filepath.Join("testdata", "hf", "stsb", "validation-00000-of-00001.parquet"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := sp.Examples[5].Score; got != 2.615 {
		t.Fatalf("score %v, want 2.615", got)
	}
	if float64(float32(2.615)) == 2.615 {
		t.Fatal("test premise wrong: 2.615 is exact in float32")
	}
}

// TestHFAmbiguousFormat: the fixture folders hold each split both as
// parquet and as JSON lines; without LoadOptions.Format, Load refuses to
// guess.
func TestHFAmbiguousFormat(t *testing.T) {
	_, _, err := Load(mustTask(t, "rte"), filepath.Join("testdata", "hf"), LoadOptions{})
	if err == nil || !strings.Contains(err.Error(), "set LoadOptions.Format") {
		t.Fatalf("error %v, want a request to set LoadOptions.Format", err)
	}
	_, _, err = Load(mustTask(t, "rte"), filepath.Join("testdata", "hf"), LoadOptions{Format: "csv"})
	if err == nil || !strings.Contains(err.Error(), "unknown format") {
		t.Fatalf("error %v, want unknown format", err)
	}
}

// TestHFLayouts builds MNLI in the three Hugging Face file layouts (Hub
// shards, the Hub's parquet conversion folders, plain split files) with JSON
// lines, checking split discovery, shard concatenation (Idx continues across
// shards) and unlabelled rows.
func TestHFLayouts(t *testing.T) {
	row := func(p, h string, label int) string {
		return `{"premise": "` + p + `", "hypothesis": "` + h + `", "label": ` + strconv.Itoa(label) + `, "idx": 0}` + "\n"
	}
	cases := []struct {
		name  string
		files map[string]string
	}{
		{"hub shards", map[string]string{
			"mnli/train-00000-of-00002.jsonl":                 row("a", "b", 0) + row("c", "d", 1),
			"mnli/train-00001-of-00002.jsonl":                 row("e", "f", 2),
			"mnli/validation_matched-00000-of-00001.jsonl":    row("g", "h", 1),
			"mnli/validation_mismatched-00000-of-00001.jsonl": row("i", "j", -1),
		}},
		{"parquet conversion folders", map[string]string{
			"mnli/train/0000.jsonl":                 row("a", "b", 0) + row("c", "d", 1),
			"mnli/train/0001.jsonl":                 row("e", "f", 2),
			"mnli/validation_matched/0000.jsonl":    row("g", "h", 1),
			"mnli/validation_mismatched/0000.jsonl": row("i", "j", -1),
		}},
		{"plain files", map[string]string{
			"mnli/train.jsonl":                 row("a", "b", 0) + "\n" + row("c", "d", 1) + row("e", "f", 2),
			"mnli/validation_matched.jsonl":    row("g", "h", 1),
			"mnli/validation_mismatched.jsonl": row("i", "j", -1),
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range c.files {
				writeFile(t, dir, name, content)
			}
			train, dev, err := Load(mustTask(t, "mnli"), dir, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantTrain := []Example{
				{Idx: 0, Text1: "a", Text2: "b", Label: 0, HasLabel: true},
				{Idx: 1, Text1: "c", Text2: "d", Label: 1, HasLabel: true},
				{Idx: 2, Text1: "e", Text2: "f", Label: 2, HasLabel: true},
			}
			if !reflect.DeepEqual(train.Examples, wantTrain) || train.Format != FormatJSONL {
				t.Errorf("train %+v (%s)", train.Examples, train.Format)
			}
			if len(dev) != 2 || dev[0].Name != SplitValidationMatched || dev[1].Name != SplitValidationMismatched {
				t.Fatalf("dev splits %+v", dev)
			}
			if got := dev[1].Examples[0]; got.HasLabel || got.Text1 != "i" {
				t.Errorf("label -1 should load as unlabelled, got %+v", got)
			}
		})
	}
}

// TestJSONLMalformed: errors name file, line and field.
func TestJSONLMalformed(t *testing.T) {
	good := `{"sentence1": "a", "sentence2": "b", "label": 0, "idx": 0}` + "\n"
	cases := []struct {
		name, task, bad string
		column, msg     string
	}{
		{"not json", "rte", `{"sentence1": "a",` + "\n", "", "want one JSON object per line"},
		{"missing text", "rte", `{"sentence1": "a", "label": 0}` + "\n", "sentence2", "missing, want a string"},
		{"text not a string", "rte", `{"sentence1": "a", "sentence2": 3, "label": 0}` + "\n", "sentence2", "want a string, got a number"},
		{"missing label", "rte", `{"sentence1": "a", "sentence2": "b"}` + "\n", "label", "missing"},
		{"label out of range", "rte", `{"sentence1": "a", "sentence2": "b", "label": 2}` + "\n", "label", "want a class id 0..1"},
		{"fractional label", "rte", `{"sentence1": "a", "sentence2": "b", "label": 0.5}` + "\n", "label", "got 0.5"},
		{"unknown label name", "rte", `{"sentence1": "a", "sentence2": "b", "label": "neutral"}` + "\n", "label", `got "neutral"`},
		{"null label", "rte", `{"sentence1": "a", "sentence2": "b", "label": null}` + "\n", "label", "null"},
		{"stsb score out of range", "stsb", `{"sentence1": "a", "sentence2": "b", "label": 5.5}` + "\n", "label", "want an STS-B score in [0, 5], got 5.5"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "validation.jsonl", good+c.bad)
			_, err := ReadSplitFile(mustTask(t, c.task), SplitValidation, path, LoadOptions{})
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Line != 2 || pe.Column != c.column || !strings.Contains(err.Error(), path+":2") || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %v; want %s:2 column %q containing %q", err, path, c.column, c.msg)
			}
		})
	}
	// A label given as the class name is accepted (some exports write names).
	path := writeFile(t, t.TempDir(), "validation.jsonl", `{"sentence1": "a", "sentence2": "b", "label": "not_entailment"}`+"\n")
	sp, err := ReadSplitFile(mustTask(t, "rte"), SplitValidation, path, LoadOptions{})
	if err != nil || sp.Examples[0].Label != 1 {
		t.Fatalf("got %+v, %v", sp.Examples, err)
	}
}

// Rows for parquet files written by the tests, in nyu-mll/glue's schema.
type rteParquetRow struct {
	Sentence1 string `parquet:"sentence1"`
	Sentence2 string `parquet:"sentence2"`
	Label     int64  `parquet:"label"`
	Idx       int32  `parquet:"idx"`
}

// Variants: a nullable text, an int32 or string label, a wrong column name.
type rteNullableRow struct {
	Sentence1 string  `parquet:"sentence1"`
	Sentence2 *string `parquet:"sentence2,optional"`
	Label     int64   `parquet:"label"`
}

type rteInt32LabelRow struct {
	Sentence1 string `parquet:"sentence1"`
	Sentence2 string `parquet:"sentence2"`
	Label     int32  `parquet:"label"`
}

type rteStringLabelRow struct {
	Sentence1 string `parquet:"sentence1"`
	Sentence2 string `parquet:"sentence2"`
	Label     string `parquet:"label"`
}

type mnliNamedRow struct {
	Premise    string `parquet:"premise"`
	Hypothesis string `parquet:"hypothesis"`
	Label      int64  `parquet:"label"`
}

func writeParquet[T any](t *testing.T, rows []T, opts ...parquet.WriterOption) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "validation-00000-of-00001.parquet")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, opts...)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestParquetErrors: errors name the file, the row (0-based) and the column.
func TestParquetErrors(t *testing.T) {
	rte := mustTask(t, "rte")
	s := "b"
	swapped := `{"info":{"features":{"label":{"names":["not_entailment","entailment"],"_type":"ClassLabel"}}}}`
	cases := []struct {
		name   string
		path   string
		row    int
		column string
		msg    string
	}{
		{"label out of range",
			writeParquet(t, []rteParquetRow{{"a", "b", 0, 0}, {"a", "b", 1, 1}, {"a", "b", 7, 2}}),
			2, "label", "want a class id 0..1 (entailment, not_entailment) or -1 for unlabelled, got 7"},
		{"null text",
			writeParquet(t, []rteNullableRow{{"a", &s, 0}, {"a", nil, 1}}),
			1, "sentence2", "null, want a string"},
		{"unknown label name",
			writeParquet(t, []rteStringLabelRow{{"a", "b", "contradiction"}}),
			0, "label", `got "contradiction"`},
		{"missing column",
			writeParquet(t, []mnliNamedRow{{"a", "b", 0}}),
			-1, "sentence1", `no such column; rte needs "sentence1", "sentence2", "label", the file has "premise", "hypothesis", "label"`},
		{"class names in another order",
			writeParquet(t, []rteParquetRow{{"a", "b", 0, 0}}, parquet.KeyValueMetadata("huggingface", swapped)),
			-1, "label", `names the classes ["not_entailment" "entailment"], task rte expects ["entailment" "not_entailment"]`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadSplitFile(rte, SplitValidation, c.path, LoadOptions{})
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("want a *ParseError, got %v", err)
			}
			if pe.Path != c.path || pe.Row != c.row || pe.Column != c.column || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %v (row %d column %q); want row %d column %q containing %q", err, pe.Row, pe.Column, c.row, c.column, c.msg)
			}
			if c.row >= 0 && !strings.Contains(err.Error(), "row "+strconv.Itoa(c.row)+" (0-based)") {
				t.Errorf("error %q does not name the row", err)
			}
		})
	}
}

// TestParquetLabelKinds: int32 ids, string names, unlabelled -1 rows and
// SkipMalformed (the bad row keeps its position, later rows keep theirs).
func TestParquetLabelKinds(t *testing.T) {
	rte := mustTask(t, "rte")
	sp, err := ReadSplitFile(rte, SplitValidation, writeParquet(t, []rteInt32LabelRow{{"a", "b", 1}, {"c", "d", -1}}), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []Example{{Idx: 0, Text1: "a", Text2: "b", Label: 1, HasLabel: true}, {Idx: 1, Text1: "c", Text2: "d"}}
	if !reflect.DeepEqual(sp.Examples, want) {
		t.Errorf("int32 labels: got %+v", sp.Examples)
	}
	sp, err = ReadSplitFile(rte, SplitValidation, writeParquet(t, []rteStringLabelRow{{"a", "b", "not_entailment"}, {"c", "d", "entailment"}}), LoadOptions{})
	if err != nil || sp.Examples[0].Label != 1 || sp.Examples[1].Label != 0 {
		t.Errorf("string labels: got %+v, %v", sp.Examples, err)
	}
	path := writeParquet(t, []rteParquetRow{{"a", "b", 0, 0}, {"x", "y", 9, 1}, {"c", "d", 1, 2}})
	sp, err = ReadSplitFile(rte, SplitValidation, path, LoadOptions{SkipMalformed: true})
	if err != nil {
		t.Fatal(err)
	}
	want = []Example{{Idx: 0, Text1: "a", Text2: "b", Label: 0, HasLabel: true}, {Idx: 2, Text1: "c", Text2: "d", Label: 1, HasLabel: true}}
	if sp.Skipped != 1 || !reflect.DeepEqual(sp.Examples, want) || !strings.Contains(sp.SkipReasons[0], "row 1 (0-based)") {
		t.Errorf("skip: got %+v skipped %d reasons %q", sp.Examples, sp.Skipped, sp.SkipReasons)
	}
	sp, err = ReadSplitFile(rte, SplitValidation, path, LoadOptions{SkipMalformed: true, MaxExamples: 1})
	if err != nil || len(sp.Examples) != 1 {
		t.Errorf("MaxExamples: got %+v, %v", sp.Examples, err)
	}
}
