package diffusion

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/imaging"
	"github.com/vectorfit/harness/internal/torchx"
	"github.com/vectorfit/harness/train"
)

// Fakes small enough to compute by hand: latents are the image's 2×2 average pools
// (std 0), the schedule adds the noise unscaled and asks for it back, and the "UNet"
// is gain·latents + bias with two trainable scalars.
type fakeText struct{}

func (fakeText) EncodePrompts(p []string) (*ts.Tensor, error) {
	vals := make([]float32, 0, 2*len(p))
	for _, s := range p {
		vals = append(vals, float32(len(s)), 1)
	}
	return ts.MustOfSlice(vals).MustView([]int64{int64(len(p)), 1, 2}, true), nil
}

type fakeVAE struct{}

func (fakeVAE) LatentDistribution(x *ts.Tensor) (*ts.Tensor, *ts.Tensor, error) {
	mean := x.MustAvgPool2d([]int64{2, 2}, []int64{2, 2}, []int64{0, 0}, false, true, nil, false)
	return mean, mean.MustZerosLike(false), nil
}

func (fakeVAE) DecodeLatents(l *ts.Tensor) (*ts.Tensor, error) {
	return l.MustUpsampleNearest2d([]int64{2 * l.MustSize()[2], 2 * l.MustSize()[3]}, nil, nil, false).MustTanh(true), nil
}

type fakeUNet struct{ gain, bias *ts.Tensor }

func newFakeUNet(gain, bias float32) *fakeUNet {
	u := &fakeUNet{ts.MustOfSlice([]float32{gain}), ts.MustOfSlice([]float32{bias})}
	u.gain.MustRequiresGrad_(true)
	u.bias.MustRequiresGrad_(true)
	return u
}

func (u *fakeUNet) Predict(x, _, _ *ts.Tensor) (*ts.Tensor, error) {
	return x.MustMul(u.gain, false).MustAdd(u.bias, true), nil
}
func (u *fakeUNet) SetTraining(bool) {}

type fakeSchedule struct{}

func (fakeSchedule) TrainTimesteps() int64 { return 10 }
func (fakeSchedule) AddNoise(x0, noise *ts.Tensor, _ []int64) (*ts.Tensor, error) {
	return x0.MustAdd(noise, false), nil
}
func (fakeSchedule) Target(_, noise *ts.Tensor, _ []int64) (*ts.Tensor, error) {
	return noise.MustShallowClone(), nil
}

type fakeSampler struct{}

func (fakeSampler) InitNoiseSigma() float64 { return 1 }
func (fakeSampler) Sample(x *ts.Tensor, predict func(*ts.Tensor, int64) (*ts.Tensor, error)) (*ts.Tensor, error) {
	x = x.MustShallowClone()
	for _, t := range []int64{9, 5, 1} {
		eps, err := predict(x, t)
		if err != nil {
			return nil, err
		}
		x = x.MustSub(eps.MustMulScalar(ts.FloatScalar(0.1), true), true)
	}
	return x, nil
}

func meanColour(images []*imaging.RGB) ([][]float32, error) {
	out := make([][]float32, len(images))
	for i, m := range images {
		v := []float32{1, 1, 1}
		for p := 0; p < len(m.Pix); p += 3 {
			for c := range 3 {
				v[c] += float32(m.Pix[p+c]) / 255
			}
		}
		out[i] = v
	}
	return out, nil
}

func promptLength(p []string) ([][]float32, error) {
	out := make([][]float32, len(p))
	for i, s := range p {
		out[i] = []float32{float32(len(s)), 1, 1}
	}
	return out, nil
}

// fakeImages are n constant images of 3×8×8 at levels 0.1·(i+1) − 0.5.
func fakeImages(n int) [][]float32 {
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, 3*8*8)
		for j := range out[i] {
			out[i][j] = 0.1*float32(i+1) - 0.5 + 0.01*float32(j%7)
		}
	}
	return out
}

func newFake(t *testing.T, unet *fakeUNet, o Options) *DreamBooth {
	t.Helper()
	pipe := Pipeline{Text: fakeText{}, VAE: fakeVAE{}, UNet: unet, Schedule: fakeSchedule{}, Sampler: fakeSampler{}, LatentChannels: 3, LatentFactor: 2}
	sc := Scorers{DINO: meanColour, CLIPImage: meanColour, CLIPText: promptLength}
	subj := Subject{InstancePrompt: "a photo of sks dog", ClassPrompt: "a photo of dog", EvalPrompts: []string{"a sks dog", "a red sks dog", "a sks dog on the beach"}}
	real := []*imaging.RGB{{W: 2, H: 1, Pix: []uint8{10, 200, 30, 40, 50, 60}}}
	d, err := NewDreamBooth(pipe, sc, subj, fakeImages(3), fakeImages(5), real, gotch.CPU, o)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The loss is MSE(instance half) + w·MSE(class half), instance rows first, against
// the noise drawn after the latent sample (train_dreambooth.py's order).
func TestPriorPreservationLoss(t *testing.T) {
	for _, w := range []float64{0, 1, 2.5} {
		d := newFake(t, newFakeUNet(0, 0.3), Options{Resolution: 8, BatchSize: 2, PriorLossWeight: w, ImagesPerPrompt: 1, GuidanceScale: 1})
		b := pairs{{0, 4}, {2, 1}}
		torchx.ManualSeed(7)
		loss, err := d.Loss(b)
		if err != nil {
			t.Fatal(err)
		}
		got := loss.Float64Values()[0]
		rows := int64(2)
		if w > 0 {
			rows = 4
		}
		torchx.ManualSeed(7)
		shape := []int64{rows, 3, 4, 4}
		ts.MustRandn(shape, gotch.Float, gotch.CPU).MustDrop() // the latent sample's ε (std 0 here)
		// The noise as torch.randn_like draws it for diffusers' channels-last latents: one
		// value at a time in N·H·W·C memory order (rows stay whole, instance rows first).
		nhwc := ts.MustEmpty([]int64{rows, 4, 4, 3}, gotch.Float, gotch.CPU)
		view := nhwc.MustPermute([]int64{0, 3, 1, 2}, false)
		view.MustNormal_(0, 1)
		view.MustDrop()
		noise := nhwc.Float64Values()
		half := len(noise) / int(rows) * 2
		mse := func(v []float64) float64 {
			s := 0.0
			for _, x := range v {
				s += (0.3 - x) * (0.3 - x)
			}
			return s / float64(len(v))
		}
		want := mse(noise[:half])
		if w > 0 {
			want += w * mse(noise[half:])
		}
		if math.Abs(got-want) > 1e-5*want {
			t.Errorf("prior weight %g: loss %.7f, want %.7f", w, got, want)
		}
	}
}

// Training through train.Run lowers the loss (the gain learns to pass the noise
// through), and evaluation writes every image and the contact sheet, with the same
// scores for the same model (each prompt's noise comes from its own seed).
func TestDreamBoothTrainsAndEvaluates(t *testing.T) {
	unet := newFakeUNet(0, 0)
	d := newFake(t, unet, Options{Resolution: 8, BatchSize: 2, PriorLossWeight: 1, ImagesPerPrompt: 2, GuidanceScale: 3, Seed: 1})
	d.ImagesDir = t.TempDir()
	cfg := train.Config{MaxSteps: 60, Seed: 1}
	res, err := train.Run(cfg, d, cfg.AdamW([]train.Group{{Params: []train.Param{{Name: "gain", T: unet.gain}, {Name: "bias", T: unet.bias}}, LR: 0.05}}))
	if err != nil {
		t.Fatal(err)
	}
	if g := unet.gain.Float64Values()[0]; g < 0.3 {
		t.Errorf("gain %.3f after training, want it to approach 1 (noise dominates the noisy latents)", g)
	}
	first, err := d.Evaluate()
	if err != nil {
		t.Fatal(err)
	}
	again, _ := d.Evaluate()
	for _, k := range []string{MetricDINO, MetricCLIPI, MetricCLIPT} {
		v := first.Values[k]
		if v <= 0 || v > 1 || v != again.Values[k] || v != res.History[len(res.History)-1].Scores.Values[k] {
			t.Errorf("%s: %v, again %v, at the run's last evaluation %v", k, v, again.Values[k], res.History[len(res.History)-1].Scores.Values[k])
		}
	}
	for _, f := range []string{"00-0.png", "00-1.png", "02-1.png", "sheet.png"} {
		if _, err := os.Stat(filepath.Join(d.ImagesDir, f)); err != nil {
			t.Error(err)
		}
	}
}

// Class images are generated once, batch by batch from their own seeds, and read back
// from the cache; a deleted one is regenerated identically.
func TestClassImagesCache(t *testing.T) {
	d := newFake(t, newFakeUNet(0.5, 0.1), Options{Resolution: 8, BatchSize: 1, ImagesPerPrompt: 1, GuidanceScale: 2})
	dir := t.TempDir()
	calls := 0
	first, err := ClassImages(d.sampling, "a photo of dog", 6, dir, 3, func(int, int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || len(first) != 6 {
		t.Fatalf("%d batches, %d images; want 2, 6", calls, len(first))
	}
	os.Remove(filepath.Join(dir, "0005.png"))
	calls = 0
	again, err := ClassImages(d.sampling, "a photo of dog", 6, dir, 3, func(int, int) { calls++ })
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("%d batches generated with one image missing, want 1 (the second)", calls)
	}
	for i := range first {
		if !slices.Equal(first[i].Pix, again[i].Pix) {
			t.Errorf("image %d differs after regeneration", i)
		}
	}
}
