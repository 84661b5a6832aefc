package plan

import (
	"fmt"
	"math"
	"testing"
)

// Costs computed by hand from the documented model.
func TestCost(t *testing.T) {
	for _, c := range []struct {
		in   CostInput
		want float64
	}{
		// 10 epochs × ceil(64/8) = 80 steps, capped at 8; tiny 0.01 × glue 1.
		{CostInput{Suite: "glue", Task: "rte", Model: "tiny", Data: "synthetic", SyntheticTrain: 64, Batch: 8, MaxSteps: 8}, (8 + 50) * 0.01},
		// SST-2's 67,349 sentences, batch 32: 2,105 steps an epoch × 10; DeBERTaV3-base 1.84.
		{CostInput{Suite: "glue", Task: "sst2", Model: "microsoft/deberta-v3-base", Data: "nyu-mll/glue"}, (21050 + 50) * 1.84},
		// The same at max length 256: twice the step cost.
		{CostInput{Suite: "glue", Task: "sst2", Model: "microsoft/deberta-v3-base", MaxLen: 256}, (21050 + 50) * 1.84 * 2},
		// max-train 8000, 1 epoch, batch 32 × grad-accum 2: 125 steps; MiniLM 0.23.
		{CostInput{Suite: "glue", Task: "sst2", Model: "/x/all-MiniLM-L6-v2", MaxTrain: 8000, Epochs: 1, Batch: 32, GradAccum: 2}, (125 + 50) * 0.23},
		// DreamBooth: 800 steps by default; diffusion 8 × tiny 0.01.
		{CostInput{Suite: "diffusion", Task: "dreambooth", Model: "tiny", Data: "synthetic"}, (800 + 50) * 8 * 0.01},
		// An unknown task and model: 10,000 examples, 10 epochs of batch 64 (vision): 1,570 steps.
		{CostInput{Suite: "vision", Task: "mine", Model: "./my-vit"}, (1570 + 50) * 1},
	} {
		if got := Cost(c.in); math.Abs(got-c.want) > 1e-9*c.want {
			t.Errorf("%+v: cost %g, want %g", c.in, got, c.want)
		}
	}
}

func TestParseShard(t *testing.T) {
	if i, n, err := ParseShard("2/5"); err != nil || i != 2 || n != 5 {
		t.Errorf("2/5: %d %d %v", i, n, err)
	}
	for _, bad := range []string{"0/2", "3/2", "1/0", "1", "a/b", "1/2/3", "-1/2", ""} {
		if _, _, err := ParseShard(bad); err == nil {
			t.Errorf("%q: no error", bad)
		} else if want := fmt.Sprintf("-shard %q: want i/n with 1 ≤ i ≤ n, e.g. 1/4", bad); err.Error() != want {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func runsOf(costs ...float64) []Run {
	out := make([]Run, len(costs))
	for i, c := range costs {
		out[i] = Run{Index: i, Cost: c}
	}
	return out
}

func indices(rs []Run) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.Index)
	}
	return out
}

// LPT by hand: 5→A, 4→B, 3→B (4<5), 3→A (7>5... A has 5 < B's 7), 2→B (8 vs 7), 1→A or
// B at 9 each: the lower shard, A.
func TestShardByHand(t *testing.T) {
	runs := runsOf(5, 4, 3, 3, 2, 1)
	// Loads: A=5, B=4, B=7, A=8, B=9, A=9.
	if got := fmt.Sprint(indices(Shard(runs, 1, 2)), indices(Shard(runs, 2, 2))); got != "[0 3 5] [1 2 4]" {
		t.Errorf("shards %s, want [0 3 5] [1 2 4]", got)
	}
	// Ties in cost go in plan order: four equal runs on 2 shards alternate.
	eq := runsOf(1, 1, 1, 1)
	if got := fmt.Sprint(indices(Shard(eq, 1, 2)), indices(Shard(eq, 2, 2))); got != "[0 2] [1 3]" {
		t.Errorf("equal costs: %s", got)
	}
}

// Every run is in exactly one shard, in plan order, and no shard exceeds the mean load
// by more than the largest run (the greedy bound), for n = 1..5.
func TestShardCoverageAndBalance(t *testing.T) {
	var costs []float64
	for i := range 37 {
		costs = append(costs, float64((i*7919)%23+1)*math.Pow(1.3, float64(i%5)))
	}
	runs := runsOf(costs...)
	total, largest := 0.0, 0.0
	for _, c := range costs {
		total += c
		largest = max(largest, c)
	}
	for n := 1; n <= 5; n++ {
		seen := make([]int, len(runs))
		for i := 1; i <= n; i++ {
			mine := Shard(runs, i, n)
			load, prev := 0.0, -1
			for _, r := range mine {
				seen[r.Index]++
				load += r.Cost
				if r.Index <= prev {
					t.Errorf("n=%d shard %d: not in plan order", n, i)
				}
				prev = r.Index
			}
			if load > total/float64(n)+largest {
				t.Errorf("n=%d shard %d: load %.1f, mean %.1f, largest run %.1f", n, i, load, total/float64(n), largest)
			}
			if n > 1 && load > total/float64(n)*1.25 {
				t.Errorf("n=%d shard %d: load %.1f is %.0f%% over the mean", n, i, load, 100*(load*float64(n)/total-1))
			}
		}
		for k, c := range seen {
			if c != 1 {
				t.Errorf("n=%d: run %d is in %d shards", n, k, c)
			}
		}
	}
}
