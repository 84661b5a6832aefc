package glue

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// The built-in synthetic data (-data synthetic): for each task shape a rule a small model
// can learn from a few hundred examples, written with words the built-in tokenizer keeps
// whole (scripts/fixtures/gen_builtin_tokenizer.py lists the same words). It exercises
// the whole pipeline, label conventions included, without any download.
var (
	positiveWords = strings.Fields("good great excellent wonderful superb lovely brilliant delightful")
	negativeWords = strings.Fields("bad awful terrible horrible dreadful poor boring dull")
	subjectWords  = strings.Fields("film movie story plot acting music scene ending cast script")
	fillerWords   = strings.Fields("the a was is seemed felt looked and but quite very rather really")
	animalWords   = strings.Fields("cat dog bird fish horse cow lion tiger bear wolf fox deer")
	colourWords   = strings.Fields("red blue green yellow black white small big old new fast slow")
	verbWords     = strings.Fields("runs eats sees likes finds jumps sleeps walks")
)

// SyntheticWords lists every word the synthetic data uses.
func SyntheticWords() []string {
	var all []string
	for _, ws := range [][]string{positiveWords, negativeWords, subjectWords, fillerWords, animalWords, colourWords, verbWords} {
		all = append(all, ws...)
	}
	return all
}

// Synthetic returns nTrain training and nDev development examples shaped like task (one
// dev split per dev split of the task), drawn from seed.
//
//   - single sentence (cola, sst2): a review; label 1 when it has more positive than
//     negative words;
//   - pair, two classes (mrpc, qqp, qnli, rte): two animal sentences; the "related" label
//     (equivalent, duplicate, entailment) when both name the same animal;
//   - pair, three classes (mnli): entailment when animal and colour agree, neutral when
//     only the animal does, contradiction otherwise;
//   - regression (stsb): two 4-word sentences of animal and colour words; the score is
//     5 × the share of colour words among the eight (a counting rule a small encoder
//     learns; real STS-B needs a pre-trained one).
func Synthetic(task Task, seed uint64, nTrain, nDev int) (train Split, dev []Split) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	gen := func(name string, n int) Split {
		s := Split{Name: name, Path: fmt.Sprintf("synthetic:%s/%s", task.Name, name)}
		for i := range n {
			ex := syntheticExample(task, rng)
			ex.Idx = i
			s.Examples = append(s.Examples, ex)
		}
		return s
	}
	train = gen("train", nTrain)
	for _, name := range task.DevSplits {
		dev = append(dev, gen(name, nDev))
	}
	return train, dev
}

func syntheticExample(task Task, rng *rand.Rand) Example {
	switch {
	case task.NumLabels == 1:
		return synthSimilarity(rng)
	case !task.Pair:
		return synthReview(rng)
	case task.NumLabels == 3:
		return synthInference(rng)
	default:
		return synthRelated(task, rng)
	}
}

func pick(rng *rand.Rand, ws []string) string { return ws[rng.IntN(len(ws))] }

func synthReview(rng *rand.Rand) Example {
	nPos, nNeg := rng.IntN(4), rng.IntN(4)
	for nPos == nNeg {
		nPos, nNeg = rng.IntN(4), rng.IntN(4)
	}
	words := []string{"the", pick(rng, subjectWords), pick(rng, fillerWords)}
	for range nPos {
		words = append(words, pick(rng, positiveWords))
	}
	for range nNeg {
		words = append(words, pick(rng, negativeWords))
	}
	rng.Shuffle(len(words)-2, func(i, j int) { words[i+2], words[j+2] = words[j+2], words[i+2] })
	label := 0
	if nPos > nNeg {
		label = 1
	}
	return Example{Text1: strings.Join(words, " "), Label: label, HasLabel: true}
}

func animalSentence(animal, colour string, rng *rand.Rand) string {
	return strings.Join([]string{"the", colour, animal, pick(rng, verbWords)}, " ")
}

// synthRelated labels pairs with the task's own ids: "related" is id 1 for mrpc
// (equivalent) and qqp (duplicate), id 0 for rte and qnli (entailment).
func synthRelated(task Task, rng *rand.Rand) Example {
	a := pick(rng, animalWords)
	b := a
	related := rng.IntN(2) == 0
	for !related && b == a {
		b = pick(rng, animalWords)
	}
	relatedID, unrelatedID := 1, 0
	if task.Name == "rte" || task.Name == "qnli" {
		relatedID, unrelatedID = 0, 1
	}
	label := unrelatedID
	if related {
		label = relatedID
	}
	return Example{
		Text1: animalSentence(a, pick(rng, colourWords), rng), Text2: animalSentence(b, pick(rng, colourWords), rng),
		Label: label, HasLabel: true,
	}
}

// synthInference: 0 entailment, 1 neutral, 2 contradiction (MNLI's ids).
func synthInference(rng *rand.Rand) Example {
	a, c := pick(rng, animalWords), pick(rng, colourWords)
	label := rng.IntN(3)
	b, d := a, c
	switch label {
	case 1:
		for d == c {
			d = pick(rng, colourWords)
		}
	case 2:
		for b == a {
			b = pick(rng, animalWords)
		}
		d = pick(rng, colourWords)
	}
	return Example{Text1: animalSentence(a, c, rng), Text2: animalSentence(b, d, rng), Label: label, HasLabel: true}
}

func synthSimilarity(rng *rand.Rand) Example {
	colours := 0
	sentence := func() string {
		words := make([]string, 4)
		for i := range words {
			if rng.IntN(2) == 0 {
				words[i] = pick(rng, colourWords)
				colours++
			} else {
				words[i] = pick(rng, animalWords)
			}
		}
		return strings.Join(words, " ")
	}
	s1, s2 := sentence(), sentence()
	return Example{Text1: s1, Text2: s2, Score: 5 * float64(colours) / 8, HasLabel: true}
}
