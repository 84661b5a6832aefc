package train

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestLengthSortedBatches(t *testing.T) {
	for _, c := range []struct {
		name    string
		lengths []int
		size    int
		want    [][]int
	}{
		{"empty", nil, 4, nil},
		{"one", []int{7}, 4, [][]int{{0}}},
		// Lengths 3 5 5 1 5 2 9: 9 first, then the three 5s in index order (1, 2, 4).
		{"ties in index order, size not dividing n", []int{3, 5, 5, 1, 5, 2, 9}, 3, [][]int{{6, 1, 2}, {4, 0, 5}, {3}}},
		{"size dividing n", []int{1, 2, 3, 4}, 2, [][]int{{3, 2}, {1, 0}}},
		{"all equal keep file order", []int{4, 4, 4, 4, 4}, 2, [][]int{{0, 1}, {2, 3}, {4}}},
		{"size larger than n", []int{2, 8, 5}, 10, [][]int{{1, 2, 0}}},
		{"size 0 taken as 1", []int{2, 8}, 0, [][]int{{1}, {0}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := LengthSortedBatches(c.lengths, c.size); !reflect.DeepEqual(got, c.want) {
				t.Errorf("LengthSortedBatches(%v, %d) = %v, want %v", c.lengths, c.size, got, c.want)
			}
		})
	}
}

// TestGroupByLengthMatchesTransformers feeds groupByLength the permutations
// torch.randperm drew in transformers 4.44.2's get_length_grouped_indices and
// compares with that function's output (torch.Generator().manual_seed(7) and (3)):
//
//	get_length_grouped_indices(lengths, batch_size, generator=g)
func TestGroupByLengthMatchesTransformers(t *testing.T) {
	for _, c := range []struct {
		name          string
		lengths, perm []int
		size          int
		want          []int
	}{
		{
			// n 23, batch 2: mult min(23/8, 50) = 2, megabatches of 4, the last of 3;
			// the first megabatch already holds a longest (9), so no swap.
			name:    "no swap, ties",
			lengths: []int{5, 9, 3, 9, 7, 2, 9, 4, 6, 1, 8, 3, 5, 7, 2, 9, 6, 4, 3, 8, 5, 1, 7},
			perm:    []int{10, 15, 1, 9, 11, 20, 7, 14, 21, 12, 5, 18, 17, 0, 16, 3, 6, 8, 2, 4, 13, 19, 22},
			size:    2,
			want:    []int{15, 1, 10, 9, 20, 7, 11, 14, 12, 18, 5, 21, 3, 16, 0, 17, 6, 4, 8, 2, 19, 13, 22},
		},
		{
			// n 10, batch 3: mult 0 → 1, megabatches [6 0 3] [7 8 5] [1 9 2] [4]; sorted
			// [3 0 6] [7 8 5] [1 9 2] [4]; the maxima 3 9 5 9 tie, the first (megabatch
			// 1) wins, and only the first elements swap: 7 ↔ 3.
			name:    "swap with the first of tied maxima",
			lengths: []int{2, 5, 1, 3, 9, 4, 1, 9, 6, 5},
			perm:    []int{6, 0, 3, 7, 8, 5, 1, 9, 2, 4},
			size:    3,
			want:    []int{7, 0, 6, 3, 8, 5, 1, 9, 2, 4},
		},
		{"empty", nil, nil, 4, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := groupByLength(slices.Clone(c.perm), c.lengths, c.size)
			if len(got) == 0 && len(c.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("groupByLength = %v\nwant (transformers) %v", got, c.want)
			}
		})
	}
}

func TestLengthGroupedBatches(t *testing.T) {
	// 237 examples, batch 4: mult min(237/16, 50) = 14, megabatches of 56, the last of 13.
	r := rand.New(rand.NewPCG(99, 1))
	lengths := make([]int, 237)
	for i := range lengths {
		lengths[i] = 1 + r.IntN(128)
	}
	lengths[200] = 500 // the longest, in some later megabatch of most permutations
	const size = 4
	a := LengthGroupedBatches(lengths, size, 5, 0)

	if len(a) != 60 || len(a[59]) != 1 {
		t.Fatalf("%d batches, the last of %d; want 60, the last of 1", len(a), len(a[len(a)-1]))
	}
	if !slices.Contains(a[0], 200) || a[0][0] != 200 {
		t.Errorf("first batch %v does not start with the longest example 200", a[0])
	}
	seen := make([]int, len(lengths))
	for _, b := range a {
		for _, i := range b {
			seen[i]++
		}
	}
	for i, k := range seen {
		if k != 1 {
			t.Fatalf("example %d appears %d times", i, k)
		}
	}
	// Within each megabatch of 56 (14 batches) but the first element, lengths descend.
	flat := slices.Concat(a...)
	for start := 0; start < len(flat); start += 56 {
		mb := flat[start+1 : min(start+56, len(flat))]
		for j := 1; j < len(mb); j++ {
			if lengths[mb[j]] > lengths[mb[j-1]] {
				t.Fatalf("megabatch at %d not sorted by length at %d: %d after %d", start, j, lengths[mb[j]], lengths[mb[j-1]])
			}
		}
	}
	// The permutation is ShuffledBatches': the same multiset in each megabatch.
	perm := slices.Concat(ShuffledBatches(len(lengths), len(lengths), 5, 0)...)
	for start := 56; start < len(flat); start += 56 { // megabatch 0 may have swapped one element
		got, want := slices.Clone(flat[start:min(start+56, len(flat))]), slices.Clone(perm[start:min(start+56, len(perm))])
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) && !slices.Contains(want, 200) {
			t.Fatalf("megabatch at %d holds other examples than the permutation's", start)
		}
	}

	if b := LengthGroupedBatches(lengths, size, 5, 0); !reflect.DeepEqual(a, b) {
		t.Error("same seed and epoch gave another order")
	}
	if b := LengthGroupedBatches(lengths, size, 5, 1); reflect.DeepEqual(a, b) {
		t.Error("another epoch gave the same order")
	}
	if b := LengthGroupedBatches(lengths, size, 6, 0); reflect.DeepEqual(a, b) {
		t.Error("another seed gave the same order")
	}
}
