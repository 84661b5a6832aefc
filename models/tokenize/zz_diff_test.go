package tokenize

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestDiffRandom(t *testing.T) {
	raw, err := os.ReadFile("/tmp/diffz/ref.json")
	if err != nil {
		t.Skip()
	}
	var refs map[string]struct {
		File  string             `json:"file"`
		Cases []unigramReference `json:"cases"`
	}
	json.Unmarshal(raw, &refs)
	for _, name := range []string{"trained", "spm", "lower_punct", "bytes"} {
		tk, err := Load(filepath.Join("testdata", "unigram", refs[name].File))
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for _, r := range refs[name].Cases {
			b := ""
			if r.Pair != nil {
				b = *r.Pair
			}
			got, err := tk.Encode(r.Text, b, r.Pair != nil, r.MaxLen)
			if err != nil {
				if r.MaxLen > 0 && r.MaxLen < 2+2*len(b)/len(b+" ") {
					continue
				}
				t.Logf("%s err %q %q %d: %v", name, r.Text, b, r.MaxLen, err)
				bad++
				continue
			}
			if !slices.Equal(got.IDs, r.IDs) || !slices.Equal(got.TypeIDs, r.TypeIDs) || !slices.Equal(got.Offsets, r.Offsets) {
				bad++
				if bad <= 6 {
					t.Logf("%s %q / %q (max %d):\n got %v %v\nwant %v %v %q", name, r.Text, b, r.MaxLen, got.IDs, got.Offsets, r.IDs, r.Offsets, r.Tokens)
				}
			}
		}
		t.Logf("%s: %d/%d differ", name, bad, len(refs[name].Cases))
	}
}
