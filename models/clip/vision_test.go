package clip

import (
	"fmt"
	"testing"

	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/testmodel/compare"
	"github.com/vectorfit/harness/models"
)

// CLIPModel's vision tower (every hidden state, last_hidden_state, pooled
// post_layernorm class token), text tower, and get_image_features / get_text_features
// equal transformers' on random pixels and ids.
func TestCLIPModelMatchesTransformers(t *testing.T) {
	m, rep, err := Load(fixtureDir("clip"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.NewlyInitialised)+len(rep.Ignored) != 0 {
		t.Fatalf("newly initialised %v, ignored %v; want none", rep.NewlyInitialised, rep.Ignored)
	}
	if n := len(m.Linears()); n != 2*6+2*6 {
		t.Errorf("%d linears, want 24 (2 text + 2 vision layers × 6)", n)
	}
	m.SetTraining(false)
	io := compare.LoadIO(t, fixtureDir("clip"))
	var v VisionOutput
	var states []*ts.Tensor
	var text TextOutput
	var img, txt *ts.Tensor
	models.NoGrad(func() {
		v, states = m.VisionHiddenStates(io["pixel_values"])
		text = m.Text(io["input_ids"], nil)
		img = m.ImageFeatures(io["pixel_values"])
		txt = m.TextFeatures(io["input_ids"], nil)
	})
	var want []*ts.Tensor
	for i := range len(states) {
		want = append(want, io[fmt.Sprintf("vision_hidden_states_%d", i)])
	}
	if want[len(want)-1] == nil || io[fmt.Sprintf("vision_hidden_states_%d", len(states))] != nil {
		t.Fatalf("%d vision states, the fixture has another number", len(states))
	}
	compare.Layers(t, "vision", states, want, tol)
	compare.Close(t, "vision_last_hidden_state", v.LastHiddenState, io["vision_last_hidden_state"], tol)
	compare.Close(t, "vision_pooler_output", v.Pooled, io["vision_pooler_output"], tol)
	compare.Close(t, "text_last_hidden_state", text.LastHiddenState, io["text_last_hidden_state"], tol)
	compare.Close(t, "text_pooler_output", text.Pooled, io["text_pooler_output"], tol)
	compare.Close(t, "image_embeds", img, io["image_embeds"], tol)
	compare.Close(t, "text_embeds", txt, io["text_embeds"], tol)
}
