package train

import (
	"encoding/json"

	"github.com/vectorfit/harness/internal/scoremap"
)

// scoresJSON is Scores with Values as a scoremap.Map: the same JSON layout
// ({"Main", "Values"}) as the default encoding, but an undefined score (NaN, e.g. the
// STS-B correlation of constant predictions) is written null and read back as NaN,
// where encoding/json would refuse to save the checkpoint.
type scoresJSON struct {
	Main   string
	Values scoremap.Map
}

// MarshalJSON writes undefined scores as null.
func (s Scores) MarshalJSON() ([]byte, error) {
	return json.Marshal(scoresJSON{s.Main, s.Values})
}

// UnmarshalJSON reads null scores as undefined (NaN).
func (s *Scores) UnmarshalJSON(data []byte) error {
	var v scoresJSON
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	s.Main, s.Values = v.Main, v.Values
	return nil
}
