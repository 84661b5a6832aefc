package tokenize

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vectorfit/harness/internal/realmodel"
)

// sharedGLUE is the real GLUE data beside the repository (/work/shared/data/glue for a
// checkout at /work/main).
const sharedGLUE = "../../../shared/data/glue"

// wholeEncode is the reference: both texts tokenised whole, then truncated and joined,
// as Encode did before bounded.go (and as the tests against Hugging Face check).
func wholeEncode(t *testing.T, tk *Tokenizer, a, b string, pair bool, maxLen int) Encoding {
	t.Helper()
	first, err := tk.EncodePieces(a)
	if err != nil {
		t.Fatal(err)
	}
	var second *Pieces
	if pair {
		p, err := tk.EncodePieces(b)
		if err != nil {
			t.Fatal(err)
		}
		second = &p
	}
	tk.mu.Lock()
	defer tk.mu.Unlock()
	if maxLen > 0 {
		if first, second, err = tk.truncate(first, second, maxLen); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := tk.join(first, second)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

type namedTokenizer struct {
	name    string
	tk      *Tokenizer
	cutSafe bool // expected
}

func boundedTokenizers(t *testing.T) []namedTokenizer {
	t.Helper()
	out := []namedTokenizer{{"builtin", Builtin(), true}}
	for _, f := range []struct {
		path string
		safe bool
	}{
		{"testdata/unigram/tokenizer.json", true},
		{"testdata/unigram/spm/tokenizer.json", true},
		{"testdata/unigram/lower_punct.json", true},
		{"testdata/unigram/bytes.json", false}, // Replace(" ", "▁") and Metaspace without split
	} {
		tk, err := Load(f.path)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, namedTokenizer{f.path, tk, f.safe})
	}
	tk, err := Load(filepath.Join(realmodel.MiniLM(t), "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	return append(out, namedTokenizer{"all-MiniLM-L6-v2", tk, true})
}

func TestCutSafe(t *testing.T) {
	for _, nt := range boundedTokenizers(t) {
		if got := nt.tk.pipe != nil && nt.tk.pipe.cutSafe; got != nt.cutSafe {
			t.Errorf("%s: cutSafe %v, want %v", nt.name, got, nt.cutSafe)
		}
	}
}

// readTSVColumns returns the given columns (by header name) of every data row.
func readTSVColumns(t *testing.T, path string, cols ...string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("real GLUE data: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	var idx []int
	var out [][]string
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if idx == nil {
			for _, c := range cols {
				i := -1
				for j, h := range fields {
					if h == c {
						i = j
					}
				}
				if i < 0 {
					t.Fatalf("%s: no column %q", path, c)
				}
				idx = append(idx, i)
			}
			continue
		}
		row := make([]string, len(idx))
		for k, i := range idx {
			if i < len(fields) {
				row[k] = fields[i]
			}
		}
		out = append(out, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stressPrefixes makes the first cut tiny, so that even short texts are tokenised
// prefix by prefix and every growth step is exercised.
func stressPrefixes(t *testing.T) {
	perToken, minBytes := prefixBytesPerToken, prefixMinBytes
	prefixBytesPerToken, prefixMinBytes = 0, 1
	t.Cleanup(func() { prefixBytesPerToken, prefixMinBytes = perToken, minBytes })
}

// On every RTE and SST-2 dev example (and the MRPC dev pairs), Encode with a bounded
// prefix gives exactly what tokenising the whole texts and then truncating gives: ids,
// type ids, masks, byte offsets, for every tokenizer the harness ships, at max lengths
// 16, 17 (odd and even budgets) and 128, with the default first cut and a tiny one.
func TestBoundedEncodeMatchesWholeOnGLUE(t *testing.T) {
	type example struct{ a, b string }
	var pairs, singles []example
	for _, r := range readTSVColumns(t, filepath.Join(sharedGLUE, "RTE/dev.tsv"), "sentence1", "sentence2") {
		pairs = append(pairs, example{r[0], r[1]})
	}
	for _, r := range readTSVColumns(t, filepath.Join(sharedGLUE, "MRPC/dev.tsv"), "#1 String", "#2 String") {
		pairs = append(pairs, example{r[0], r[1]})
	}
	for _, r := range readTSVColumns(t, filepath.Join(sharedGLUE, "SST-2/dev.tsv"), "sentence") {
		singles = append(singles, example{r[0], ""})
	}
	if len(pairs) < 300 || len(singles) < 400 {
		t.Fatalf("%d pairs, %d singles: the dev files are shorter than expected", len(pairs), len(singles))
	}
	tokenizers := boundedTokenizers(t)
	for _, stress := range []bool{false, true} {
		if stress {
			stressPrefixes(t)
		}
		for _, nt := range tokenizers {
			cut := 0 // texts with a safe point before their end: the bounded path ran
			for _, maxLen := range []int{16, 17, 128} {
				for _, set := range []struct {
					pair bool
					exs  []example
				}{{true, pairs}, {false, singles}} {
					for _, ex := range set.exs {
						got, err := nt.tk.Encode(ex.a, ex.b, set.pair, maxLen)
						if err != nil {
							t.Fatal(err)
						}
						want := wholeEncode(t, nt.tk, ex.a, ex.b, set.pair, maxLen)
						if !reflect.DeepEqual(got, want) {
							t.Fatalf("%s, max %d, stress %v: %q / %q:\n got  %v %v\n want %v %v", nt.name, maxLen, stress, ex.a, ex.b, got.IDs, got.Offsets, want.IDs, want.Offsets)
						}
						first := prefixBytesPerToken*(maxLen+1) + prefixMinBytes
						if safePointFrom(ex.a, first) < len(ex.a) {
							cut++
						}
					}
				}
			}
			if nt.cutSafe && cut < 500 {
				t.Errorf("%s, stress %v: only %d texts were long enough to be cut", nt.name, stress, cut)
			}
		}
	}
}

// Random texts built from the characters the argument in bounded.go is about (spaces,
// tabs, newlines, letters, punctuation, combining marks, Prepend and CJK characters,
// control characters, added-token strings, runs of spaces) encode the same both ways.
func TestBoundedEncodeMatchesWholeRandom(t *testing.T) {
	stressPrefixes(t)
	parts := []string{
		"a", "b", "Word", "x1", "9", "the", "xyzzy", "Hello", "hello", " ", " ", " ", "  ", "   ",
		"\t", "\n", "\r\n", ".", ",", "``", "''", "-", "(", ")", "'", "\"", "[SEP]", "[CLS]",
		"[MASK]", "<sep2>", "é", "e\u0301", "\u0301", "\u0600", "\u0d4e", "中文", "한", "ﬁ",
		"™", "\u00a0", "\u3000", "\u200b", "\u00ad", "\x00", "\x07", "\xff", "ÿ", "İ", "ß",
		"🙂", "\U0001F1EB\U0001F1F7", "\u200d", "verylongwordwithoutanyspacesatallxxxxxxxxxxxxxxxxxxx",
	}
	rng := rand.New(rand.NewPCG(11, 7))
	text := func() string {
		var b strings.Builder
		for range rng.IntN(80) {
			b.WriteString(parts[rng.IntN(len(parts))])
		}
		return b.String()
	}
	for _, nt := range boundedTokenizers(t) {
		for i := range 1500 {
			a, b := text(), text()
			pair := i%2 == 0
			maxLen := []int{5, 8, 9, 16, 33}[i%5]
			got, err := nt.tk.Encode(a, b, pair, maxLen)
			if err != nil {
				t.Fatal(err)
			}
			want := wholeEncode(t, nt.tk, a, b, pair, maxLen)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s, max %d: %q / %q (pair %v):\n got  %v %v\n want %v %v", nt.name, maxLen, a, b, pair, got.IDs, got.Offsets, want.IDs, want.Offsets)
			}
			head, err := nt.tk.EncodePiecesHead(a, maxLen)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := nt.tk.EncodePieces(a)
			if err != nil {
				t.Fatal(err)
			}
			if w := whole.head(maxLen); !reflect.DeepEqual(head.IDs, w.IDs) || !reflect.DeepEqual(head.Offsets, w.Offsets) {
				t.Fatalf("%s: EncodePiecesHead(%q, %d) = %v, want %v", nt.name, a, maxLen, head, w)
			}
		}
	}
}

// Longest-first gives the odd token of an odd budget to the longer text (the second on
// ties), so when both texts of a pair are long the bounded path must still find which
// one is longer: pairs whose token counts differ by one either way, or are equal.
func TestBoundedPairOddBudgetLongerText(t *testing.T) {
	stressPrefixes(t)
	tk := Builtin()
	words := strings.Fields(strings.Repeat("the film is a charming and often affecting journey ", 40))
	for _, n := range []int{300, 301} {
		for _, d := range []int{-1, 0, 1} {
			a := strings.Join(words[:n], " ")
			b := strings.Join(words[:n+d], " ")
			for _, maxLen := range []int{16, 17} { // budgets 13 and 14
				got, err := tk.Encode(a, b, true, maxLen)
				if err != nil {
					t.Fatal(err)
				}
				want := wholeEncode(t, tk, a, b, true, maxLen)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%d vs %d words, max %d: types %v, want %v", n, n+d, maxLen, got.TypeIDs, want.TypeIDs)
				}
			}
		}
	}
}

// A 10 MB line (real SST-2 sentences repeated) is encoded in well under a second: only
// a prefix is tokenised (whole, it took 84 s and 5.1 GB). The encoding equals that of a
// 20 KB prefix encoded whole. (A pair of two such lines is not bounded at an odd
// budget: see truncatedPieces.)
func TestBoundedEncodeLongLine(t *testing.T) {
	var sb strings.Builder
	rows := readTSVColumns(t, filepath.Join(sharedGLUE, "SST-2/dev.tsv"), "sentence")
	for i := 0; sb.Len() < 10<<20; i++ {
		sb.WriteString(rows[i%len(rows)][0])
	}
	long := sb.String()
	for _, nt := range boundedTokenizers(t) {
		if !nt.cutSafe {
			continue
		}
		for _, c := range []struct {
			a, b string
			pair bool
		}{{long, "", false}, {long, "a short hypothesis .", true}, {"a short premise .", long, true}} {
			start := time.Now()
			got, err := nt.tk.Encode(c.a, c.b, c.pair, 128)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			if took > 2*time.Second {
				t.Errorf("%s: a %d-byte text took %v to encode at max length 128", nt.name, len(long), took)
			}
			t.Logf("%s: %d + %d bytes (pair %v) encoded in %v", nt.name, len(c.a), len(c.b), c.pair, took)
			short := func(s string) string { return s[:min(len(s), safePointFrom(s, 20000))] }
			if want := wholeEncode(t, nt.tk, short(c.a), short(c.b), c.pair, 128); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: the long line encodes as %v, its 20 KB prefix as %v", nt.name, got.IDs, want.IDs)
			}
		}
	}
}

func TestQuoteHead(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"abc", `"abc"`},
		{strings.Repeat("x", 80), `"` + strings.Repeat("x", 80) + `"`},
		{strings.Repeat("x", 79) + "é" + strings.Repeat("y", 100), `"` + strings.Repeat("x", 79) + `"... (181 bytes)`},
	} {
		if got := quoteHead(c.in); got != c.want {
			t.Errorf("quoteHead(%.20q...) = %s, want %s", c.in, got, c.want)
		}
	}
}
