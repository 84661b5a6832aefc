package bart

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/models"
)

// generateFixture is generate.json of scripts/fixtures/gen_bart_generate.py.
type generateFixture struct {
	InputIDs      [][]int64 `json:"input_ids"`
	AttentionMask [][]int64 `json:"attention_mask"`
	Cases         []struct {
		Name            string                     `json:"name"`
		Overrides       map[string]json.RawMessage `json:"overrides"`
		EosBias         float32                    `json:"eos_bias"`
		Sequences       [][]int64                  `json:"sequences"`
		SequencesScores []float64                  `json:"sequences_scores"`
		RowsEndingEarly int                        `json:"rows_ending_early"`
	} `json:"cases"`
}

func readGenerateFixture(t *testing.T, name string) generateFixture {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(fixtureDir(name), "generate.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f generateFixture
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func matrix(rows [][]int64) *ts.Tensor {
	flat := slices.Concat(rows...)
	return ts.MustOfSlice(flat).MustView([]int64{int64(len(rows)), int64(len(rows[0]))}, true)
}

// withOverrides applies generate()'s keyword arguments to the folder's defaults. null
// clears a forced token.
func withOverrides(t *testing.T, g GenerationConfig, over map[string]json.RawMessage) GenerationConfig {
	t.Helper()
	raw, _ := json.Marshal(over)
	var j generationJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		t.Fatal(err)
	}
	j.apply(&g)
	if _, ok := over["forced_bos_token_id"]; ok {
		g.ForcedBosTokenID = j.ForcedBosTokenID
	}
	if _, ok := over["forced_eos_token_id"]; ok {
		g.ForcedEosTokenID = j.ForcedEosTokenID
	}
	for k := range over {
		if !slices.Contains(knownOverrides, k) {
			t.Fatalf("override %q not applied by this test", k)
		}
	}
	return g
}

var knownOverrides = []string{"max_length", "max_new_tokens", "min_length", "num_beams", "length_penalty",
	"early_stopping", "no_repeat_ngram_size", "forced_bos_token_id", "forced_eos_token_id"}

// Greedy and beam search equal transformers' generate() token for token on both tiny
// checkpoints, for every setting of the fixture (defaults from generation_config.json,
// overrides as generate()'s keyword arguments); beam scores within 1e-4.
func TestGenerateMatchesTransformers(t *testing.T) {
	endedEarly := 0
	for _, name := range fixtureNames {
		f := readGenerateFixture(t, name)
		m, _ := loadFixture(t, name)
		defaults, err := LoadGeneration(fixtureDir(name))
		if err != nil {
			t.Fatal(err)
		}
		ids, mask := matrix(f.InputIDs), matrix(f.AttentionMask)
		bias := m.bias
		for _, c := range f.Cases {
			endedEarly += c.RowsEndingEarly
			t.Run(name+"/"+c.Name, func(t *testing.T) {
				cfg := withOverrides(t, defaults, c.Overrides)
				// The fixture's copy of the model with final_logits_bias[eos] raised.
				m.bias = bias.MustMulScalar(ts.FloatScalar(1), false) // a copy
				defer func() { m.bias.MustDrop(); m.bias = bias }()
				if c.EosBias != 0 {
					eos := m.bias.MustNarrow(1, m.Config.EosTokenID, 1, false)
					eos.MustAddScalar_(ts.FloatScalar(float64(c.EosBias)))
					eos.MustDrop()
				}
				got, err := m.GenerateScored(ids, mask, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(got.Sequences, c.Sequences, slices.Equal) {
					t.Fatalf("sequences\n got %v\nwant %v", got.Sequences, c.Sequences)
				}
				if len(got.Scores) != len(c.SequencesScores) {
					t.Fatalf("%d scores, want %d", len(got.Scores), len(c.SequencesScores))
				}
				for i, s := range c.SequencesScores {
					if math.Abs(got.Scores[i]-s) > tol {
						t.Errorf("sequence score %d = %g, want %g", i, got.Scores[i], s)
					}
				}
			})
		}
	}
	if endedEarly == 0 {
		t.Error("no fixture row ends in EOS before max_length: EOS handling is untested")
	}
}

// A cached decoder step gives the logits of the full forward pass (itself equal to
// transformers) at every position, with padded sources and repeated rows.
func TestCacheStepMatchesForward(t *testing.T) {
	m, io := loadFixture(t, "scaled")
	ids, mask, dec := io["input_ids"], io["attention_mask"], io["decoder_input_ids"]
	models.NoGrad(func() {
		full := m.Forward(ids, mask, dec, nil)
		enc := m.encode(ids, mask, nil)
		cache := m.NewCache(enc, mask)
		defer cache.Free()
		steps := dec.MustSize()[1]
		for p := range steps {
			tok := dec.MustNarrow(1, p, 1, false)
			got := m.Step(cache, tok)
			want := full.MustSelect(1, p, false)
			d := got.MustSub(want, false).MustAbs(true).MustMax(true).Float64Values()[0]
			if d > 1e-5 {
				t.Fatalf("position %d: cached step differs from the full pass by %g", p, d)
			}
		}
		if cache.Len() != steps {
			t.Fatalf("cache length %d, want %d", cache.Len(), steps)
		}
	})
}

// Reorder moves the self-attention entries with their rows: decoding rows (1, 0) after
// swapping equals decoding them swapped from the start.
func TestCacheReorder(t *testing.T) {
	m, io := loadFixture(t, "base")
	ids, mask := io["input_ids"].MustNarrow(0, 0, 2, false), io["attention_mask"].MustNarrow(0, 0, 2, false)
	swap := ts.MustOfSlice([]int64{1, 0})
	models.NoGrad(func() {
		enc := m.encode(ids, mask, nil)
		// Both rows decode the same source (row 0), so cross-attention needs no reorder.
		same := repeatRows(enc.MustNarrow(0, 0, 1, false), 2)
		sameMask := repeatRows(mask.MustNarrow(0, 0, 1, false), 2)
		a, b := m.NewCache(same, sameMask), m.NewCache(same, sameMask)
		defer a.Free()
		defer b.Free()
		first := ts.MustOfSlice([]int64{5, 9}).MustView([]int64{2, 1}, true)
		m.Step(a, first).MustDrop()
		m.Step(b, first.MustIndexSelect(0, swap, false)).MustDrop()
		a.Reorder([]int64{1, 0})
		next := ts.MustOfSlice([]int64{7, 7}).MustView([]int64{2, 1}, true)
		d := m.Step(a, next).MustSub(m.Step(b, next), true).MustAbs(true).MustMax(true).Float64Values()[0]
		if d != 0 {
			t.Fatalf("reordered cache differs by %g", d)
		}
		// Without the reorder the rows differ (the test can fail).
		c := m.NewCache(same, sameMask)
		defer c.Free()
		m.Step(c, first).MustDrop()
		d = m.Step(c, next).MustSub(m.Step(b, next), true).MustAbs(true).MustMax(true).Float64Values()[0]
		if d == 0 {
			t.Fatal("rows decoded from different first tokens agree: the reorder test tests nothing")
		}
	})
}

// The n-gram ban, hand-checked: with n = 3 after "5 6 7 5 6" the token 7 is banned; with
// n = 2 after "1 2 1" the token 2; no ban before n−1 tokens exist.
func TestBannedNgramTokens(t *testing.T) {
	cases := []struct {
		seq  []int64
		n    int
		want []int64
	}{
		{[]int64{5, 6, 7, 5, 6}, 3, []int64{7}},
		{[]int64{1, 2, 1}, 2, []int64{2}},
		{[]int64{1, 2, 1, 3, 1}, 2, []int64{2, 3}},
		{[]int64{4, 4}, 3, nil},
		{[]int64{3, 5, 3}, 1, []int64{3, 5, 3}},
	}
	for _, c := range cases {
		if got := bannedNgramTokens(c.seq, c.n); !slices.Equal(got, c.want) {
			t.Errorf("bannedNgramTokens(%v, %d) = %v, want %v", c.seq, c.n, got, c.want)
		}
	}
}

// Defaults: generation_config.json unless it was written from the model config; then, as
// for a folder without one, config.json's generation keys (bart-large-xsum's values).
func TestLoadGeneration(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(fixtureDir("base"), "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	xsum := strings.Replace(string(base), `"activation_dropout"`, `"num_beams": 6, "length_penalty": 1.0, "max_length": 62,
  "min_length": 11, "no_repeat_ngram_size": 3, "early_stopping": true, "forced_bos_token_id": 0, "activation_dropout"`, 1)
	want := GenerationConfig{MaxLength: 62, MinLength: 11, NumBeams: 6, LengthPenalty: 1, EarlyStopping: StopEarly,
		NoRepeatNgramSize: 3, DecoderStartTokenID: 2, EosTokenID: 2, PadTokenID: 1,
		ForcedBosTokenID: ptr[int64](0), ForcedEosTokenID: ptr[int64](2)}
	own := GenerationConfig{MaxLength: 30, NumBeams: 2, LengthPenalty: 2, EarlyStopping: StopNever,
		DecoderStartTokenID: 0, EosTokenID: 2, PadTokenID: 2}
	cases := []struct {
		name string
		gen  string // generation_config.json, "" for none
		want GenerationConfig
	}{
		{"config.json only", "", want},
		{"from model config", `{"_from_model_config": true, "num_beams": 1}`, want},
		{"own file", `{"num_beams": 2, "max_length": 30, "length_penalty": 2.0, "early_stopping": "never", "bos_token_id": 0, "eos_token_id": 2}`, own},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, "config.json"), xsum)
			if c.gen != "" {
				write(t, filepath.Join(dir, "generation_config.json"), c.gen)
			}
			got, err := LoadGeneration(dir)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(deref(got)) != fmt.Sprint(deref(c.want)) {
				t.Fatalf("got %+v\nwant %+v", deref(got), deref(c.want))
			}
		})
	}
}

func deref(g GenerationConfig) []any {
	v := func(p *int64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	return []any{g.MaxLength, g.MaxNewTokens, g.MinLength, g.NumBeams, g.LengthPenalty, g.EarlyStopping,
		g.NoRepeatNgramSize, g.DecoderStartTokenID, g.EosTokenID, g.PadTokenID, v(g.ForcedBosTokenID), v(g.ForcedEosTokenID)}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Bad settings and inputs are errors naming the key, not libtorch aborts.
func TestGenerateErrors(t *testing.T) {
	m, io := loadFixture(t, "base")
	good, err := LoadGeneration(fixtureDir("base"))
	if err != nil {
		t.Fatal(err)
	}
	ids, mask := io["input_ids"], io["attention_mask"]
	cases := []struct {
		name string
		edit func(*GenerationConfig)
		ids  *ts.Tensor
		want string
	}{
		{"beams", func(g *GenerationConfig) { g.NumBeams = 0 }, ids, "num_beams = 0, want ≥ 1"},
		{"max length", func(g *GenerationConfig) { g.MaxLength = 1 }, ids, "max_length = 1 (after max_new_tokens), want in [2, max_position_embeddings + 1 = 65]"},
		{"max length long", func(g *GenerationConfig) { g.MaxLength = 66 }, ids, "max_length = 66"},
		{"max new tokens", func(g *GenerationConfig) { g.MaxNewTokens = -1 }, ids, "max_new_tokens = -1, want ≥ 0 (0: unset)"},
		{"min length", func(g *GenerationConfig) { g.MinLength = -1 }, ids, "min_length -1, no_repeat_ngram_size 0: want ≥ 0"},
		{"length penalty", func(g *GenerationConfig) { g.LengthPenalty = math.NaN() }, ids, "length_penalty = NaN, want a finite number"},
		{"early stopping", func(g *GenerationConfig) { g.EarlyStopping = 7 }, ids, "early_stopping = 7"},
		{"eos", func(g *GenerationConfig) { g.EosTokenID = 64 }, ids, "eos_token_id = 64, want in [0, vocab_size 64)"},
		{"forced bos", func(g *GenerationConfig) { g.ForcedBosTokenID = ptr[int64](-1) }, ids, "forced_bos_token_id = -1"},
		{"input id", func(*GenerationConfig) {}, ts.MustOfSlice([]int64{3, 99}).MustView([]int64{1, 2}, true), "input_ids: row 0 position 1 is 99"},
		{"input dtype", func(*GenerationConfig) {}, ts.MustOnes([]int64{1, 2}, gotch.Float, gotch.CPU), "input_ids: want an int64 batch × seq tensor"},
		{"no ids", func(*GenerationConfig) {}, nil, "generate: no input_ids"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := good
			c.edit(&g)
			var mk *ts.Tensor
			if c.ids == ids {
				mk = mask
			}
			_, err := m.Generate(c.ids, mk, g)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	// A generation_config.json with a list of EOS ids or a bad early_stopping.
	for _, gen := range []string{`{"eos_token_id": [2, 3], "bos_token_id": 0}`, `{"early_stopping": "sometimes"}`} {
		dir := t.TempDir()
		raw, _ := os.ReadFile(filepath.Join(fixtureDir("base"), "config.json"))
		write(t, filepath.Join(dir, "config.json"), string(raw))
		write(t, filepath.Join(dir, "generation_config.json"), gen)
		if _, err := LoadGeneration(dir); err == nil || !strings.Contains(err.Error(), "generation_config.json: generation settings") {
			t.Errorf("%s: error %v, want one naming generation_config.json", gen, err)
		}
	}
	for gen, want := range map[string]string{
		`{"bos_token_id": 0}`:                    "generation_config.json: no eos_token_id: generation without an end-of-sequence token is not implemented",
		`{"eos_token_id": 2, "pad_token_id": 1}`: "generation_config.json: neither decoder_start_token_id nor bos_token_id",
	} {
		dir := t.TempDir()
		raw, _ := os.ReadFile(filepath.Join(fixtureDir("base"), "config.json"))
		write(t, filepath.Join(dir, "config.json"), string(raw))
		write(t, filepath.Join(dir, "generation_config.json"), gen)
		if _, err := LoadGeneration(dir); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", gen, err, want)
		}
	}
	if _, err := LoadGeneration(t.TempDir()); err == nil {
		t.Error("a folder without config.json loads")
	}
}

// Generate leaves the model in the training mode it found it in.
func TestGenerateRestoresTraining(t *testing.T) {
	m, io := loadFixture(t, "base")
	g, _ := LoadGeneration(fixtureDir("base"))
	g.MaxLength = 4
	m.SetTraining(true)
	if _, err := m.Generate(io["input_ids"], io["attention_mask"], g); err != nil {
		t.Fatal(err)
	}
	if !m.Training() {
		t.Fatal("Generate left the model in eval mode")
	}
}

// greedyNoCache is greedy search re-running the full decoder on the whole prefix every
// step (no EOS handling, no processors): the quadratic baseline of the benchmark.
func (m *Model) greedyNoCache(ids, mask *ts.Tensor, steps int64) {
	rows := ids.MustSize()[0]
	dec := ts.MustFull([]int64{rows, 1}, ts.IntScalar(m.Config.DecoderStartTokenID), gotch.Int64, gotch.CPU)
	enc := m.encode(ids, mask, nil)
	defer enc.MustDrop()
	for range steps {
		h := m.decode(dec, nil, enc, mask, nil)
		last := h.MustSelect(1, -1, true)
		logits := m.lmHead(last)
		last.MustDrop()
		next := logits.MustArgmax([]int64{-1}, true, true)
		dec = ts.MustCat([]*ts.Tensor{dec, next}, 1)
		next.MustDrop()
	}
	dec.MustDrop()
}

// BenchmarkGenerate prints ms per generated token of greedy search at output lengths
// 16, 32, 64 with the cache and, for comparison, re-running the decoder on the whole
// prefix: with the cache the per-token cost stays about flat, without it it grows with
// the length. A small random model (d_model 512, 2 + 6 layers, vocab 1000, batch 8 ×
// 64 source tokens) keeps it short; no timing is asserted. Run it once per length:
//
//	go test -run '^$' -bench Generate -benchtime 1x ./models/bart/
func BenchmarkGenerate(b *testing.B) {
	c := Tiny(1000)
	c.DModel, c.EncoderLayers, c.DecoderLayers = 512, 2, 6
	c.EncoderFFNDim, c.DecoderFFNDim = 2048, 2048
	c.EncoderAttentionHeads, c.DecoderAttentionHeads = 8, 8
	c.ForcedEosTokenID = nil
	m, err := New(c, 1)
	if err != nil {
		b.Fatal(err)
	}
	m.SetTraining(false)
	src := make([]int64, 8*64)
	for i := range src {
		src[i] = int64(4 + i%900)
	}
	ids := ts.MustOfSlice(src).MustView([]int64{8, 64}, true)
	g := DefaultGeneration(c)
	for _, n := range []int64{16, 32, 64} {
		g.MaxLength = n + 1
		g.MinLength = g.MaxLength // EOS banned: every row has n tokens, as the baseline
		b.Run(fmt.Sprintf("cache/len%d", n), func(b *testing.B) {
			for range b.N {
				start := time.Now()
				if _, err := m.Generate(ids, nil, g); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(n), "ms/token")
			}
		})
		b.Run(fmt.Sprintf("nocache/len%d", n), func(b *testing.B) {
			for range b.N {
				start := time.Now()
				models.NoGrad(func() { m.greedyNoCache(ids, nil, n) })
				b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(n), "ms/token")
			}
		})
	}
}
