package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/vectorfit/harness/imaging"
)

// The built-in synthetic subject (-data synthetic): a red ring with a yellow centre,
// at varying places and sizes on light backgrounds, for the built-in tiny Stable
// Diffusion on a CPU. The class is "ring"; the evaluation prompts vary the
// background and size, as the DreamBooth prompts vary context and property.
var (
	SyntheticToken = "sks"
	syntheticClass = "ring"
	// SyntheticPrompts are the evaluation prompts (format of the unique token and class).
	syntheticPrompts = []string{"a %s %s", "a %s %s on a blue background", "a %s %s on a green background",
		"a big %s %s", "a small %s %s"}
)

// SyntheticWords are every word of the synthetic prompts, for a tiny tokenizer.
func SyntheticWords() []string {
	return []string{"a", "photo", "of", SyntheticToken, syntheticClass, "on", "blue", "green", "background", "big", "small"}
}

// Synthetic returns the synthetic subject: n images of size×size pixels drawn from
// seed (the same seed gives the same images).
func Synthetic(n, size int, seed uint64) Subject {
	rng := rand.New(rand.NewPCG(seed, 0xd1ff))
	s := Subject{Name: "synthetic-ring", Class: syntheticClass,
		InstancePrompt: fmt.Sprintf("a photo of %s %s", SyntheticToken, syntheticClass),
		ClassPrompt:    "a photo of " + syntheticClass}
	for _, f := range syntheticPrompts {
		s.EvalPrompts = append(s.EvalPrompts, fmt.Sprintf(f, SyntheticToken, syntheticClass))
	}
	for range n {
		s.Decoded = append(s.Decoded, ringImage(rng, size))
	}
	return s
}

// ringImage draws the subject: outer radius 25–40% of the image, centre jittered.
func ringImage(rng *rand.Rand, size int) *imaging.RGB {
	m := &imaging.RGB{W: size, H: size, Pix: make([]uint8, 3*size*size)}
	bg := uint8(200 + rng.IntN(50))
	f := float64(size)
	r := f * (0.25 + 0.15*rng.Float64())
	cx, cy := f/2+(rng.Float64()-0.5)*(f-2*r), f/2+(rng.Float64()-0.5)*(f-2*r)
	for y := range size {
		for x := range size {
			d := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy)
			c := [3]uint8{bg, bg, bg}
			switch {
			case d < 0.45*r:
				c = [3]uint8{240, 210, 40}
			case d < r:
				c = [3]uint8{200, 30, 30}
			}
			copy(m.Pix[3*(y*size+x):], c[:])
		}
	}
	return m
}
