package train

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// A checkpoint's history may hold an undefined score (STS-B early on): it must save
// (encoding/json refuses NaN) and read back undefined, not 0.
func TestScoresJSONCarriesUndefined(t *testing.T) {
	in := Eval{Step: 3, Scores: Scores{Main: "pearson", Values: map[string]float64{"pearson": math.NaN(), "spearman": 0.25}}}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"Scores":{"Main":"pearson","Values":{"pearson":null,"spearman":0.25}}`; !strings.Contains(string(raw), want) {
		t.Errorf("JSON %s, want it to contain %s", raw, want)
	}
	var out Eval
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(out.Scores.Values["pearson"]) || out.Scores.Values["spearman"] != 0.25 || out.Scores.Main != "pearson" {
		t.Errorf("read back %+v", out.Scores)
	}
}
