package squad

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vectorfit/harness/models/tokenize"
)

type featureCase struct {
	File    string `json:"file"`
	ID      string `json:"id"`
	MaxLen  int    `json:"max_len"`
	Stride  int    `json:"stride"`
	Windows []struct {
		InputIDs []int64   `json:"input_ids"`
		TypeIDs  []int64   `json:"type_ids"`
		Offsets  []*[2]int `json:"offsets"`
		CLS      int       `json:"cls"`
		Start    int       `json:"start"`
		End      int       `json:"end"`
	} `json:"windows"`
}

// Windows, ids, character offsets and targets as Hugging Face's fast tokenizer
// makes them for run_qa (scripts/fixtures/gen_squad_features.py), on real SQuAD
// questions with non-ASCII contexts, unanswerable questions and short max lengths
// that force many windows.
func TestBuildFeaturesMatchesHuggingFace(t *testing.T) {
	raw, err := os.ReadFile("testdata/features.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []featureCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	data := map[string]map[string]Example{}
	for _, f := range []string{"dev-v1.1.subset.json", "dev-v2.0.subset.json"} {
		ds := mustLoad(t, filepath.Join(sharedSQuAD, f), "")
		data[f] = map[string]Example{}
		for _, ex := range ds.Examples {
			data[f][ex.ID] = ex
		}
	}
	tok := tokenize.Builtin()
	windows, multi := 0, 0
	for _, c := range cases {
		ex, ok := data[c.File][c.ID]
		if !ok {
			t.Fatalf("%s: no question %s", c.File, c.ID)
		}
		got, err := BuildFeatures([]Example{ex}, tok, c.MaxLen, c.Stride, 0)
		if err != nil {
			t.Fatal(err)
		}
		name := c.ID + " " + filepath.Base(c.File)
		if len(got) != len(c.Windows) {
			t.Errorf("%s (max %d stride %d): %d windows, want %d", name, c.MaxLen, c.Stride, len(got), len(c.Windows))
			continue
		}
		windows += len(got)
		if len(got) > 1 {
			multi++
		}
		for i, w := range c.Windows {
			f := got[i]
			if !slices.Equal(f.InputIDs, w.InputIDs) || !slices.Equal(f.TypeIDs, w.TypeIDs) {
				t.Errorf("%s window %d: ids\n got  %v %v\n want %v %v", name, i, f.InputIDs, f.TypeIDs, w.InputIDs, w.TypeIDs)
				continue
			}
			for k, o := range w.Offsets {
				want := [2]int{-1, -1}
				if o != nil {
					want = *o
				}
				if f.Offsets[k] != want {
					t.Errorf("%s window %d token %d: offsets %v, want %v", name, i, k, f.Offsets[k], want)
					break
				}
			}
			if f.CLS != w.CLS || f.StartPos != w.Start || f.EndPos != w.End {
				t.Errorf("%s window %d: cls %d start %d end %d, want %d %d %d", name, i, f.CLS, f.StartPos, f.EndPos, w.CLS, w.Start, w.End)
			}
			if f.ExampleID != ex.ID || f.Example != 0 {
				t.Errorf("%s window %d: example %d %q", name, i, f.Example, f.ExampleID)
			}
		}
	}
	if windows < 100 || multi < 10 {
		t.Errorf("fixture too weak: %d windows, %d multi-window cases", windows, multi)
	}
}

// JoinPair lays out a pair as the tokenizer's own pair encoding does.
func TestJoinPairMatchesEncode(t *testing.T) {
	tok := tokenize.Builtin()
	for _, c := range [][2]string{{"Who ruled?", "The Normans ruled Normandy."}, {"Où?", "À Paris, café."}, {"", "x"}} {
		a, err := tok.EncodePieces(c[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := tok.EncodePieces(c[1])
		if err != nil {
			t.Fatal(err)
		}
		got, err := tok.JoinPair(a, b)
		if err != nil {
			t.Fatal(err)
		}
		seq := got.SequenceIDs
		want, err := tok.Encode(c[0], c[1], true, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.IDs, want.IDs) || !slices.Equal(got.TypeIDs, want.TypeIDs) || !slices.Equal(got.Offsets, want.Offsets) {
			t.Errorf("%q: JoinPair %v %v %v, Encode %v %v %v", c, got.IDs, got.TypeIDs, got.Offsets, want.IDs, want.TypeIDs, want.Offsets)
		}
		wantSeq := []int{-1}
		for range a.IDs {
			wantSeq = append(wantSeq, 0)
		}
		wantSeq = append(wantSeq, -1)
		for range b.IDs {
			wantSeq = append(wantSeq, 1)
		}
		wantSeq = append(wantSeq, -1)
		if !slices.Equal(seq, wantSeq) {
			t.Errorf("%q: sequence ids %v, want %v", c, seq, wantSeq)
		}
	}
}

// Worked by hand: a context of 10 one-token words, windows of 4 context tokens
// overlapping by 1 start every 3 tokens: [0,4) [3,7) [6,10).
func TestBuildFeaturesWindowsWorked(t *testing.T) {
	tok := tokenize.Builtin()
	ctx := "red blue green three four cat dog man film movie"
	q, err := tok.EncodePieces("which")
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Fields(ctx)
	ex := Example{ID: "w", Question: "  which", Context: ctx, Answers: []Answer{{"three four", strings.Index(ctx, "three")}}}
	c, err := tok.EncodePieces(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.IDs) != len(words) || len(q.IDs) != 1 {
		t.Fatalf("the builtin vocabulary splits %q into %d tokens and %q into %d; the test assumes one per word", ctx, len(c.IDs), "which", len(q.IDs))
	}
	// 1 question token + 3 special + 4 context = 8.
	fs, err := BuildFeatures([]Example{ex}, tok, 8, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 {
		t.Fatalf("%d windows, want 3", len(fs))
	}
	for i, w := range [][2]int{{0, 4}, {3, 7}, {6, 10}} {
		f := fs[i]
		if len(f.InputIDs) != 8 || !slices.Equal(f.InputIDs[3:7], c.IDs[w[0]:w[1]]) {
			t.Errorf("window %d: ids %v, want context tokens %v", i, f.InputIDs, c.IDs[w[0]:w[1]])
		}
		first := f.Offsets[3]
		if wantStart := strings.Index(ctx, words[w[0]]); first[0] != wantStart {
			t.Errorf("window %d: first context offset %v, want start %d", i, first, wantStart)
		}
		if f.Offsets[0] != [2]int{-1, -1} || f.Offsets[1] != [2]int{-1, -1} || f.Offsets[7] != [2]int{-1, -1} {
			t.Errorf("window %d: question/special offsets %v", i, f.Offsets)
		}
	}
	// "three four" is tokens 3 and 4: only window [3,7) holds both (positions 3, 4
	// after "[CLS] which [SEP]"); window [0,4) holds "three" alone, so it targets CLS.
	for i, want := range [][2]int{{0, 0}, {3, 4}, {0, 0}} {
		if fs[i].StartPos != want[0] || fs[i].EndPos != want[1] {
			t.Errorf("window %d: targets %d %d, want %v", i, fs[i].StartPos, fs[i].EndPos, want)
		}
	}
	// maxQueryLen cuts the question; a stride as large as the window is an error.
	long := ex
	long.Question = "which one which one which one"
	fs, err = BuildFeatures([]Example{long}, tok, 8, 1, 1)
	if err != nil || len(fs) != 3 {
		t.Fatalf("max query length 1: %d windows, err %v", len(fs), err)
	}
	if _, err := BuildFeatures([]Example{ex}, tok, 8, 4, 0); err == nil || !strings.Contains(err.Error(), `question "w"`) {
		t.Errorf("stride 4 with 4-token windows: err %v, want one naming the question", err)
	}
	if _, err := BuildFeatures([]Example{long}, tok, 8, 1, 0); err == nil {
		t.Error("a question that fills the window: no error")
	}
}

// Character offsets are code points, as answer_start: "é" is two bytes, one char.
func TestCharOffsets(t *testing.T) {
	text := "café über 北京"
	got := charOffsets(text, [][2]int{{0, 5}, {6, 11}, {12, 18}, {15, 18}})
	want := [][2]int{{0, 4}, {5, 9}, {10, 12}, {11, 12}}
	if !slices.Equal(got, want) {
		t.Errorf("charOffsets = %v, want %v", got, want)
	}
}
