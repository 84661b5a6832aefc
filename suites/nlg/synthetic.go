package nlg

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The built-in synthetic task (-data synthetic): documents of three to five
// short sentences, the summary being the first sentence (a copy task a tiny
// encoder-decoder learns in minutes on a CPU). Every word is a whole token of
// the built-in tokenizer (models/tokenize Builtin; synthetic_test.go checks).
var (
	synthAnimals = strings.Fields("cat dog bird fish horse cow lion tiger bear wolf fox deer")
	synthColours = strings.Fields("red blue green yellow black white small big old new fast slow")
	synthVerbs   = strings.Fields("runs eats sees likes finds jumps sleeps walks")
	synthPlaces  = strings.Fields("park house field")
	synthPreps   = strings.Fields("near under over with")
)

// SyntheticWords lists every word the synthetic task uses (plus "the" and
// "."), for checks against a tokenizer's vocabulary.
func SyntheticWords() []string {
	var all []string
	for _, ws := range [][]string{synthAnimals, synthColours, synthVerbs, synthPlaces, synthPreps} {
		all = append(all, ws...)
	}
	return append(all, "the", ".")
}

// Synthetic returns nTrain training and nDev validation examples drawn from
// seed; the same seed gives the same examples.
func Synthetic(nTrain, nDev int, seed uint64) (train Split, dev Split) {
	rng := rand.New(rand.NewPCG(seed, 0x5ab5))
	gen := func(name string, n int) Split {
		sp := Split{Name: name, Path: "synthetic:summarise/" + name, Format: "synthetic"}
		for i := range n {
			sents := make([]string, 3+rng.IntN(3))
			for j := range sents {
				sents[j] = synthSentence(rng)
			}
			sp.Examples = append(sp.Examples, Example{
				ID:     fmt.Sprintf("%s-%d", name, i),
				Source: strings.Join(sents, " "),
				Target: sents[0],
			})
		}
		return sp
	}
	return gen(SplitTrain, nTrain), gen(SplitValidation, nDev)
}

// synthSentence is "the <colour> <animal> <verb> <prep> the <place> ." or
// "the <colour> <animal> <verb> the <animal> .".
func synthSentence(rng *rand.Rand) string {
	pick := func(ws []string) string { return ws[rng.IntN(len(ws))] }
	s := "the " + pick(synthColours) + " " + pick(synthAnimals) + " " + pick(synthVerbs)
	if rng.IntN(2) == 0 {
		return s + " " + pick(synthPreps) + " the " + pick(synthPlaces) + " ."
	}
	return s + " the " + pick(synthAnimals) + " ."
}
