package imaging

import (
	"math"
	"testing"
)

// The coefficients of an identity resize are the identity, and a 2:1 downscale uses
// PIL's support-stretched triangle: output 0 is centred on input coordinate 1.0 and
// reads inputs 0, 1, 2 with raw weights 0.75, 0.75, 0.25 (filter((x − 1 + ½)/2)),
// normalised by their sum 1.75 — three taps, where a naive bilinear would use two.
func TestResampleCoefficients(t *testing.T) {
	c := precomputeCoeffs(bilinear, 5, 5)
	for i := range 5 {
		if c.first[i] != i || c.k[i*c.ksize] != 1<<precisionBits {
			t.Errorf("identity: output %d reads from %d with weight %d", i, c.first[i], c.k[i*c.ksize])
		}
	}
	c = precomputeCoeffs(bilinear, 4, 2)
	if c.first[0] != 0 || c.n[0] != 3 {
		t.Errorf("2:1 downscale: output 0 reads %d inputs from %d, want 3 from 0", c.n[0], c.first[0])
	}
	sum := int32(0)
	for x := range c.n[0] {
		sum += c.k[x]
	}
	if d := sum - 1<<precisionBits; d < -2 || d > 2 {
		t.Errorf("weights of output 0 sum to %d, want %d", sum, 1<<precisionBits)
	}
	m := &RGB{W: 4, H: 1, Pix: []uint8{0, 0, 0, 100, 100, 100, 200, 200, 200, 40, 40, 40}}
	out := m.Resize(2, 1)
	if want := uint8(math.Round((100*0.75 + 200*0.25) / 1.75)); out.Pix[0] != want {
		t.Errorf("2:1 downscale: %d, want %d", out.Pix[0], want)
	}
}
