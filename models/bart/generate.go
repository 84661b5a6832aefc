package bart

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// EarlyStopping is BeamSearchScorer's early_stopping: JSON false, true or "never".
type EarlyStopping int

const (
	// StopHeuristic (false): a source is done when its num_beams finished hypotheses all
	// beat the best running beam's score divided by the current length's penalty.
	StopHeuristic EarlyStopping = iota
	// StopEarly (true): done as soon as num_beams hypotheses have finished.
	StopEarly
	// StopNever ("never"): done only when no running beam can still beat the worst
	// finished one at any length up to max_length (the exact rule).
	StopNever
)

// UnmarshalJSON reads true, false or "never".
func (e *EarlyStopping) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true":
		*e = StopEarly
	case "false":
		*e = StopHeuristic
	case `"never"`:
		*e = StopNever
	default:
		return fmt.Errorf("early_stopping %s: want true, false or \"never\"", b)
	}
	return nil
}

// GenerationConfig is the subset of transformers' GenerationConfig that BART
// summarisation uses. Only greedy search (NumBeams 1) and beam search; no sampling.
type GenerationConfig struct {
	// MaxLength bounds the output, decoder start token included (transformers counts it).
	MaxLength int64
	// MaxNewTokens, if > 0, replaces MaxLength by MaxNewTokens + 1 (the start token).
	MaxNewTokens int64
	// MinLength: EOS is forbidden while the output (start token included) is shorter.
	MinLength int64
	NumBeams  int64
	// LengthPenalty is the exponent of the length a finished hypothesis's summed
	// log-probability is divided by (beam search only).
	LengthPenalty float64
	EarlyStopping EarlyStopping
	// NoRepeatNgramSize > 0 forbids any n-gram of that size to occur twice.
	NoRepeatNgramSize int64

	DecoderStartTokenID, EosTokenID, PadTokenID int64
	// ForcedBosTokenID is forced as the first generated token, ForcedEosTokenID as the
	// last one before MaxLength; nil: not forced.
	ForcedBosTokenID, ForcedEosTokenID *int64
}

// DefaultGeneration is transformers' GenerationConfig defaults with the token ids of c:
// what generate() does for a config.json without generation keys.
func DefaultGeneration(c Config) GenerationConfig {
	return GenerationConfig{
		MaxLength: 20, NumBeams: 1, LengthPenalty: 1, EarlyStopping: StopHeuristic,
		DecoderStartTokenID: c.DecoderStartTokenID, EosTokenID: c.EosTokenID, PadTokenID: c.PadTokenID,
		ForcedBosTokenID: c.ForcedBosTokenID, ForcedEosTokenID: c.ForcedEosTokenID,
	}
}

// generationJSON is the generation keys of a config.json or generation_config.json.
// A key present with null clears an optional id; absent keeps the default.
type generationJSON struct {
	MaxLength           *int64         `json:"max_length"`
	MaxNewTokens        *int64         `json:"max_new_tokens"`
	MinLength           *int64         `json:"min_length"`
	NumBeams            *int64         `json:"num_beams"`
	LengthPenalty       *float64       `json:"length_penalty"`
	EarlyStopping       *EarlyStopping `json:"early_stopping"`
	NoRepeatNgramSize   *int64         `json:"no_repeat_ngram_size"`
	DecoderStartTokenID *int64         `json:"decoder_start_token_id"`
	BosTokenID          *int64         `json:"bos_token_id"`
	EosTokenID          *int64         `json:"eos_token_id"`
	PadTokenID          *int64         `json:"pad_token_id"`
	ForcedBosTokenID    *int64         `json:"forced_bos_token_id"`
	ForcedEosTokenID    *int64         `json:"forced_eos_token_id"`
	FromModelConfig     bool           `json:"_from_model_config"`
}

func (j generationJSON) apply(g *GenerationConfig) {
	set := func(dst *int64, v *int64) {
		if v != nil {
			*dst = *v
		}
	}
	set(&g.MaxLength, j.MaxLength)
	set(&g.MaxNewTokens, j.MaxNewTokens)
	set(&g.MinLength, j.MinLength)
	set(&g.NumBeams, j.NumBeams)
	set(&g.NoRepeatNgramSize, j.NoRepeatNgramSize)
	if j.LengthPenalty != nil {
		g.LengthPenalty = *j.LengthPenalty
	}
	if j.EarlyStopping != nil {
		g.EarlyStopping = *j.EarlyStopping
	}
}

// LoadGeneration reads a checkpoint folder's generation defaults as transformers 4.44.2's
// from_pretrained + generate() resolve them: generation_config.json if the folder has
// one, unless it says "_from_model_config": true (then generate() rebuilds it from
// config.json, so config.json's keys win); otherwise the generation keys of config.json
// (facebook/bart-large-xsum and -cnn keep num_beams, length_penalty, max_length,
// min_length, no_repeat_ngram_size, early_stopping, forced_bos_token_id there) over
// GenerationConfig's defaults.
func LoadGeneration(dir string) (GenerationConfig, error) {
	cfgPath := filepath.Join(dir, "config.json")
	c, err := LoadConfig(cfgPath)
	if err != nil {
		return GenerationConfig{}, err
	}
	read := func(path string) (generationJSON, error) {
		var j generationJSON
		raw, err := os.ReadFile(path)
		if err != nil {
			return j, err
		}
		if err := json.Unmarshal(raw, &j); err != nil {
			return j, fmt.Errorf("%s: generation settings: %w (eos_token_id must be a single id)", path, err)
		}
		return j, nil
	}
	genPath := filepath.Join(dir, "generation_config.json")
	if _, err := os.Stat(genPath); err == nil {
		j, err := read(genPath)
		if err != nil {
			return GenerationConfig{}, err
		}
		if !j.FromModelConfig {
			return fromGenerationFile(j, c, genPath)
		}
	}
	j, err := read(cfgPath)
	if err != nil {
		return GenerationConfig{}, err
	}
	g := DefaultGeneration(c) // ids: config.json's, with BartConfig's defaults
	j.apply(&g)
	return g, g.Validate(c, cfgPath)
}

// fromGenerationFile is a generation_config.json written on its own: keys it lacks take
// GenerationConfig's defaults (no forced tokens), a missing decoder start falls back to
// bos and a missing pad to eos, as generate() does.
func fromGenerationFile(j generationJSON, c Config, path string) (GenerationConfig, error) {
	g := DefaultGeneration(c)
	g.ForcedBosTokenID, g.ForcedEosTokenID = j.ForcedBosTokenID, j.ForcedEosTokenID
	j.apply(&g)
	switch {
	case j.EosTokenID == nil:
		return g, fmt.Errorf("%s: no eos_token_id: generation without an end-of-sequence token is not implemented", path)
	case j.DecoderStartTokenID != nil:
		g.DecoderStartTokenID = *j.DecoderStartTokenID
	case j.BosTokenID != nil:
		g.DecoderStartTokenID = *j.BosTokenID
	default:
		return g, fmt.Errorf("%s: neither decoder_start_token_id nor bos_token_id", path)
	}
	g.EosTokenID, g.PadTokenID = *j.EosTokenID, *j.EosTokenID
	if j.PadTokenID != nil {
		g.PadTokenID = *j.PadTokenID
	}
	return g, g.Validate(c, path)
}

// maxLength is the length bound after max_new_tokens (the decoder prompt is the single
// start token).
func (g GenerationConfig) maxLength() int64 {
	if g.MaxNewTokens > 0 {
		return g.MaxNewTokens + 1
	}
	return g.MaxLength
}

// Validate checks g against the model c; source names the settings in the error.
func (g GenerationConfig) Validate(c Config, source string) error {
	var errs []error
	if g.NumBeams < 1 {
		errs = append(errs, fmt.Errorf("num_beams = %d, want ≥ 1", g.NumBeams))
	}
	if g.MaxNewTokens < 0 {
		errs = append(errs, fmt.Errorf("max_new_tokens = %d, want ≥ 0 (0: unset)", g.MaxNewTokens))
	}
	// The decoder reads positions 0 … max_length−2.
	if n := g.maxLength(); n < 2 || n-1 > c.MaxPositionEmbeddings {
		errs = append(errs, fmt.Errorf("max_length = %d (after max_new_tokens), want in [2, max_position_embeddings + 1 = %d]", n, c.MaxPositionEmbeddings+1))
	}
	if g.MinLength < 0 || g.NoRepeatNgramSize < 0 {
		errs = append(errs, fmt.Errorf("min_length %d, no_repeat_ngram_size %d: want ≥ 0", g.MinLength, g.NoRepeatNgramSize))
	}
	if math.IsNaN(g.LengthPenalty) || math.IsInf(g.LengthPenalty, 0) {
		errs = append(errs, fmt.Errorf("length_penalty = %g, want a finite number", g.LengthPenalty))
	}
	if g.EarlyStopping < StopHeuristic || g.EarlyStopping > StopNever {
		errs = append(errs, fmt.Errorf("early_stopping = %d, want StopHeuristic, StopEarly or StopNever", g.EarlyStopping))
	}
	for _, id := range []struct {
		key string
		v   *int64
	}{
		{"decoder_start_token_id", &g.DecoderStartTokenID}, {"eos_token_id", &g.EosTokenID}, {"pad_token_id", &g.PadTokenID},
		{"forced_bos_token_id", g.ForcedBosTokenID}, {"forced_eos_token_id", g.ForcedEosTokenID},
	} {
		if id.v != nil && (*id.v < 0 || *id.v >= c.VocabSize) {
			errs = append(errs, fmt.Errorf("%s = %d, want in [0, vocab_size %d)", id.key, *id.v, c.VocabSize))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s: %w", source, err)
	}
	return nil
}

// Generated is generate()'s output.
type Generated struct {
	// Sequences are as transformers returns them: decoder_start_token_id first, then the
	// generated tokens (EOS included when one was generated), every row padded with
	// pad_token_id to the batch's longest. Strip the special tokens to decode.
	Sequences [][]int64
	// Scores are beam search's sequences_scores (the best hypothesis's summed
	// log-probability over its length^length_penalty); nil for greedy search.
	Scores []float64
}

// Generate decodes a padded batch of sources (input_ids and attention_mask, batch ×
// source, int64; a nil mask means no padding) with greedy search (NumBeams 1) or beam
// search, equal to transformers 4.44.2's model.generate() token for token, and returns
// its sequences (see Generated). It runs in eval mode without autograd and restores the
// model's training mode.
func (m *Model) Generate(inputIDs, attentionMask *ts.Tensor, cfg GenerationConfig) ([][]int64, error) {
	g, err := m.GenerateScored(inputIDs, attentionMask, cfg)
	return g.Sequences, err
}

// GenerateScored is Generate with beam search's sequence scores.
func (m *Model) GenerateScored(inputIDs, attentionMask *ts.Tensor, cfg GenerationConfig) (Generated, error) {
	if err := cfg.Validate(m.Config, "generation config"); err != nil {
		return Generated{}, err
	}
	if inputIDs == nil {
		return Generated{}, errors.New("generate: no input_ids")
	}
	start := ts.MustFull([]int64{1, 1}, ts.IntScalar(cfg.DecoderStartTokenID), gotch.Int64, gotch.CPU)
	defer start.MustDrop()
	if err := m.CheckBatch(Batch{InputIDs: inputIDs, AttentionMask: attentionMask, DecoderInputIDs: start}); err != nil {
		return Generated{}, fmt.Errorf("generate: %w", err)
	}
	training := m.Training()
	m.SetTraining(false)
	defer m.SetTraining(training)
	var out Generated
	models.NoGrad(func() {
		// As generate(): the encoder runs once on the batch, its output is then repeated
		// per beam.
		enc := m.encode(inputIDs, attentionMask, nil)
		defer enc.MustDrop()
		if cfg.NumBeams == 1 {
			out = m.greedy(enc, attentionMask, cfg)
			return
		}
		out = m.beamSearch(enc, attentionMask, cfg)
	})
	return out, nil
}

// greedy is transformers' _sample without sampling: the argmax of the processed logits;
// a row that produced EOS continues with pad_token_id until every row is done.
func (m *Model) greedy(enc, mask *ts.Tensor, cfg GenerationConfig) Generated {
	rows, maxLen := enc.MustSize()[0], cfg.maxLength()
	cache := m.NewCache(enc, mask)
	defer cache.Free()
	seqs := startSequences(rows, cfg.DecoderStartTokenID)
	unfinished := slices.Repeat([]bool{true}, int(rows))
	for {
		scores := m.nextScores(cache, seqs, false)
		vocab := len(scores) / int(rows)
		cur := int64(len(seqs[0]))
		for r := range seqs {
			row := scores[r*vocab : (r+1)*vocab]
			cfg.process(seqs[r], row, maxLen)
			next := int64(argmax(row))
			if !unfinished[r] {
				next = cfg.PadTokenID
			}
			seqs[r] = append(seqs[r], next)
			if cur+1 >= maxLen || next == cfg.EosTokenID {
				unfinished[r] = false
			}
		}
		if !slices.Contains(unfinished, true) {
			return Generated{Sequences: seqs}
		}
	}
}

// nextScores feeds every row's last token to the decoder and returns the next-token
// logits (or, with logSoftmax, log-probabilities) as rows × vocab float32 values.
func (m *Model) nextScores(cache *Cache, seqs [][]int64, logSoftmax bool) []float32 {
	last := make([]int64, len(seqs))
	for r, s := range seqs {
		last[r] = s[len(s)-1]
	}
	ids := ts.MustOfSlice(last).MustView([]int64{int64(len(seqs)), 1}, true).MustTo(cache.crossBias.MustDevice(), true)
	logits := m.Step(cache, ids)
	ids.MustDrop()
	if logSoftmax {
		logits = logits.MustLogSoftmax(-1, gotch.Float, true)
	}
	cpu := logits.MustTo(gotch.CPU, true).MustTotype(gotch.Float, true) // bfloat16/float16 under -dtype's autocast
	defer cpu.MustDrop()
	return cpu.Vals().([]float32)
}

func startSequences(rows int64, start int64) [][]int64 {
	seqs := make([][]int64, rows)
	for r := range seqs {
		seqs[r] = []int64{start}
	}
	return seqs
}

// argmax is the first index of the largest value (torch.argmax on the CPU).
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

var negInf = float32(math.Inf(-1))

// process applies transformers' logits processors, in its order, to one row's scores
// (logits for greedy, log-probabilities for beam search) given the row's tokens so far
// (start token included): NoRepeatNGram, MinLength, ForcedBOS, ForcedEOS.
func (g GenerationConfig) process(seq []int64, scores []float32, maxLen int64) {
	cur := int64(len(seq))
	if n := g.NoRepeatNgramSize; n > 0 && cur+1 >= n {
		for _, t := range bannedNgramTokens(seq, int(n)) {
			scores[t] = negInf
		}
	}
	if cur < g.MinLength {
		scores[g.EosTokenID] = negInf
	}
	force := func(id int64) {
		for i := range scores {
			scores[i] = negInf
		}
		scores[id] = 0
	}
	if g.ForcedBosTokenID != nil && cur == 1 {
		force(*g.ForcedBosTokenID)
	}
	if g.ForcedEosTokenID != nil && cur == maxLen-1 {
		force(*g.ForcedEosTokenID)
	}
}

// bannedNgramTokens are the tokens that would complete an n-gram already in seq: those
// following each earlier occurrence of seq's last n−1 tokens.
func bannedNgramTokens(seq []int64, n int) []int64 {
	cur := len(seq)
	prefix := seq[cur-n+1:]
	var banned []int64
	for i := 0; i+n <= cur; i++ {
		if slices.Equal(seq[i:i+n-1], prefix) {
			banned = append(banned, seq[i+n-1])
		}
	}
	return banned
}

// hypotheses is BeamHypotheses: the best num_beams finished sequences of one source.
// Scores are float64, as Python computes them from the float32 sums.
type hypotheses struct {
	beams []hypothesis
	worst float64
}

type hypothesis struct {
	score float64
	seq   []int64
}

// add is BeamHypotheses.add: score = sum / generated_len^length_penalty, kept if among
// the best num_beams.
func (h *hypotheses) add(seq []int64, sum float64, generatedLen int64, g GenerationConfig) {
	score := sum / math.Pow(float64(generatedLen), g.LengthPenalty)
	if int64(len(h.beams)) >= g.NumBeams && score <= h.worst {
		return
	}
	h.beams = append(h.beams, hypothesis{score, slices.Clone(seq)})
	if int64(len(h.beams)) > g.NumBeams {
		order := make([]int, len(h.beams)) // sorted((score, index)): ties by index
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return h.beams[order[a]].score < h.beams[order[b]].score })
		h.worst = h.beams[order[1]].score
		h.beams = slices.Delete(h.beams, order[0], order[0]+1)
	} else {
		h.worst = min(score, h.worst)
	}
}

// done is BeamHypotheses.is_done for the best running score best at length cur
// (start token excluded, as decoder_prompt_len is subtracted).
func (h *hypotheses) done(best float64, cur, maxLen int64, g GenerationConfig) bool {
	if int64(len(h.beams)) < g.NumBeams {
		return false
	}
	switch g.EarlyStopping {
	case StopEarly:
		return true
	case StopNever:
		if g.LengthPenalty > 0 {
			return h.worst >= best/math.Pow(float64(maxLen-1), g.LengthPenalty)
		}
	}
	return h.worst >= best/math.Pow(float64(cur), g.LengthPenalty)
}

// beamSearch is transformers' _beam_search with BeamSearchScorer (one returned sequence
// per source): log-softmax, processors, plus the beam's running score, the top
// 2·num_beams candidates over all beams of a source; EOS candidates among the top
// num_beams become finished hypotheses, the others continue.
func (m *Model) beamSearch(enc, mask *ts.Tensor, cfg GenerationConfig) Generated {
	beams, maxLen := cfg.NumBeams, cfg.maxLength()
	batch := enc.MustSize()[0]
	rows := batch * beams
	encB := repeatRows(enc, beams)
	defer encB.MustDrop()
	var maskB *ts.Tensor
	if mask != nil {
		maskB = repeatRows(mask, beams)
		defer maskB.MustDrop()
	}
	cache := m.NewCache(encB, maskB)
	defer cache.Free()

	seqs := startSequences(rows, cfg.DecoderStartTokenID)
	// Only the first beam of a source is live at first: the others start at −1e9 so
	// that the first step does not pick the same token num_beams times.
	beamScores := make([]float32, rows)
	for r := range beamScores {
		if r%int(beams) != 0 {
			beamScores[r] = -1e9
		}
	}
	hyps := make([]hypotheses, batch)
	for b := range hyps {
		hyps[b].worst = 1e9
	}
	isDone := make([]bool, batch)
	keep := 2 * beams // max(2, 1 + number of EOS ids) · num_beams
	for {
		scores := m.nextScores(cache, seqs, true)
		vocab := int64(len(scores)) / rows
		for r := range seqs {
			row := scores[int64(r)*vocab : int64(r+1)*vocab]
			cfg.process(seqs[r], row, maxLen)
			for i := range row {
				row[i] += beamScores[r]
			}
		}
		topScores, topIDs := topK(scores, batch, beams*vocab, keep)
		cur := int64(len(seqs[0])) + 1 // length after this step
		nextScores := make([]float32, rows)
		nextTokens := make([]int64, rows)
		nextRows := make([]int64, rows)
		for b := range batch {
			if isDone[b] { // finished: feed padding (from row 0, as transformers does)
				for j := range beams {
					nextScores[b*beams+j], nextTokens[b*beams+j], nextRows[b*beams+j] = 0, cfg.PadTokenID, 0
				}
				continue
			}
			j := int64(0)
			for rank := range keep {
				k := b*keep + rank
				token, row := topIDs[k]%vocab, b*beams+topIDs[k]/vocab
				if token == cfg.EosTokenID {
					if rank < beams {
						hyps[b].add(seqs[row], float64(topScores[k]), cur-1, cfg)
					}
				} else {
					nextScores[b*beams+j], nextTokens[b*beams+j], nextRows[b*beams+j] = topScores[k], token, row
					j++
				}
				if j == beams {
					break
				}
			}
			isDone[b] = isDone[b] || hyps[b].done(float64(topScores[b*keep]), cur-1, maxLen, cfg)
		}
		next := make([][]int64, rows)
		for r := range next {
			next[r] = append(slices.Clone(seqs[nextRows[r]]), nextTokens[r])
		}
		seqs, beamScores = next, nextScores
		cache.Reorder(nextRows)
		if !slices.Contains(isDone, false) || stopAll(seqs, maxLen, cfg.EosTokenID) {
			break
		}
	}
	return finalize(seqs, beamScores, hyps, isDone, maxLen, cfg)
}

// stopAll is the stopping criteria: every row at max_length or ending in EOS.
func stopAll(seqs [][]int64, maxLen, eos int64) bool {
	for _, s := range seqs {
		if int64(len(s)) < maxLen && s[len(s)-1] != eos {
			return false
		}
	}
	return true
}

// topK is torch.topk(sorted, largest) of each of the rows × n score rows, by libtorch
// itself so that ties are broken the same way as in transformers.
func topK(scores []float32, rows, n, k int64) ([]float32, []int64) {
	t := ts.MustOfSlice(scores).MustView([]int64{rows, n}, true)
	vals, idx := t.MustTopk(k, 1, true, true, true)
	defer vals.MustDrop()
	defer idx.MustDrop()
	return vals.Vals().([]float32), idx.Int64Values()
}

// finalize is BeamSearchScorer.finalize: sources not done add their running beams
// as hypotheses; the best hypothesis of each source is returned, followed by EOS if
// shorter than the longest (capped at max_length) and padded with pad_token_id.
func finalize(seqs [][]int64, beamScores []float32, hyps []hypotheses, isDone []bool, maxLen int64, cfg GenerationConfig) Generated {
	beams := cfg.NumBeams
	var out Generated
	longest := 0
	for b := range hyps {
		if !isDone[b] {
			for j := range beams {
				r := int64(b)*beams + j
				hyps[b].add(seqs[r], float64(beamScores[r]), int64(len(seqs[r]))-1, cfg)
			}
		}
		// sorted(..., key=score).pop(): the last of the stably sorted list.
		sorted := slices.Clone(hyps[b].beams)
		sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].score < sorted[j].score })
		best := sorted[len(sorted)-1]
		out.Sequences = append(out.Sequences, best.seq)
		out.Scores = append(out.Scores, best.score)
		longest = max(longest, len(best.seq))
	}
	width := min(int64(longest)+1, maxLen)
	for i, s := range out.Sequences {
		row := slices.Clone(s)
		if int64(len(row)) < width {
			row = append(row, cfg.EosTokenID)
		}
		for int64(len(row)) < width {
			row = append(row, cfg.PadTokenID)
		}
		out.Sequences[i] = row
	}
	return out
}
