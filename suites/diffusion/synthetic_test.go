package diffusion

import (
	"slices"
	"strings"
	"testing"
)

func TestSynthetic(t *testing.T) {
	a, b, c := Synthetic(4, 32, 1), Synthetic(4, 32, 1), Synthetic(4, 32, 2)
	if len(a.Decoded) != 4 || a.Decoded[0].W != 32 {
		t.Fatalf("%d images", len(a.Decoded))
	}
	for i := range a.Decoded {
		if !slices.Equal(a.Decoded[i].Pix, b.Decoded[i].Pix) {
			t.Error("same seed, different images")
		}
	}
	if slices.Equal(a.Decoded[0].Pix, c.Decoded[0].Pix) {
		t.Error("different seeds, same image")
	}
	// Every image shows the ring (red) and its centre (yellow) on grey.
	for i, m := range a.Decoded {
		red, yellow := 0, 0
		for p := 0; p < len(m.Pix); p += 3 {
			switch {
			case m.Pix[p] == 200 && m.Pix[p+1] == 30:
				red++
			case m.Pix[p] == 240 && m.Pix[p+1] == 210:
				yellow++
			}
		}
		if red < 50 || yellow < 10 {
			t.Errorf("image %d: %d red and %d yellow pixels", i, red, yellow)
		}
	}
	words := map[string]bool{}
	for _, w := range SyntheticWords() {
		words[w] = true
	}
	for _, p := range append(a.EvalPrompts, a.InstancePrompt, a.ClassPrompt) {
		for _, w := range strings.Fields(p) {
			if !words[w] {
				t.Errorf("%q of %q is not in SyntheticWords", w, p)
			}
		}
	}
}
