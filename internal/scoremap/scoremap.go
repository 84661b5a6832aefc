// Package scoremap is a metric-name → value map whose JSON form carries undefined
// values: NaN (a correlation of constant predictions, a metric on no examples) is
// written as null and read back as NaN. encoding/json refuses NaN outright, and a plain
// map[string]float64 reads null as 0, which would turn "undefined" into a real score.
package scoremap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// Map is metric name → value; NaN means undefined.
type Map map[string]float64

// Defined says whether v is a score (not NaN, the undefined value).
func Defined(v float64) bool { return !math.IsNaN(v) }

// MarshalJSON writes the map with sorted keys, as encoding/json does, NaN as null. An
// infinite value is an error naming its key: no metric is infinite, so it is a bug.
func (m Map) MarshalJSON() ([]byte, error) {
	if m == nil {
		return []byte("null"), nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		name, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(name)
		b.WriteByte(':')
		switch v := m[k]; {
		case math.IsNaN(v):
			b.WriteString("null")
		case math.IsInf(v, 0):
			return nil, fmt.Errorf("score %q is %v: only NaN (undefined, written null) may be non-finite", k, v)
		default:
			// What encoding/json writes for a float64, so that records stay byte-equal.
			num, err := json.Marshal(v)
			if err != nil {
				return nil, err
			}
			b.Write(num)
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object of numbers and nulls (null → NaN); JSON null for the
// whole map leaves it nil.
func (m *Map) UnmarshalJSON(data []byte) error {
	var raw map[string]*float64
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	if raw == nil {
		*m = nil
		return nil
	}
	out := make(Map, len(raw))
	for k, v := range raw {
		if v == nil {
			out[k] = math.NaN()
		} else {
			out[k] = *v
		}
	}
	*m = out
	return nil
}

// String is for messages: "{f1: 0.5, pearson: undefined}".
func (m Map) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		v := "undefined"
		if Defined(m[k]) {
			v = strconv.FormatFloat(m[k], 'g', -1, 64)
		}
		fmt.Fprintf(&b, "%s: %s", k, v)
	}
	b.WriteByte('}')
	return b.String()
}
