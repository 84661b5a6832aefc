package models

import (
	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// PadBatch builds a batch of token sequences padded to the longest one (dynamic
// padding): ids filled with padID, token types with 0, the attention mask 1 on real
// tokens. ids[i] and types[i] have equal lengths. The tensors are placed on dev.
//
// This is the one place where the harness pads: the sequences are unpadded encodings
// (tokenize.Encoding never holds padding, whatever the tokenizer.json asks), so their
// lengths are the real tokens and the mask is right.
func PadBatch(ids, types [][]int64, padID int64, dev gotch.Device) Batch {
	longest := 0
	for _, s := range ids {
		longest = max(longest, len(s))
	}
	n := len(ids) * longest
	flatIDs, flatTypes, mask := make([]int64, n), make([]int64, n), make([]int64, n)
	for i := range ids {
		row := flatIDs[i*longest : (i+1)*longest]
		for k := range row {
			row[k] = padID
		}
		copy(row, ids[i])
		copy(flatTypes[i*longest:], types[i])
		for k := range ids[i] {
			mask[i*longest+k] = 1
		}
	}
	shape := []int64{int64(len(ids)), int64(longest)}
	tensor := func(x []int64) *ts.Tensor {
		t := ts.MustOfSlice(x).MustView(shape, true)
		if dev != gotch.CPU {
			t = t.MustTo(dev, true)
		}
		return t
	}
	return Batch{InputIDs: tensor(flatIDs), TokenTypeIDs: tensor(flatTypes), AttentionMask: tensor(mask)}
}
