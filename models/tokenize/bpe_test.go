package tokenize

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// bpeFixture is testdata/bpe/encodings.json.gz (scripts/fixtures/gen_tokenize_bpe.py):
// tokenizers 0.19.1's encodings of real XSum and CNN text and edge strings with the
// byte-level BPE tokenizer testdata/decode/bytelevel.json (BART's layout).
type bpeFixture struct {
	Tokenizer string `json:"tokenizer"`
	DocChars  int    `json:"doc_chars"`
	Cases     []struct {
		Src        string `json:"src"`
		Text       string `json:"text"`        // edge strings only
		TextSHA256 string `json:"text_sha256"` // real text: read from ../shared/data
		// SHA256 digests the encoding (see encodingDigest) with no truncation ("0") and
		// truncated to 64 and 128 tokens.
		SHA256 map[string]string `json:"sha256"`
		// IDs and Offsets (as [start - previous end, end - start] byte pairs) are stored
		// for all but most documents, to show where an encoding differs.
		IDs     []int64 `json:"ids"`
		Offsets []int   `json:"offsets"`
		Decoded *string `json:"decoded"` // decode(ids, skip_special_tokens=True) when it is not the text
	} `json:"cases"`
}

// sharedData is the real data shipped beside the repository (shared/data/README.md).
var sharedData = filepath.Join("..", "..", "..", "shared", "data")

// bpeTexts rebuilds the generator's real texts, by src: XSum summaries and document
// heads (the first docChars characters, as Python slices), CNN articles (text before the
// first @highlight) and highlights (the @highlight paragraphs, stripped, joined by "\n").
func bpeTexts(t *testing.T, docChars int) map[string]string {
	t.Helper()
	if _, err := os.Stat(sharedData); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("shared data missing under CI: %v", err)
		}
		t.Skipf("shared data missing: %v", err)
	}
	texts := map[string]string{}
	path := filepath.Join(sharedData, "xsum", "test-sample.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for line := 1; sc.Scan(); line++ {
		var r struct{ ID, Document, Summary string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s:%d: %v", path, line, err)
		}
		src := "xsum/test-sample.jsonl#" + r.ID
		texts[src+" summary"] = r.Summary
		texts[fmt.Sprintf("%s document[:%d]", src, docChars)] = headRunes(r.Document, docChars)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(sharedData, "cnn_dailymail", "cnn_stories")
	names, err := filepath.Glob(filepath.Join(dir, "*.story"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no .story files in %s (%v)", dir, err)
	}
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		article, rest, _ := strings.Cut(string(raw), "@highlight")
		var highlights []string
		for _, p := range strings.Split(rest, "@highlight") {
			if p = strings.TrimSpace(p); p != "" {
				highlights = append(highlights, p)
			}
		}
		src := "cnn_dailymail/cnn_stories/" + filepath.Base(name)
		texts[src+" article"] = article
		texts[src+" highlights"] = strings.Join(highlights, "\n")
	}
	return texts
}

func headRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// encodingDigest is the generator's digest: sha256 of "id,id,...|start,end,...".
func encodingDigest(ids []int64, offsets [][2]int) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteByte('|')
	for i, o := range offsets {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d,%d", o[0], o[1])
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// fromDeltas turns the fixture's [start - previous end, end - start] pairs into offsets.
func fromDeltas(d []int) [][2]int {
	out := make([][2]int, len(d)/2)
	prev := 0
	for i := range out {
		out[i][0] = prev + d[2*i]
		out[i][1] = out[i][0] + d[2*i+1]
		prev = out[i][1]
	}
	return out
}

// firstDiff describes where got differs from want (ids and offsets).
func firstDiff(text string, gotIDs []int64, gotOff [][2]int, wantIDs []int64, wantOff [][2]int) string {
	n := min(len(gotIDs), len(wantIDs))
	for i := 0; i < n; i++ {
		if gotIDs[i] != wantIDs[i] || gotOff[i] != wantOff[i] {
			return fmt.Sprintf("token %d: got id %d at %v (%q), want id %d at %v (%q)", i,
				gotIDs[i], gotOff[i], span(text, gotOff[i]), wantIDs[i], wantOff[i], span(text, wantOff[i]))
		}
	}
	return fmt.Sprintf("got %d tokens, want %d", len(gotIDs), len(wantIDs))
}

func span(text string, o [2]int) string {
	if o[0] < 0 || o[1] > len(text) || o[0] > o[1] {
		return "<out of range>"
	}
	return text[o[0]:o[1]]
}

// TestBPEMatchesHuggingFace checks that a byte-level BPE tokenizer.json laid out as
// facebook/bart-* ship theirs encodes real XSum and CNN text and edge strings exactly as
// tokenizers 0.19.1 does (ids, byte offsets, special tokens), untruncated and truncated
// to 64 and 128 tokens, and that Decode(ids, true) gives tokenizers' decode.
func TestBPEMatchesHuggingFace(t *testing.T) {
	var fx bpeFixture
	if err := json.NewDecoder(openGzip(t, "testdata/bpe/encodings.json.gz")).Decode(&fx); err != nil {
		t.Fatalf("testdata/bpe/encodings.json.gz: %v", err)
	}
	if len(fx.Cases) < 1300 {
		t.Fatalf("fixture has %d cases, want at least 1300", len(fx.Cases))
	}
	tk := mustLoad(t, fx.Tokenizer)
	texts := bpeTexts(t, fx.DocChars)
	const bigMaxLen = 1 << 20
	bad := map[string]int{} // failing cases by kind (max length 0 and 1<<20: both untruncated), for the summary line
	report := func(kind, format string, args ...any) {
		if bad[kind]++; bad[kind] <= 5 {
			t.Errorf(kind+": "+format, args...)
		}
	}
	full := 0
	for _, c := range fx.Cases {
		text := c.Text
		if c.TextSHA256 != "" {
			var ok bool
			if text, ok = texts[c.Src]; !ok {
				t.Fatalf("%s: no such text in ../shared/data", c.Src)
			}
			if sum := sha256.Sum256([]byte(text)); hex.EncodeToString(sum[:]) != c.TextSHA256 {
				t.Fatalf("%s: the text rebuilt from ../shared/data differs from the generator's", c.Src)
			}
		}
		var wantIDs []int64
		var wantOff [][2]int
		if c.IDs != nil {
			full++
			wantIDs, wantOff = c.IDs, fromDeltas(c.Offsets)
			if len(wantOff) != len(wantIDs) {
				t.Fatalf("%s: %d ids, %d offsets", c.Src, len(wantIDs), len(wantOff))
			}
		}
		for _, maxLen := range []int{0, bigMaxLen, 64, 128} {
			key := strconv.Itoa(maxLen)
			if maxLen == bigMaxLen {
				key = "0"
			}
			want, ok := c.SHA256[key]
			if !ok {
				t.Fatalf("%s: no digest for max length %s", c.Src, key)
			}
			enc, err := tk.Encode(text, "", false, maxLen)
			if err != nil {
				report("error", "%s max %d: %v", c.Src, maxLen, err)
				continue
			}
			if encodingDigest(enc.IDs, enc.Offsets) == want {
				continue
			}
			where := "(no stored ids for this document)"
			if wantIDs != nil {
				w, o := wantIDs, wantOff
				if key != "0" && len(w) > maxLen { // tokenizers' truncation: a prefix and </s> (the generator checks it)
					w = append(append([]int64{}, w[:maxLen-1]...), 2)
					o = append(append([][2]int{}, o[:maxLen-1]...), [2]int{})
				}
				where = firstDiff(text, enc.IDs, enc.Offsets, w, o)
			}
			report(fmt.Sprintf("max length %d", maxLen), "%s: %s", c.Src, where)
		}
		enc, err := tk.Encode(text, "", false, 0)
		if err != nil {
			continue
		}
		wantText := text
		if c.Decoded != nil {
			wantText = *c.Decoded
		}
		if got, err := tk.Decode(enc.IDs, true); err != nil || got != wantText {
			report("decode", "%s: got %q (err %v), want %q", c.Src, got, err, wantText)
		}
	}
	if full < 300 {
		t.Errorf("fixture stores %d encodings in full, want at least 300", full)
	}
	kinds := make([]string, 0, len(bad))
	for k := range bad {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t.Errorf("%s: %d of %d cases differ from tokenizers", k, bad[k], len(fx.Cases))
	}
}
