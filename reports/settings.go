package reports

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// settings is what SettingsHash covers: everything that determines a run's numbers
// apart from the code and the machine. Paths are left out (the same files sit in other
// folders on other machines); their contents are in by SHA-256. A file without a hash
// (built-in synthetic data) is identified by its path and size.
type settings struct {
	Suite           string         `json:"suite"`
	Task            string         `json:"task"`
	Method          string         `json:"method"`
	Seed            int64          `json:"seed"`
	MethodSettings  map[string]any `json:"method_settings"`
	Hyperparameters map[string]any `json:"hyperparameters"`
	Model           modelID        `json:"model"`
	Data            []dataID       `json:"data"`
}

type modelID struct {
	Name, Revision, ConfigSHA256, WeightsSHA256 string
}

type dataID struct {
	Role, SHA256, Path string
	Bytes              int64
	Examples           int
}

// SettingsHash is the hex SHA-256 of r's settings (suite, task, method, seed, method
// settings, hyperparameters, model and data identities) as canonical JSON: encoding/json
// sorts map keys, so equal settings give equal bytes.
func SettingsHash(r Record) (string, error) {
	s := settings{
		Suite: r.Suite, Task: r.Task, Method: r.Method, Seed: r.Seed,
		MethodSettings: r.MethodSettings, Hyperparameters: r.Hyperparameters,
		Model: modelID{r.Model.Name, r.Model.Revision, r.Model.ConfigSHA256, r.Model.WeightsSHA256},
	}
	for _, d := range r.Data {
		id := dataID{Role: d.Role, SHA256: d.SHA256, Bytes: d.Bytes, Examples: d.Examples}
		if d.SHA256 == "" {
			id.Path = d.Path
		}
		s.Data = append(s.Data, id)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:]), nil
}
