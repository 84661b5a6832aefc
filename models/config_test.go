package models

import (
	"errors"
	"testing"
)

func TestNumLabelsFrom(t *testing.T) {
	id2label := map[string]string{"0": "a", "1": "b", "2": "c"}
	for _, tc := range []struct {
		n    int64
		m    map[string]string
		want int64
	}{{5, id2label, 5}, {0, id2label, 3}, {0, nil, 2}, {1, nil, 1}} {
		if got := NumLabelsFrom(tc.n, tc.m); got != tc.want {
			t.Errorf("NumLabelsFrom(%d, %v) = %d, want %d", tc.n, tc.m, got, tc.want)
		}
	}
}

func TestCheckPositiveAndHeads(t *testing.T) {
	errs := CheckPositive(Field{Key: "a", V: 1}, Field{Key: "b", V: 0}, Field{Key: "c", V: -3})
	if got := errors.Join(errs...).Error(); got != "b = 0, want > 0\nc = -3, want > 0" {
		t.Errorf("CheckPositive: %q", got)
	}
	if err := CheckHeads(64, 4); err != nil {
		t.Errorf("CheckHeads(64, 4) = %v", err)
	}
	if err := CheckHeads(64, 0); err != nil {
		t.Errorf("CheckHeads(64, 0) = %v (a zero head count is CheckPositive's to report)", err)
	}
	if err := CheckHeads(65, 4); err == nil || err.Error() != "hidden_size 65 is not a multiple of num_attention_heads 4" {
		t.Errorf("CheckHeads(65, 4) = %v", err)
	}
}
