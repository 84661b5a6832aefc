package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/sugarme/gotch"
	"github.com/sugarme/gotch/ts"
)

// rawBytes returns t's elements as the little-endian bytes Save would write.
func rawBytes(t *testing.T, x *ts.Tensor) []byte {
	t.Helper()
	name, ok := dtypeName[x.DType()]
	if !ok {
		t.Fatalf("rawBytes: unsupported dtype %v", x.DType())
	}
	n := dtypes[name].size * int64(x.Numel())
	buf := make([]byte, n)
	if err := copyOut(x, Info{DType: name}, buf); err != nil {
		t.Fatalf("rawBytes: %v", err)
	}
	return buf
}

// testTensors builds one tensor of every supported dtype plus the awkward
// cases: a scalar, a zero-element tensor and a non-contiguous view.
func testTensors(t *testing.T) map[string]*ts.Tensor {
	t.Helper()
	squeeze := func(x *ts.Tensor) *ts.Tensor {
		s, err := x.Squeeze(true)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return map[string]*ts.Tensor{
		// Extreme values, a denormal, an infinity and a NaN: a byte-exact
		// round trip must preserve them all.
		"f32": ts.MustOfSlice([]float32{1.5, -2, 3.25, math.MaxFloat32, float32(math.Inf(-1)), 1e-40}).MustReshape([]int64{2, 3}, true),
		"f64": ts.MustOfSlice([]float64{math.Pi, math.Copysign(0, -1), 1e300, math.NaN()}),
		"f16": ts.MustOfSlice([]float32{0.5, -1, 65504, 1e-3}).MustTotype(gotch.Half, true),
		// BF16 and F16 share an element size: a dtype mix-up would keep the
		// bytes but change the values, which the dtype check below catches.
		"bf16":   ts.MustOfSlice([]float32{0.5, -1, 3e38, 1e-3}).MustTotype(gotch.BFloat16, true),
		"i64":    ts.MustOfSlice([]int64{math.MinInt64, -1, 0, math.MaxInt64}).MustReshape([]int64{2, 2}, true),
		"i32":    ts.MustOfSlice([]int32{math.MinInt32, 7, math.MaxInt32}),
		"i16":    ts.MustOfSlice([]int16{math.MinInt16, 7, math.MaxInt16}),
		"i8":     ts.MustOfSlice([]int8{-128, 0, 127}),
		"u8":     ts.MustOfSlice([]uint8{0, 1, 255}),
		"bool":   ts.MustOfSlice([]bool{true, false, true, true}),
		"scalar": squeeze(ts.MustOfSlice([]float32{7.25})),
		"empty":  ts.MustZeros([]int64{0, 3}, gotch.Float, gotch.CPU),
		// A transposed view: Save must write it in logical row-major order.
		"transposed": ts.MustArange(ts.IntScalar(6), gotch.Float, gotch.CPU).MustReshape([]int64{2, 3}, true).MustTranspose(0, 1, true),
	}
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rt.safetensors")
	in := testTensors(t)
	if in["transposed"].MustIsContiguous() {
		t.Fatal("test setup: transposed tensor should not be contiguous")
	}
	meta := map[string]string{"format": "pt", "note": `quotes " and <html> & unicode é`}

	// Save twice: the second call overwrites the first file atomically.
	for i := 0; i < 2; i++ {
		if err := Save(path, in, meta); err != nil {
			t.Fatalf("Save: %v", err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries after Save, want only the file (no temp files left)", len(entries))
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(raw); n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}

	infos, gotMeta, err := Header(path)
	if err != nil {
		t.Fatalf("Header: %v", err)
	}
	if !reflect.DeepEqual(gotMeta, meta) {
		t.Errorf("metadata = %v, want %v", gotMeta, meta)
	}
	if len(infos) != len(in) {
		t.Errorf("Header lists %d tensors, want %d", len(infos), len(in))
	}
	// Names sorted: in name order, each tensor starts where the previous ends.
	names := make([]string, 0, len(infos))
	for name := range infos {
		names = append(names, name)
	}
	sort.Strings(names)
	// The dtype names Python expects; F16 and BF16 are checked against their
	// IEEE bit patterns too, since a swapped mapping would still round-trip.
	wantDType := map[string]string{"f32": "F32", "f64": "F64", "f16": "F16", "bf16": "BF16", "i64": "I64", "i32": "I32",
		"i16": "I16", "i8": "I8", "u8": "U8", "bool": "BOOL", "scalar": "F32", "empty": "F32", "transposed": "F32"}
	for name, want := range wantDType {
		if got := infos[name].DType; got != want {
			t.Errorf("%q saved as %s, want %s", name, got, want)
		}
	}
	if b := rawBytes(t, in["f16"])[:2]; !bytes.Equal(b, []byte{0x00, 0x38}) { // 0.5 in binary16
		t.Errorf("f16 0.5 encoded as % x, want 00 38", b)
	}
	if b := rawBytes(t, in["bf16"])[:2]; !bytes.Equal(b, []byte{0x00, 0x3f}) { // 0.5 in bfloat16
		t.Errorf("bf16 0.5 encoded as % x, want 00 3f", b)
	}
	if i := infos["scalar"]; len(i.Shape) != 0 || i.Offsets[1]-i.Offsets[0] != 4 {
		t.Errorf("scalar saved as %+v, want shape [] and 4 bytes", i)
	}

	var end int64
	for _, name := range names {
		if o := infos[name].Offsets; o[0] != end {
			t.Errorf("%q stored at %v, want it to start at %d (tensors in sorted name order)", name, o, end)
		}
		end = infos[name].Offsets[1]
	}

	out, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(out) != len(in) {
		t.Errorf("Load returned %d tensors, want %d", len(out), len(in))
	}
	for name, want := range in {
		got, ok := out[name]
		if !ok {
			t.Errorf("%q missing after Load", name)
			continue
		}
		if got.DType() != want.DType() {
			t.Errorf("%q: dtype %v, want %v", name, got.DType(), want.DType())
		}
		if gs, ws := got.MustSize(), want.MustSize(); !reflect.DeepEqual(gs, ws) {
			t.Errorf("%q: shape %v, want %v", name, gs, ws)
		}
		if !reflect.DeepEqual(infos[name].Shape, want.MustSize()) {
			t.Errorf("%q: Header shape %v, want %v", name, infos[name].Shape, want.MustSize())
		}
		if gb, wb := rawBytes(t, got), rawBytes(t, want); !bytes.Equal(gb, wb) {
			t.Errorf("%q: bytes % x, want % x", name, gb, wb)
		}
	}

	// A few values checked through gotch's own conversions, independently of copyOut.
	if v := out["i64"].Int64Values(); !reflect.DeepEqual(v, []int64{math.MinInt64, -1, 0, math.MaxInt64}) {
		t.Errorf("i64 values = %v", v)
	}
	if v := out["transposed"].Float64Values(); !reflect.DeepEqual(v, []float64{0, 3, 1, 4, 2, 5}) {
		t.Errorf("transposed values = %v, want [0 3 1 4 2 5]", v)
	}
	if v := out["f16"].Float64Values(); !reflect.DeepEqual(v[:3], []float64{0.5, -1, 65504}) {
		t.Errorf("f16 values = %v", v)
	}
	if v := out["scalar"].Float64Values(); !reflect.DeepEqual(v, []float64{7.25}) {
		t.Errorf("scalar values = %v", v)
	}
	if v := out["bool"].Int64Values(); !reflect.DeepEqual(v, []int64{1, 0, 1, 1}) {
		t.Errorf("bool values = %v", v)
	}
	for _, m := range []map[string]*ts.Tensor{in, out} {
		for _, x := range m {
			x.MustDrop()
		}
	}
}

// TestSaveBytes pins the exact layout: sorted names, metadata first, space
// padding to 8 bytes, little-endian data.
func TestSaveBytes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.safetensors")
	x := ts.MustOfSlice([]float32{1, 2})
	defer x.MustDrop()
	if err := Save(path, map[string]*ts.Tensor{"x": x}, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hdr := `{"__metadata__":{"a":"b"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} ` // 79 + 1 pad
	want := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	want = append(want, hdr...)
	want = binary.LittleEndian.AppendUint32(want, math.Float32bits(1))
	want = binary.LittleEndian.AppendUint32(want, math.Float32bits(2))
	if !bytes.Equal(got, want) {
		t.Errorf("file bytes\n got %q\nwant %q", got, want)
	}
}

func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.safetensors")
	ok := ts.MustOfSlice([]float32{1})
	defer ok.MustDrop()
	cplx := ts.MustZeros([]int64{2}, gotch.ComplexFloat, gotch.CPU)
	defer cplx.MustDrop()
	dropped := ts.MustOfSlice([]float32{1})
	dropped.MustDrop()

	cases := []struct {
		name    string
		tensors map[string]*ts.Tensor
		meta    map[string]string
		path    string
		want    string
	}{
		{"nil tensor", map[string]*ts.Tensor{"a": nil}, nil, path, `"a" is nil`},
		{"dropped tensor", map[string]*ts.Tensor{"a": dropped}, nil, path, `"a" is nil or already dropped`},
		{"reserved name", map[string]*ts.Tensor{metadataKey: ok}, nil, path, "reserved"},
		{"complex dtype", map[string]*ts.Tensor{"c": cplx}, nil, path, `"c" has dtype`},
		{"bad utf-8 name", map[string]*ts.Tensor{"\xff": ok}, nil, path, "not valid UTF-8"},
		{"bad utf-8 metadata", map[string]*ts.Tensor{"a": ok}, map[string]string{"k": "\xff"}, path, "not valid UTF-8"},
		{"missing folder", map[string]*ts.Tensor{"a": ok}, nil, filepath.Join(dir, "nope", "x.safetensors"), "nope"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Save(c.path, c.tensors, c.meta)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Save error = %v, want one containing %q", err, c.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed saves left %d files behind", len(entries))
	}
}

// file assembles a safetensors file from a header string and data bytes.
func file(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestCorruptFiles(t *testing.T) {
	f32x2 := `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`
	eight := make([]byte, 8)
	cases := []struct {
		name     string
		content  []byte
		key      string // tensor/key the error must name ("" for the file)
		want     string // substring of the message
		loadOnly bool   // Header accepts the file, Load must refuse it
	}{
		{name: "empty file", content: nil, want: "expected at least 8"},
		{name: "short length", content: []byte{1, 2, 3}, want: "expected at least 8"},
		{name: "header longer than file", content: append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), want: "header length 100 is larger than the 2 bytes"},
		{name: "huge header length", content: binary.LittleEndian.AppendUint64(nil, math.MaxUint64), want: "is larger than"},
		{name: "invalid json", content: file(`{"a":{"dtype":"F32",`, nil), key: "a", want: "invalid JSON"},
		{name: "not an object", content: file(`[1,2]`, nil), want: "JSON object"},
		{name: "trailing garbage", content: file(`{} x`, nil), want: "unexpected bytes after"},
		{name: "invalid utf-8", content: file("{\"\xff\":1}", nil), want: "UTF-8"},
		{name: "unknown dtype", content: file(`{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}`, eight), key: "a", want: `unknown dtype "F33"`},
		{name: "missing offsets", content: file(`{"a":{"dtype":"F32","shape":[2]}}`, eight), key: "a", want: `missing or null "data_offsets"`},
		{name: "null shape", content: file(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,8]}}`, eight), key: "a", want: `missing or null "shape"`},
		{name: "unknown field", content: file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, eight), key: "a", want: "unknown field"},
		{name: "entry not an object", content: file(`{"a":[1]}`, eight), key: "a", want: "expected {"},
		{name: "three offsets", content: file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,9]}}`, eight), key: "a", want: "expected 2"},
		{name: "offsets past end", content: file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}}`, eight), key: "a", want: "out of range"},
		{name: "offsets reversed", content: file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, eight), key: "a", want: "out of range"},
		{name: "negative offset", content: file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,8]}}`, eight), key: "a", want: "out of range"},
		{name: "size mismatch", content: file(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight), key: "a", want: "span 8 bytes, expected 12"},
		{name: "negative dim", content: file(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), key: "a", want: "negative dimension"},
		{name: "shape overflow", content: file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight), key: "a", want: "overflows"},
		{name: "overlap", content: file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight), key: "b", want: "overlapping"},
		{name: "gap", content: file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[6,8]}}`, eight), key: "b", want: "leaving a gap"},
		{name: "bytes after last tensor", content: file(f32x2, make([]byte, 12)), want: "tensors end at byte 8 of the data buffer, expected 12"},
		{name: "duplicate tensor", content: file(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, eight), key: "a", want: "twice"},
		{name: "metadata not strings", content: file(`{"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight), key: metadataKey, want: `key "k": expected a string`},
		{name: "bool not 0 or 1", content: file(`{"a":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}`, []byte{1, 2}), key: "a", want: "expected 0 or 1", loadOnly: true},
		{name: "dtype without gotch type", content: file(`{"a":{"dtype":"U16","shape":[4],"data_offsets":[0,8]}}`, eight), key: "a", want: "no libtorch/gotch counterpart", loadOnly: true},
	}
	dir := t.TempDir()
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			if err := os.WriteFile(path, c.content, 0o644); err != nil {
				t.Fatal(err)
			}
			check := func(what string, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("case %d: %s accepted the file, want an error containing %q", i, what, c.want)
				}
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Fatalf("%s: error %v is not a *FormatError", what, err)
				}
				if fe.Path != path || fe.Key != c.key {
					t.Errorf("%s: error names file %q key %q, want %q key %q", what, fe.Path, fe.Key, path, c.key)
				}
				if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
					t.Errorf("%s: error %q, want it to contain %q and the path", what, err, c.want)
				}
			}
			_, _, herr := Header(path)
			if c.loadOnly {
				if herr != nil {
					t.Errorf("Header: %v, want no error (the header is valid)", herr)
				}
			} else {
				check("Header", herr)
			}
			m, lerr := Load(path)
			if m != nil {
				t.Errorf("Load returned tensors along with an error")
			}
			check("Load", lerr)
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.safetensors"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want an os.ErrNotExist", err)
	}
}

// ---- Hugging Face fixtures (scripts/fixtures/gen_bert.py) ----

const fixtures = "../testdata/bert"

// f32 returns the float32 values of x (exactly, as float32 widens to float64 losslessly).
func f32(x *ts.Tensor) []float32 {
	v := x.Float64Values()
	out := make([]float32, len(v))
	for i, f := range v {
		out[i] = float32(f)
	}
	return out
}

func checkTensor(t *testing.T, m map[string]*ts.Tensor, name string, dtype gotch.DType, shape []int64) *ts.Tensor {
	t.Helper()
	x, ok := m[name]
	if !ok {
		t.Fatalf("%q missing", name)
	}
	if x.DType() != dtype {
		t.Errorf("%q: dtype %v, want %v", name, x.DType(), dtype)
	}
	if s := x.MustSize(); !reflect.DeepEqual(s, shape) {
		t.Errorf("%q: shape %v, want %v", name, s, shape)
	}
	return x
}

// The reference numbers below are printed by scripts/fixtures/gen_bert.py
// ("reference values:"); they are float32 values written with 9 significant
// digits, so float32(literal) is the exact stored value.
func TestHFModel(t *testing.T) {
	path := filepath.Join(fixtures, "model.safetensors")
	infos, meta, err := Header(path)
	if err != nil {
		t.Fatal(err)
	}
	if meta["format"] != "pt" {
		t.Errorf("metadata %v, want format=pt (as transformers writes)", meta)
	}
	// 5 embedding tensors + 16 per layer × 2 + pooler 2 + classifier 2.
	if len(infos) != 41 {
		t.Errorf("%d tensors, want 41", len(infos))
	}
	if i := infos["bert.encoder.layer.1.output.dense.weight"]; i.DType != "F32" || !reflect.DeepEqual(i.Shape, []int64{32, 64}) {
		t.Errorf("Header: bert.encoder.layer.1.output.dense.weight = %+v, want F32 [32 64]", i)
	}

	m, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, x := range m {
			x.MustDrop()
		}
	}()
	for _, c := range []struct {
		name  string
		shape []int64
		first []float32
	}{
		{"bert.embeddings.word_embeddings.weight", []int64{99, 32}, []float32{-0.0838854536, -0.0810249001, 0.0816454515}},
		{"bert.embeddings.position_embeddings.weight", []int64{40, 32}, nil},
		{"bert.embeddings.token_type_embeddings.weight", []int64{2, 32}, nil},
		{"bert.embeddings.LayerNorm.weight", []int64{32}, []float32{1.37586915, 0.985573649, 1.0315541}},
		{"bert.encoder.layer.0.attention.self.query.weight", []int64{32, 32}, nil},
		{"bert.encoder.layer.0.attention.self.query.bias", []int64{32}, nil},
		{"bert.encoder.layer.0.attention.output.LayerNorm.bias", []int64{32}, nil},
		{"bert.encoder.layer.0.intermediate.dense.weight", []int64{64, 32}, nil},
		{"bert.encoder.layer.1.output.dense.weight", []int64{32, 64}, []float32{0.137408033, 0.350024819, -0.108943164}},
		{"bert.pooler.dense.weight", []int64{32, 32}, nil},
		{"classifier.weight", []int64{3, 32}, nil},
		{"classifier.bias", []int64{3}, []float32{-0.131155312, 0.116288356, 0.166009977}},
	} {
		x := checkTensor(t, m, c.name, gotch.Float, c.shape)
		if c.first != nil {
			if got := f32(x)[:3]; !reflect.DeepEqual(got, c.first) {
				t.Errorf("%q[:3] = %v, want %v", c.name, got, c.first)
			}
		}
	}
}

func TestHFInputsOutputs(t *testing.T) {
	m, err := Load(filepath.Join(fixtures, "inputs_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, x := range m {
			x.MustDrop()
		}
	}()
	ids := checkTensor(t, m, "input_ids", gotch.Int64, []int64{3, 12}).Int64Values()
	if want := []int64{2, 92, 61, 50, 8, 3, 62, 48, 66, 89, 84, 3}; !reflect.DeepEqual(ids[:12], want) {
		t.Errorf("input_ids[0] = %v, want %v", ids[:12], want)
	}
	if want := []int64{2, 65, 39, 15, 13, 44, 3, 0, 0, 0, 0, 0}; !reflect.DeepEqual(ids[12:24], want) {
		t.Errorf("input_ids[1] = %v, want %v", ids[12:24], want)
	}
	mask := checkTensor(t, m, "attention_mask", gotch.Int64, []int64{3, 12}).Int64Values()
	for row, want := range []int64{12, 7, 9} {
		var sum int64
		for _, v := range mask[row*12 : (row+1)*12] {
			sum += v
		}
		if sum != want {
			t.Errorf("attention_mask row %d sums to %d, want %d", row, sum, want)
		}
	}
	types := checkTensor(t, m, "token_type_ids", gotch.Int64, []int64{3, 12}).Int64Values()
	if want := []int64{0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0}; !reflect.DeepEqual(types[24:], want) {
		t.Errorf("token_type_ids[2] = %v, want %v", types[24:], want)
	}

	for _, c := range []struct {
		name  string
		shape []int64
		first []float32
	}{
		{"hidden_states_0", []int64{3, 12, 32}, []float32{-0.579228044, -0.919926524, 0.884308934}},
		{"last_hidden_state", []int64{3, 12, 32}, []float32{0.472474158, 0.306890935, 0.00159737095}},
		{"pooler_output", []int64{3, 32}, []float32{0.20498617, -0.455182344, -0.328140467}},
		{"logits", []int64{3, 3}, []float32{
			-0.416014373, -0.177401751, 0.290673256,
			-0.413116515, -0.319524229, -0.131877527,
			-0.884683669, -0.223893553, 0.240696654,
		}},
	} {
		x := checkTensor(t, m, c.name, gotch.Float, c.shape)
		if got := f32(x)[:len(c.first)]; !reflect.DeepEqual(got, c.first) {
			t.Errorf("%q[:%d] = %v, want %v", c.name, len(c.first), got, c.first)
		}
	}
}

func TestHFLoRA(t *testing.T) {
	m, err := Load(filepath.Join(fixtures, "lora", "adapter_model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, x := range m {
			x.MustDrop()
		}
	}()
	// PEFT's names: base_model.model.<module>.lora_{A,B}.weight, no adapter name.
	if len(m) != 24 {
		t.Errorf("%d adapter tensors, want 24 (2 layers × 6 linears × A,B)", len(m))
	}
	for name := range m {
		if !strings.HasPrefix(name, "base_model.model.bert.encoder.layer.") ||
			!(strings.HasSuffix(name, ".lora_A.weight") || strings.HasSuffix(name, ".lora_B.weight")) {
			t.Errorf("unexpected adapter tensor %q", name)
		}
	}
	a := checkTensor(t, m, "base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight", gotch.Float, []int64{4, 32})
	if got, want := f32(a)[:3], []float32{0.0564257093, 0.0486709066, 0.0229464602}; !reflect.DeepEqual(got, want) {
		t.Errorf("query lora_A[:3] = %v, want %v", got, want)
	}
	b := checkTensor(t, m, "base_model.model.bert.encoder.layer.1.output.dense.lora_B.weight", gotch.Float, []int64{32, 4})
	if got, want := f32(b)[:3], []float32{0.0239919182, -0.164937228, 0.24049513}; !reflect.DeepEqual(got, want) {
		t.Errorf("output.dense lora_B[:3] = %v, want %v", got, want)
	}
	checkTensor(t, m, "base_model.model.bert.encoder.layer.1.intermediate.dense.lora_B.weight", gotch.Float, []int64{64, 4})
	checkTensor(t, m, "base_model.model.bert.encoder.layer.0.output.dense.lora_A.weight", gotch.Float, []int64{4, 64})

	out, err := Load(filepath.Join(fixtures, "lora_outputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, x := range out {
			x.MustDrop()
		}
	}()
	checkTensor(t, out, "last_hidden_state", gotch.Float, []int64{3, 12, 32})
	logits := checkTensor(t, out, "logits", gotch.Float, []int64{3, 3})
	if got, want := f32(logits)[:3], []float32{-0.676416576, -0.314610988, 0.527290821}; !reflect.DeepEqual(got, want) {
		t.Errorf("lora logits[:3] = %v, want %v", got, want)
	}
	merged := checkTensor(t, out, "lora_merged_logits", gotch.Float, []int64{3, 3})
	if got, want := f32(merged)[:3], []float32{-0.676417232, -0.314610928, 0.527291059}; !reflect.DeepEqual(got, want) {
		t.Errorf("lora_merged_logits[:3] = %v, want %v", got, want)
	}
}

// Save streams: writing eight 8 MiB tensors allocates about one tensor's worth of Go
// memory, not the file's 64 MiB (a fully fine-tuned model's checkpoint would otherwise
// need its size again in RAM).
func TestSaveStreams(t *testing.T) {
	tensors := map[string]*ts.Tensor{}
	for i := range 8 {
		tensors[fmt.Sprintf("w%d", i)] = ts.MustOnes([]int64{2 << 20}, gotch.Float, gotch.CPU)
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := Save(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 20<<20 {
		t.Errorf("Save of 64 MiB allocated %d MiB, want about one 8 MiB tensor and a write buffer", alloc>>20)
	}
	back, err := Load(path)
	if err != nil || len(back) != 8 || !back["w7"].MustEqual(tensors["w7"], false) {
		t.Errorf("read back %d tensors, %v", len(back), err)
	}
}
