package scoremap

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestMarshalWritesNaNAsNull(t *testing.T) {
	for _, c := range []struct {
		name string
		m    Map
		want string
	}{
		{"nil", nil, "null"},
		{"empty", Map{}, "{}"},
		// Sorted keys and Go's float text, as encoding/json writes a map[string]float64.
		{"defined and undefined", Map{"spearman": 0.25, "pearson": math.NaN(), "a": 1e-7}, `{"a":1e-7,"pearson":null,"spearman":0.25}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := json.Marshal(c.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("Marshal = %s, want %s", got, c.want)
			}
		})
	}
}

func TestMarshalMatchesEncodingJSONForFiniteMaps(t *testing.T) {
	plain := map[string]float64{"x": 0.1 + 0.2, "y": 123456789012, "z": -0.0, "w": 1e21}
	want, err := json.Marshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(Map(plain))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("Marshal = %s, encoding/json writes %s", got, want)
	}
}

func TestMarshalRefusesInfinity(t *testing.T) {
	_, err := json.Marshal(Map{"f1": math.Inf(1)})
	if err == nil || !strings.Contains(err.Error(), `score "f1" is +Inf`) {
		t.Errorf("Marshal: %v, want an error naming f1", err)
	}
}

func TestUnmarshalReadsNullAsNaN(t *testing.T) {
	var m Map
	if err := json.Unmarshal([]byte(`{"pearson": null, "spearman": 0.5}`), &m); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(m["pearson"]) || m["spearman"] != 0.5 || len(m) != 2 {
		t.Errorf("Unmarshal = %v, want pearson undefined and spearman 0.5", m)
	}
	if err := json.Unmarshal([]byte(`{"f1": "high"}`), &m); err == nil {
		t.Error("a string score was accepted")
	}
	var n Map
	if err := json.Unmarshal([]byte(`null`), &n); err != nil || n != nil {
		t.Errorf("null map: %v, %v", n, err)
	}
}

func TestString(t *testing.T) {
	if got, want := (Map{"b": math.NaN(), "a": 0.5}).String(), "{a: 0.5, b: undefined}"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
