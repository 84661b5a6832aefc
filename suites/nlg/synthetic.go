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

// SyntheticPretraining returns n denoising examples for pre-training the built-in
// tiny BART as BART itself was pre-trained (Lewis et al. 2020, token masking): the
// source is a synthetic document with each word replaced by [MASK] with probability
// maskRate, the target is the document. A model that has learnt to reconstruct
// documents is what PEFT methods adapt; the fine-tuning task (keep only the first
// sentence) is then a small change to it, as summarisation is to a real BART. The
// documents come from their own stream of seed, never from Synthetic's (1 to 3
// sentences: copying a short document is what a tiny model learns in a minute).
func SyntheticPretraining(n int, maskRate float64, seed uint64) Split {
	rng := rand.New(rand.NewPCG(seed, 0xb1a5))
	sp := Split{Name: "pretraining", Path: "synthetic:denoise", Format: "synthetic"}
	for i := range n {
		sents := make([]string, 1+rng.IntN(3))
		for j := range sents {
			sents[j] = synthSentence(rng)
		}
		doc := strings.Join(sents, " ")
		words := strings.Fields(doc)
		for j := range words {
			if rng.Float64() < maskRate {
				words[j] = "[MASK]"
			}
		}
		sp.Examples = append(sp.Examples, Example{ID: fmt.Sprintf("denoise-%d", i), Source: strings.Join(words, " "), Target: doc})
	}
	return sp
}
