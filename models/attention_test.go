package models

import (
	"math"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
)

// maxAbsDiff is max |a - b| over all elements.
func maxAbsDiff(a, b *ts.Tensor) float64 {
	return a.MustSub(b, false).MustAbs(true).MustMax(true).Float64Values(true)[0]
}

// paddingBias is transformers' additive mask for sequences of the given lengths:
// 0 on tokens, the float32 minimum on padding, batch × 1 × 1 × seq.
func paddingBias(lens []int64, seq int64) *ts.Tensor {
	v := make([]float32, int64(len(lens))*seq)
	for i, n := range lens {
		for j := n; j < seq; j++ {
			v[int64(i)*seq+j] = -math.MaxFloat32
		}
	}
	return ts.MustOfSlice(v).MustView([]int64{int64(len(lens)), 1, 1, seq}, true)
}

// leaves are fresh copies of xs that require grad.
func leaves(xs ...*ts.Tensor) []*ts.Tensor {
	out := make([]*ts.Tensor, len(xs))
	for i, x := range xs {
		out[i] = x.MustDetach(false)
		out[i].MustRequiresGrad_(true)
	}
	return out
}

// attentionGrads runs attend on fresh leaves of q, k, v and returns its output and the
// gradients of Σ out ⊙ g with respect to q, k and v.
func attentionGrads(attend func(q, k, v, bias *ts.Tensor, p float64) *ts.Tensor, q, k, v, bias, g *ts.Tensor, p float64) (*ts.Tensor, []*ts.Tensor) {
	in := leaves(q, k, v)
	out := attend(in[0], in[1], in[2], bias, p)
	loss := out.MustMul(g, false).MustSum(gotch.Float, true)
	loss.MustBackward()
	loss.MustDrop()
	grads := make([]*ts.Tensor, 3)
	for i, x := range in {
		grads[i] = x.MustGrad(false)
	}
	return out.MustDetach(true), grads
}

// The fused kernel computes transformers' eager attention: outputs and gradients with
// respect to q, k and v within 1e-5, with several heads, with and without a padding
// mask (one sequence of length 1, where only the first key is attended).
func TestFusedAttentionMatchesEager(t *testing.T) {
	torchx.ManualSeed(7)
	const b, heads, seq, d = 3, 4, 9, 12 // d not a power of 4: 1/√d is not exact in float32
	shape := []int64{b, heads, seq, d}
	q := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	k := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	v := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	g := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	for _, tc := range []struct {
		name string
		bias *ts.Tensor
	}{
		{"no mask", nil},
		{"padding mask", paddingBias([]int64{seq, 5, 1}, seq)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, wantGrads := attentionGrads(eagerAttention, q, k, v, tc.bias, g, 0)
			got, gotGrads := attentionGrads(fusedAttention, q, k, v, tc.bias, g, 0)
			if diff := maxAbsDiff(got, want); diff > 1e-5 {
				t.Errorf("output: max |fused - eager| = %g, want ≤ 1e-5", diff)
			} else {
				t.Logf("output: max |fused - eager| = %g", diff)
			}
			for i, name := range []string{"q", "k", "v"} {
				if diff := maxAbsDiff(gotGrads[i], wantGrads[i]); diff > 1e-5 {
					t.Errorf("d/d%s: max |fused - eager| = %g, want ≤ 1e-5", name, diff)
				} else {
					t.Logf("d/d%s: max |fused - eager| = %g", name, diff)
				}
			}
		})
	}
}

// A hand-computed case: with equal keys every attended token gets the same weight,
// so the output is the mean of the attended values; padding takes a token out.
func TestFusedAttentionHandComputed(t *testing.T) {
	q := ts.MustOfSlice([]float32{1, 2, -1, 0.5}).MustView([]int64{1, 1, 2, 2}, true)
	k := ts.MustOfSlice([]float32{3, 1, 3, 1}).MustView([]int64{1, 1, 2, 2}, true)
	v := ts.MustOfSlice([]float32{2, 4, 6, -8}).MustView([]int64{1, 1, 2, 2}, true)
	for _, tc := range []struct {
		name string
		bias *ts.Tensor
		want []float64 // both queries see the same
	}{
		{"both tokens", nil, []float64{4, -2}},
		{"second padded", paddingBias([]int64{1}, 2), []float64{2, 4}},
	} {
		got := fusedAttention(q, k, v, tc.bias, 0).Float64Values(true)
		for i, g := range got {
			if w := tc.want[i%2]; math.Abs(g-w) > 1e-6 {
				t.Errorf("%s: out[%d] = %g, want %g", tc.name, i, g, w)
			}
		}
	}
}

// Dropout in training: the fused kernel (libtorch's math path on the CPU) draws its
// mask with the same at::dropout as the eager path, so one seed gives the same step
// within rounding, and two runs with one seed give identical numbers.
func TestFusedAttentionDropoutSeeded(t *testing.T) {
	torchx.ManualSeed(3)
	const b, heads, seq, d = 2, 3, 8, 12
	shape := []int64{b, heads, seq, d}
	q := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	k := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	v := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	g := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	bias := paddingBias([]int64{seq, 3}, seq)
	run := func(attend func(q, k, v, bias *ts.Tensor, p float64) *ts.Tensor) (*ts.Tensor, []*ts.Tensor) {
		torchx.ManualSeed(11)
		return attentionGrads(attend, q, k, v, bias, g, 0.3)
	}
	first, firstGrads := run(fusedAttention)
	again, againGrads := run(fusedAttention)
	eager, eagerGrads := run(eagerAttention)
	noDrop, _ := attentionGrads(fusedAttention, q, k, v, bias, g, 0)
	if diff := maxAbsDiff(first, noDrop); diff < 1e-3 {
		t.Fatalf("dropout 0.3 changed the output by only %g: is dropout applied?", diff)
	}
	if diff := maxAbsDiff(first, again); diff != 0 {
		t.Errorf("same seed, two fused runs: outputs differ by %g, want identical", diff)
	}
	if diff := maxAbsDiff(first, eager); diff > 1e-5 {
		t.Errorf("same seed: max |fused - eager| = %g, want ≤ 1e-5 (the same dropout mask)", diff)
	} else {
		t.Logf("dropout 0.3, same seed: max |fused - eager| = %g", diff)
	}
	for i, name := range []string{"q", "k", "v"} {
		if diff := maxAbsDiff(firstGrads[i], againGrads[i]); diff != 0 {
			t.Errorf("same seed, two fused runs: d/d%s differ by %g, want identical", name, diff)
		}
		if diff := maxAbsDiff(firstGrads[i], eagerGrads[i]); diff > 1e-5 {
			t.Errorf("same seed: d/d%s max |fused - eager| = %g, want ≤ 1e-5", name, diff)
		}
	}
}

// Under CPU autocast the projections come out in bfloat16 and SelfAttention keeps the
// eager path (float32 softmax over the float32 mask, as transformers): it runs, and
// stays within bfloat16 rounding of the float32 result.
func TestSelfAttentionUnderAutocast(t *testing.T) {
	if err := torchx.CheckAutocast(false, gotch.BFloat16); err != nil {
		t.Skip(err)
	}
	runtime.LockOSThread() // autocast state is per OS thread
	defer runtime.UnlockOSThread()
	torchx.ManualSeed(5)
	const hidden, heads = 16, 4
	var params []Param
	var specs []LinearSpec
	for _, n := range []string{"q", "k", "v"} {
		params = append(params,
			Param{Name: n + ".weight", T: ts.MustRandn([]int64{hidden, hidden}, gotch.Float, gotch.CPU).MustMulScalar(ts.FloatScalar(0.25), true)},
			Param{Name: n + ".bias", T: ts.MustRandn([]int64{hidden}, gotch.Float, gotch.CPU)})
		specs = append(specs, LinearSpec{Name: n, Type: Query, Out: hidden, In: hidden, Bias: true})
	}
	w, err := NewWeights(params, specs)
	if err != nil {
		t.Fatal(err)
	}
	x := ts.MustRandn([]int64{2, 5, hidden}, gotch.Float, gotch.CPU)
	bias := paddingBias([]int64{5, 2}, 5)
	l := w.Linears()
	want := w.SelfAttention(l[0], l[1], l[2], x, bias, heads, 0)
	var got *ts.Tensor
	if err := torchx.Autocast(false, gotch.BFloat16, func() {
		got = w.SelfAttention(l[0], l[1], l[2], x, bias, heads, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if got.DType() != gotch.BFloat16 {
		t.Errorf("dtype under autocast = %v, want bfloat16", got.DType())
	}
	if diff := maxAbsDiff(got.MustTotype(gotch.Float, false), want); diff > 0.1 || math.IsNaN(diff) {
		t.Errorf("max |autocast - float32| = %g, want ≤ 0.1", diff)
	}
}

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil { // 1: RUSAGE_THREAD
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSelfAttention times one attention layer at BERT-base shapes (batch 8, 12
// heads, seq 128, head dim 64) on one thread: forward and backward in training, forward
// under no-grad in eval. Each iteration runs the eager and the fused path one after the
// other and reports the CPU time of each (the machine is shared: wall time and slow
// drifts would count other processes). Keep it short:
//
//	go test -run '^$' -bench SelfAttention -benchtime 20x ./models/
func BenchmarkSelfAttention(b *testing.B) {
	prev := torchx.NumThreads()
	torchx.SetNumThreads(1)
	defer torchx.SetNumThreads(prev)
	torchx.ManualSeed(1)
	shape := []int64{8, 12, 128, 64}
	q := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	k := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	v := ts.MustRandn(shape, gotch.Float, gotch.CPU)
	padded := paddingBias([]int64{128, 120, 100, 90, 80, 70, 60, 40}, 128)
	paths := []func(q, k, v, bias *ts.Tensor, p float64) *ts.Tensor{eagerAttention, fusedAttention}
	for _, mode := range []struct {
		name  string
		train bool
		p     float64
	}{{"train_p0.1", true, 0.1}, {"train_p0", true, 0}, {"eval", false, 0}} {
		for _, mask := range []struct {
			name string
			bias *ts.Tensor
		}{{"nomask", nil}, {"mask", padded}} {
			b.Run(mode.name+"/"+mask.name, func(b *testing.B) {
				runtime.LockOSThread() // libtorch runs on this thread: its CPU time is the ops'
				defer runtime.UnlockOSThread()
				in := leaves(q, k, v)
				var cpu [2]time.Duration
				for range b.N {
					for i, attend := range paths {
						start := threadCPU()
						if mode.train {
							loss := attend(in[0], in[1], in[2], mask.bias, mode.p).MustSum(gotch.Float, true)
							loss.MustBackward()
							loss.MustDrop()
						} else {
							NoGrad(func() { attend(in[0], in[1], in[2], mask.bias, 0).MustDrop() })
						}
						cpu[i] += threadCPU() - start
						for _, x := range in {
							x.ZeroGrad()
						}
					}
				}
				b.ReportMetric(float64(cpu[0])/1e6/float64(b.N), "eager-ms/op")
				b.ReportMetric(float64(cpu[1])/1e6/float64(b.N), "fused-ms/op")
			})
		}
	}
}

// Which path SelfAttention takes: fused only with a padding bias on float32 outside
// autocast.
func TestFusedDecision(t *testing.T) {
	runtime.LockOSThread() // autocast state is per OS thread
	defer runtime.UnlockOSThread()
	q := ts.MustZeros([]int64{1, 1, 2, 2}, gotch.Float, gotch.CPU)
	bias := paddingBias([]int64{1}, 2)
	for _, tc := range []struct {
		name     string
		q, bias  *ts.Tensor
		autocast bool
		want     bool
	}{
		{"float32 with padding", q, bias, false, true},
		{"no bias (ViT)", q, nil, false, false},
		{"bfloat16", q.MustTotype(gotch.BFloat16, false), bias, false, false},
		{"float32 under autocast", q, bias, true, false},
	} {
		var got bool
		decide := func() { got = fused(tc.q, tc.bias) }
		if tc.autocast {
			if err := torchx.Autocast(false, gotch.BFloat16, decide); err != nil {
				t.Skip(err)
			}
		} else {
			decide()
		}
		if got != tc.want {
			t.Errorf("%s: fused = %v, want %v", tc.name, got, tc.want)
		}
	}
}
