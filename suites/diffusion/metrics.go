package diffusion

import (
	"fmt"
	"math"
)

// The DreamBooth paper's metrics (Ruiz et al. 2023, §4.1):
//
//   - DINO: the mean cosine similarity between the ViT-S/16 DINO embeddings of
//     generated and real images of the subject, over all (generated, real) pairs;
//   - CLIP-I: the same with CLIP image embeddings;
//   - CLIP-T: the mean cosine similarity between the CLIP embeddings of each
//     generated image and of the prompt it was generated from.
//
// Scores are cosines in [−1, 1]; reports show them as they are, with 3 decimals, as the
// DreamBooth paper prints them (0.668), not ×100 (reports/metrics.go).

// Metric names as records store them.
const (
	MetricDINO  = "dino"
	MetricCLIPI = "clip_i"
	MetricCLIPT = "clip_t"
)

// Cosine is the cosine similarity of two vectors of one length, in float64; a zero
// vector has no direction and is an error.
func Cosine(a, b []float32) (float64, error) {
	if len(a) != len(b) || len(a) == 0 {
		return 0, fmt.Errorf("diffusion: embeddings of lengths %d and %d, want one non-zero length", len(a), len(b))
	}
	var dot, na, nb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot, na, nb = dot+x*y, na+x*x, nb+y*y
	}
	if na == 0 || nb == 0 {
		return 0, fmt.Errorf("diffusion: a zero embedding has no cosine similarity")
	}
	return dot / math.Sqrt(na*nb), nil
}

// MeanPairwiseCosine is the mean of Cosine over every pair (generated[i], real[j]):
// DINO and CLIP-I.
func MeanPairwiseCosine(generated, real [][]float32) (float64, error) {
	if len(generated) == 0 || len(real) == 0 {
		return 0, fmt.Errorf("diffusion: %d generated and %d real embeddings, want both > 0", len(generated), len(real))
	}
	sum := 0.0
	for _, g := range generated {
		for _, r := range real {
			c, err := Cosine(g, r)
			if err != nil {
				return 0, err
			}
			sum += c
		}
	}
	return sum / float64(len(generated)*len(real)), nil
}

// MeanCosine is the mean of Cosine(images[i], texts[i]): CLIP-T, each image against
// its own prompt.
func MeanCosine(images, texts [][]float32) (float64, error) {
	if len(images) != len(texts) || len(images) == 0 {
		return 0, fmt.Errorf("diffusion: %d image and %d prompt embeddings, want one per image", len(images), len(texts))
	}
	sum := 0.0
	for i := range images {
		c, err := Cosine(images[i], texts[i])
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum / float64(len(images)), nil
}
