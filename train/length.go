package train

import (
	"math/rand/v2"
	"slices"
)

// LengthSortedBatches is an evaluation order: the indices 0..len(lengths)-1 sorted
// by length, longest first, ties in index order (a stable sort, so the order is
// deterministic), cut into batches of size (the last may be shorter). Padding each
// batch to its longest sequence then pads almost nothing. Evaluation scatters the
// predictions back to index order, so the scores are those of unsorted batches.
func LengthSortedBatches(lengths []int, size int) [][]int {
	size = max(size, 1)
	order := make([]int, len(lengths))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return lengths[b] - lengths[a] })
	return cut(order, size)
}

// LengthGroupedBatches is a training epoch's order under -group-by-length, as
// transformers' LengthGroupedSampler (get_length_grouped_indices, 4.44.2): a random
// permutation, cut into megabatches of mult × size examples with mult = min(n /
// (4 size), 50) and at least 1, each megabatch sorted by length descending (stable:
// ties keep the permutation's order), then the first element of the megabatch with
// the longest example swapped with the first element of the first megabatch (the
// first one on ties), so the longest batch comes first and runs out of memory early
// if anything does. The result is cut into batches of size. The permutation comes
// from (seed, epoch) alone, as ShuffledBatches', so a resumed run sees the same
// batches; it is not torch.randperm's, so the order is not the Trainer's own.
func LengthGroupedBatches(lengths []int, size int, seed uint64, epoch int) [][]int {
	size = max(size, 1)
	order := rand.New(rand.NewPCG(seed, uint64(epoch))).Perm(len(lengths))
	return cut(groupByLength(order, lengths, size), size)
}

// groupByLength reorders the permutation order in place as get_length_grouped_indices
// does with torch.randperm's, and returns it.
func groupByLength(order, lengths []int, size int) []int {
	n := len(order)
	if n == 0 {
		return order
	}
	mega := max(min(n/(size*4), 50), 1) * size
	var megabatches [][]int // slices of order, sorted in place
	for start := 0; start < n; start += mega {
		mb := order[start:min(start+mega, n)]
		slices.SortStableFunc(mb, func(a, b int) int { return lengths[b] - lengths[a] })
		megabatches = append(megabatches, mb)
	}
	longest := 0 // the megabatch whose first (longest) element is the longest overall
	for i, mb := range megabatches {
		if lengths[mb[0]] > lengths[megabatches[longest][0]] {
			longest = i
		}
	}
	megabatches[0][0], megabatches[longest][0] = megabatches[longest][0], megabatches[0][0]
	return order
}

// cut splits order into consecutive batches of size, the last possibly shorter.
func cut(order []int, size int) [][]int {
	var out [][]int
	for start := 0; start < len(order); start += size {
		out = append(out, order[start:min(start+size, len(order))])
	}
	return out
}
