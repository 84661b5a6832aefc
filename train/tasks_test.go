package train

import (
	"errors"
	"math"
	"math/rand/v2"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/torchx"
)

// logTask is logistic regression on synthetic, linearly separable-with-noise data,
// with input dropout so that libtorch's RNG (and so Config.Seed) matters.
type logTask struct {
	x, y, devX, devY *ts.Tensor
	w, b             *ts.Tensor
	batch            int
	dropout          float64
	shuffleSeed      uint64
	training         bool
}

const logDim = 8

func newLogTask(dropout float64) *logTask {
	rng := rand.New(rand.NewPCG(1, 2)) // the data are the same for every run
	trueW := make([]float64, logDim)
	for i := range trueW {
		trueW[i] = rng.NormFloat64()
	}
	x, y := separable(rng, trueW, 512)
	devX, devY := separable(rng, trueW, 256)
	w := ts.MustZeros([]int64{logDim}, gotch.Float, gotch.CPU)
	w.MustRequiresGrad_(true)
	b := ts.MustZeros([]int64{1}, gotch.Float, gotch.CPU)
	b.MustRequiresGrad_(true)
	return &logTask{x: x, y: y, devX: devX, devY: devY, w: w, b: b, batch: 32, dropout: dropout, shuffleSeed: 3}
}

// separable draws n points x ~ N(0, I) labelled 1 where x·w + noise > 0.
func separable(rng *rand.Rand, w []float64, n int) (x, y *ts.Tensor) {
	xs := make([]float32, n*len(w))
	ys := make([]float32, n)
	for i := range n {
		dot := 0.3 * rng.NormFloat64()
		for j := range w {
			v := rng.NormFloat64()
			xs[i*len(w)+j] = float32(v)
			dot += v * w[j]
		}
		if dot > 0 {
			ys[i] = 1
		}
	}
	return ts.MustOfSlice(xs).MustView([]int64{int64(n), int64(len(w))}, true), ts.MustOfSlice(ys)
}

func (t *logTask) params() []Param {
	return []Param{{Name: "w", T: t.w}, {Name: "b", T: t.b, NoDecay: true}}
}

func (t *logTask) Batches(epoch int) ([]any, error) {
	perm := rand.New(rand.NewPCG(t.shuffleSeed, uint64(epoch))).Perm(int(t.y.MustSize()[0]))
	var out []any
	for i := 0; i < len(perm); i += t.batch {
		idx := make([]int64, 0, t.batch)
		for _, p := range perm[i:min(i+t.batch, len(perm))] {
			idx = append(idx, int64(p))
		}
		out = append(out, idx)
	}
	return out, nil
}

func (t *logTask) logits(x *ts.Tensor) *ts.Tensor {
	if t.training && t.dropout > 0 {
		x = ts.MustDropout(x, t.dropout, true)
		defer x.MustDrop()
	}
	return x.MustMv(t.w, false).MustAdd(t.b, true)
}

func (t *logTask) Loss(batch any) (*ts.Tensor, error) {
	idx := ts.MustOfSlice(batch.([]int64))
	defer idx.MustDrop()
	x := t.x.MustIndexSelect(0, idx, false)
	defer x.MustDrop()
	y := t.y.MustIndexSelect(0, idx, false)
	defer y.MustDrop()
	return t.logits(x).MustBinaryCrossEntropyWithLogits(y, ts.None, ts.None, 1, true), nil
}

func (t *logTask) Evaluate() (Scores, error) {
	logits := t.logits(t.devX)
	defer logits.MustDrop()
	loss := logits.MustBinaryCrossEntropyWithLogits(t.devY, ts.None, ts.None, 1, false)
	defer loss.MustDrop()
	z, y := logits.Float64Values(), t.devY.Float64Values()
	correct := 0
	for i := range z {
		if (z[i] > 0) == (y[i] == 1) {
			correct++
		}
	}
	return Scores{Main: "accuracy", Values: map[string]float64{
		"accuracy": float64(correct) / float64(len(z)),
		"loss":     loss.Float64Values()[0],
	}}, nil
}

func (t *logTask) SetTraining(on bool) { t.training = on }

// scriptTask has one float64 parameter p whose loss is p itself (gradient 1), so with
// zero weight decay every AdamW update is lr·multiplier/(1+ε): the parameter's path
// reveals the schedule. Evaluate returns scripted scores and records the mode it ran in.
type scriptTask struct {
	p        *ts.Tensor
	batches  int
	scores   []float64
	training bool

	evalModes  []bool // training flag seen by each Evaluate
	evalGrad   []bool // grad mode seen by each Evaluate
	lossCalls  int
	failLossAt int // 1-based Loss call that fails (0 = none)
	failEvalAt int // 1-based Evaluate call that fails (0 = none)
	scalarLoss bool
}

func newScriptTask(batches int, scores ...float64) *scriptTask {
	return &scriptTask{p: leaf([]float64{0}), batches: batches, scores: scores, scalarLoss: true}
}

func (t *scriptTask) params() []Param { return []Param{{Name: "p", T: t.p}} }

func (t *scriptTask) value() float64 { return t.p.Float64Values()[0] }

func (t *scriptTask) Batches(int) ([]any, error) { return make([]any, t.batches), nil }

func (t *scriptTask) Loss(any) (*ts.Tensor, error) {
	t.lossCalls++
	if t.lossCalls == t.failLossAt {
		return nil, errors.New("scripted loss failure")
	}
	if !t.scalarLoss {
		return t.p.MustRepeat([]int64{2}, false), nil
	}
	return t.p.MustSum(gotch.Double, false), nil
}

func (t *scriptTask) Evaluate() (Scores, error) {
	t.evalModes = append(t.evalModes, t.training)
	grad := torchx.SetGradEnabled(false)
	torchx.SetGradEnabled(grad)
	t.evalGrad = append(t.evalGrad, grad)
	n := len(t.evalModes)
	if n == t.failEvalAt {
		return Scores{}, errors.New("scripted evaluation failure")
	}
	v := math.NaN()
	if len(t.scores) > 0 {
		v = t.scores[(n-1)%len(t.scores)]
	}
	return Scores{Main: "score", Values: map[string]float64{"score": v}}, nil
}

func (t *scriptTask) SetTraining(on bool) { t.training = on }

// regTask is least squares on fixed data with explicitly given batches: the same rows
// can be fed as one batch or as several micro-batches.
type regTask struct {
	x, y    *ts.Tensor
	w       *ts.Tensor
	batches []any
}

func newRegTask(batches ...[]int64) *regTask {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, d = 8, 3
	xs, ys, ws := make([]float32, n*d), make([]float32, n), make([]float32, d)
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	for i := range ys {
		ys[i] = float32(rng.NormFloat64())
	}
	for i := range ws {
		ws[i] = float32(rng.NormFloat64())
	}
	w := ts.MustOfSlice(ws)
	w.MustRequiresGrad_(true)
	t := &regTask{x: ts.MustOfSlice(xs).MustView([]int64{n, d}, true), y: ts.MustOfSlice(ys), w: w}
	for _, b := range batches {
		t.batches = append(t.batches, b)
	}
	return t
}

func (t *regTask) Batches(int) ([]any, error) { return t.batches, nil }

func (t *regTask) Loss(batch any) (*ts.Tensor, error) {
	idx := ts.MustOfSlice(batch.([]int64))
	defer idx.MustDrop()
	x := t.x.MustIndexSelect(0, idx, false)
	y := t.y.MustIndexSelect(0, idx, false)
	defer y.MustDrop()
	return x.MustMv(t.w, true).MustMseLoss(y, 1, true), nil
}

func (t *regTask) Evaluate() (Scores, error) {
	loss := t.x.MustMv(t.w, false).MustMseLoss(t.y, 1, true)
	return Scores{Main: "neg_mse", Values: map[string]float64{"neg_mse": -loss.Float64Values(true)[0]}}, nil
}

func (t *regTask) SetTraining(bool) {}
