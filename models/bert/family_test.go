package bert

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
	"github.com/vectorfit/harness/models/safetensors"
)

// Fixtures of scripts/fixtures/gen_roberta_span.py.
const (
	robertaFixtures = "../testdata/roberta"
	bertQAFixtures  = "../testdata/bert_qa"
)

// RobertaForSequenceClassification, eval mode, on right-padded pairs (pad id 1): the
// positions count from padding_idx+1 over real tokens, the single token type is added
// everywhere, and the head is dense → tanh → out_proj on <s>.
func TestRobertaMatchesTransformers(t *testing.T) {
	m, rep, err := Load(robertaFixtures, Classification, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NewlyInitialised) != 0 || len(rep.Ignored) != 0 {
		t.Fatalf("fixture loads exactly: newly initialised %v, ignored %v", rep.NewlyInitialised, rep.Ignored)
	}
	if m.Config.PadTokenID != 1 || m.Config.TypeVocabSize != 1 || m.NumLabels() != 3 {
		t.Fatalf("config read as pad %d, type vocab %d, labels %d; want 1, 1, 3",
			m.Config.PadTokenID, m.Config.TypeVocabSize, m.NumLabels())
	}
	m.SetTraining(false)
	io := compare.LoadIO(t, robertaFixtures)
	b := models.Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"]}

	pos := m.positionIDs(b.InputIDs, b.InputIDs.MustSize()[1])
	if got, want := pos.Int64Values(), io["position_ids"].Int64Values(); !slices.Equal(got, want) {
		t.Errorf("position ids %v, want %v", got, want)
	}
	compare.HiddenStates(t, m.HiddenStates(b), io, "", 1e-4)
	compare.Close(t, "last_hidden_state", m.Encode(b), io["last_hidden_state"], 1e-4)
	compare.Close(t, "logits", m.Forward(b), io["logits"], 1e-4)
}

// With type_vocab_size 1 there is one token type: ids a BERT-style pair encoding would
// give (1 on the second segment) must not index past it, and change nothing.
func TestRobertaIgnoresTokenTypes(t *testing.T) {
	m, _, err := Load(robertaFixtures, Classification, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	m.SetTraining(false)
	io := compare.LoadIO(t, robertaFixtures)
	ones := ts.MustOnes(io["input_ids"].MustSize(), gotch.Int64, gotch.CPU)
	defer ones.MustDrop()
	b := models.Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], TokenTypeIDs: ones}
	compare.Close(t, "logits with token types 1", m.Forward(b), io["logits"], 1e-4)
}

// BertForQuestionAnswering: Forward with the Span head gives batch × seq × 2, start
// logits in [..., 0] and end logits in [..., 1].
func TestSpanHeadMatchesTransformers(t *testing.T) {
	m, rep, err := Load(bertQAFixtures, Span, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NewlyInitialised) != 0 {
		t.Fatalf("fixture has qa_outputs, yet %v were initialised", rep.NewlyInitialised)
	}
	m.SetTraining(false)
	io := compare.LoadIO(t, bertQAFixtures)
	b := models.Batch{InputIDs: io["input_ids"], AttentionMask: io["attention_mask"], TokenTypeIDs: io["token_type_ids"]}
	compare.HiddenStates(t, m.HiddenStates(b), io, "", 1e-4)
	compare.Close(t, "last_hidden_state", m.Encode(b), io["last_hidden_state"], 1e-4)
	out := m.Forward(b)
	if got := out.MustSize(); len(got) != 3 || got[0] != 3 || got[1] != 12 || got[2] != 2 {
		t.Fatalf("span logits are %v, want [3 12 2]", got)
	}
	compare.Close(t, "start_logits", out.MustSelect(2, 0, false), io["start_logits"], 1e-4)
	compare.Close(t, "end_logits", out.MustSelect(2, 1, false), io["end_logits"], 1e-4)
}

// A base BERT checkpoint (pooler and pre-training head, no qa_outputs) loads into the span
// model, as BertForQuestionAnswering.from_pretrained("bert-base-uncased") does: the pooler
// it has no use for is ignored, qa_outputs is fresh.
func TestSpanFromBaseCheckpoint(t *testing.T) {
	ckpt, err := safetensors.Load(filepath.Join(fixtures, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(filepath.Join(fixtures, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	delete(ckpt, "classifier.weight")
	delete(ckpt, "classifier.bias")
	_, rep, err := FromTensors(c, Span, ckpt, "model.safetensors", 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rep.NewlyInitialised, ","); got != "qa_outputs.weight,qa_outputs.bias" {
		t.Errorf("NewlyInitialised = %v", rep.NewlyInitialised)
	}
	if got := strings.Join(rep.Ignored, ","); got != "bert.pooler.dense.bias,bert.pooler.dense.weight" {
		t.Errorf("Ignored = %v", rep.Ignored)
	}
}

// A RoBERTa checkpoint under a BERT configuration is an error naming what is missing and
// what is unexpected, and hints at the model type, not a panic or a silent load.
func TestRobertaCheckpointAsBertConfig(t *testing.T) {
	ckpt, err := safetensors.Load(filepath.Join(robertaFixtures, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{robertaAsBert(t), bertFixtureConfig(t)} {
		_, _, err = FromTensors(c, Classification, ckpt, "roberta/model.safetensors", 1)
		if err == nil {
			t.Fatalf("a RoBERTa checkpoint loaded under a BERT config (type vocab %d)", c.TypeVocabSize)
		}
		for _, want := range []string{
			"roberta/model.safetensors",
			"missing tensors: bert.embeddings.word_embeddings.weight",
			"unexpected tensors: classifier.dense.bias, classifier.dense.weight, classifier.out_proj.bias",
			"roberta.embeddings.word_embeddings.weight",
			`tensors are named "roberta.*", the config says model_type "bert"`,
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
	}
}

// The other way round: a BERT checkpoint under a RoBERTa configuration.
func TestBertCheckpointAsRobertaConfig(t *testing.T) {
	ckpt, err := safetensors.Load(filepath.Join(fixtures, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	c := bertFixtureConfig(t)
	c.ModelType = "roberta"
	_, _, err = FromTensors(c, Classification, ckpt, "bert/model.safetensors", 1)
	if err == nil {
		t.Fatal("a BERT checkpoint loaded under a RoBERTa config")
	}
	for _, want := range []string{
		"missing tensors: roberta.embeddings.word_embeddings.weight",
		"unexpected tensors: bert.embeddings",
		`tensors are named "bert.*", the config says model_type "roberta"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// robertaAsBert is the RoBERTa fixture's config with model_type "bert": the same shapes.
func robertaAsBert(t *testing.T) Config {
	t.Helper()
	c, err := LoadConfig(filepath.Join(robertaFixtures, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	c.ModelType = "bert"
	return c
}

func bertFixtureConfig(t *testing.T) Config {
	t.Helper()
	c, err := LoadConfig(filepath.Join(fixtures, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// all-MiniLM-L6-v2 is a BERT: its BertModel (with pooler) has 22,713,216 parameters, as
// transformers counts them (gen_roberta_span.py prints the count).
func TestMiniLMParameterCount(t *testing.T) {
	c := Config{
		ModelType: "bert", VocabSize: 30522, HiddenSize: 384, NumHiddenLayers: 6,
		NumAttentionHeads: 12, IntermediateSize: 1536, HiddenAct: "gelu",
		MaxPositionEmbeddings: 512, TypeVocabSize: 2, LayerNormEps: 1e-12, NumLabels: 2,
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := ShapeOf(c, Classification)
	if s.BaseParams != 22713216 {
		t.Errorf("MiniLM-L6-H384 BertModel has %d parameters, want 22713216", s.BaseParams)
	}
	// The span head's model has no pooler (BertForQuestionAnswering drops it).
	if got := ShapeOf(c, Span).BaseParams; got != 22565376 {
		t.Errorf("MiniLM-L6-H384 without pooler has %d parameters, want 22565376", got)
	}
	if len(s.Linears) != 6*6 {
		t.Errorf("%d adaptable linears, want 36", len(s.Linears))
	}
	total := int64(0)
	for _, p := range Specs(c, Classification) {
		n := int64(1)
		for _, d := range p.Shape {
			n *= d
		}
		total += n
	}
	// BertForSequenceClassification adds a 2 × 384 classifier and its bias.
	if total != 22713216+2*384+2 {
		t.Errorf("Specs total %d, want %d", total, 22713216+2*384+2)
	}
}

// A config.json without pad_token_id gets the model type's default (BERT 0, RoBERTa 1),
// as BertConfig and RobertaConfig do; a position_embedding_type other than absolute is
// refused rather than silently computed wrong.
func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	write := func(js string) (Config, error) {
		p := filepath.Join(dir, "config.json")
		if err := os.WriteFile(p, []byte(js), 0o644); err != nil {
			t.Fatal(err)
		}
		return LoadConfig(p)
	}
	const shape = `"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
		"intermediate_size": 16, "max_position_embeddings": 20`
	for _, tc := range []struct {
		typ  string
		pad  int64
		tvs  int64
		extr string
	}{
		{"bert", 0, 2, ""}, {"roberta", 1, 2, ""}, {"roberta", 1, 2, `, "pad_token_id": null`},
		{"roberta", 5, 1, `, "pad_token_id": 5, "type_vocab_size": 1`},
	} {
		c, err := write(`{"model_type": "` + tc.typ + `", ` + shape + tc.extr + `}`)
		if err != nil {
			t.Fatal(err)
		}
		if c.PadTokenID != tc.pad || c.TypeVocabSize != tc.tvs {
			t.Errorf("%s%s: pad %d, type vocab %d; want %d, %d", tc.typ, tc.extr, c.PadTokenID, c.TypeVocabSize, tc.pad, tc.tvs)
		}
	}
	_, err := write(`{"model_type": "bert", ` + shape + `, "position_embedding_type": "relative_key"}`)
	if err == nil || !strings.Contains(err.Error(), "position_embedding_type") {
		t.Errorf("relative_key positions: error %v, want one naming position_embedding_type", err)
	}
}
