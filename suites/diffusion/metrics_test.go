package diffusion

import (
	"math"
	"strings"
	"testing"
)

// Hand-computed: cos((1,0),(1,1)) = 1/√2; cos((1,0),(0,1)) = 0; cos((0,2),(1,1)) = 1/√2;
// cos((0,2),(0,1)) = 1.
func TestMetricsHandComputed(t *testing.T) {
	gen := [][]float32{{1, 0}, {0, 2}}
	real := [][]float32{{1, 1}, {0, 1}}
	got, err := MeanPairwiseCosine(gen, real)
	if err != nil {
		t.Fatal(err)
	}
	if want := (1/math.Sqrt2 + 0 + 1/math.Sqrt2 + 1) / 4; math.Abs(got-want) > 1e-15 {
		t.Errorf("pairwise %v, want %v", got, want)
	}
	got, err = MeanCosine(gen, real)
	if err != nil {
		t.Fatal(err)
	}
	if want := (1/math.Sqrt2 + 1) / 2; math.Abs(got-want) > 1e-15 {
		t.Errorf("paired %v, want %v", got, want)
	}
	if c, _ := Cosine([]float32{1, 2, 3}, []float32{-2, -4, -6}); math.Abs(c+1) > 1e-15 {
		t.Errorf("opposite vectors: %v, want −1", c)
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{second(Cosine([]float32{0, 0}, []float32{1, 0})), "zero embedding"},
		{second(Cosine([]float32{1}, []float32{1, 0})), "lengths 1 and 2"},
		{second(MeanCosine(gen, real[:1])), "2 image and 1 prompt embeddings"},
		{second(MeanPairwiseCosine(nil, real)), "0 generated and 2 real"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%v, want %q", c.err, c.want)
		}
	}
}

func second(_ float64, err error) error { return err }
