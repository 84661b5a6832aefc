package train

import "math/rand/v2"

// ShuffledBatches is an epoch's data order: a permutation of the n training examples
// drawn from (seed, epoch) alone, cut into batches of size (the last may be shorter).
// Depending on nothing else is what lets a resumed run see the batches an
// uninterrupted one would (Task.Batches).
func ShuffledBatches(n, size int, seed uint64, epoch int) [][]int {
	return cut(rand.New(rand.NewPCG(seed, uint64(epoch))).Perm(n), size)
}
