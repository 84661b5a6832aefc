package main

import (
	"bytes"
	"slices"
	"testing"

	"github.com/vectorfit/harness/reports"
)

// The same command with the same seed and -threads gives the same numbers to the bit,
// with 2 intra-op threads too: every loss, every evaluation's scores.
func TestSameSeedAndThreadsAreBitIdentical(t *testing.T) {
	trace := func() (losses []float64, scores []map[string]float64) {
		out := t.TempDir()
		if err := run(tinyRun(out, "-method", "vectorfit,lora", "-threads", "2"), &bytes.Buffer{}, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		recs, err := reports.ReadDir(out)
		if err != nil || len(recs) != 2 {
			t.Fatalf("%d records, %v", len(recs), err)
		}
		for _, r := range recs {
			for _, e := range r.History {
				losses = append(losses, e.Loss)
				scores = append(scores, e.Scores)
			}
		}
		return losses, scores
	}
	l1, s1 := trace()
	l2, s2 := trace()
	if len(l1) == 0 || !slices.Equal(l1, l2) {
		t.Errorf("losses %v, then %v", l1, l2)
	}
	for i := range s1 {
		for k, v := range s1[i] {
			if s2[i][k] != v {
				t.Errorf("evaluation %d: %s = %v, then %v", i, k, v, s2[i][k])
			}
		}
	}
}
