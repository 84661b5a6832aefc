package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/bits"
	"os"
	"runtime"
	"slices"
	"testing"
)

// The fuzz targets feed arbitrary bytes to the reader as if they were a whole
// file. Their seed corpus (the small real files below, the hand-made edge cases
// and whatever testdata/fuzz/<Target> holds) runs as a plain test in `go test`;
// `go test -run '^$' -fuzz FuzzHeader -fuzztime 45s -parallel 1 .` searches for
// more.

const fuzzPath = "fuzz.safetensors"

// fuzzSeeds are a real file written by Python's safetensors (168 bytes: larger
// ones make each new input's minimisation crawl) and hand-made files at the edges
// of the format.
func fuzzSeeds(f *testing.F) {
	b, err := os.ReadFile("../testdata/vit/lora_outputs.safetensors")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	eight := make([]byte, 8)
	for _, b := range [][]byte{
		// Laid out as Python writes a model: metadata, several dtypes, header
		// padded with spaces to a multiple of 8.
		file(`{"__metadata__":{"format":"pt"},"h":{"dtype":"F32","shape":[1,2,2],"data_offsets":[0,16]},"ids":{"dtype":"I64","shape":[1,2],"data_offsets":[16,32]},"logits":{"dtype":"F16","shape":[1,3],"data_offsets":[32,38]},"m":{"dtype":"BOOL","shape":[2],"data_offsets":[38,40]}}     `,
			append(make([]byte, 38), 1, 0)),
		nil,
		{1, 2, 3},
		binary.LittleEndian.AppendUint64(nil, math.MaxUint64),
		binary.LittleEndian.AppendUint64(nil, 1<<40), // claims a 1 TB header
		file(`{}`, nil),
		file(`{"__metadata__":{"format":"pt"}}`, nil),
		file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight),
		file(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, eight),
		file(`{"a":{"dtype":"BOOL","shape":[2,1],"data_offsets":[0,2]}}`, []byte{0, 1}),
		file(`{"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}`, eight),
		file(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, eight),
		file(`{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}`, eight),
		// Zero-element tensors whose other dimensions are huge: nothing to
		// read, but the shape must still reach libtorch intact.
		file(`{"a":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]}}`, nil),
		file(`{"a":{"dtype":"F64","shape":[9223372036854775807,0,9223372036854775807],"data_offsets":[0,0]}}`, nil),
		// Sizes that claim far more than the file holds.
		file(`{"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}`, eight),
		file(`{"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight),
		file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,9223372036854775807]}}`, eight),
		file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,1e400]}}`, eight),
		file(`{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}`, eight),
		file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight),
		file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}        ", eight),
	} {
		f.Add(b)
	}
}

// FuzzHeader checks that readHeader never panics, reports bad input as a
// *FormatError naming the file (or an I/O error), and that a header it accepts
// describes tensors that tile the data buffer exactly, each the size its
// dtype and shape say.
func FuzzHeader(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := readHeader(bytes.NewReader(data), int64(len(data)), fuzzPath)
		if err != nil {
			checkFuzzError(t, err)
			return
		}
		if h.dataLen > int64(len(data)) {
			t.Fatalf("data buffer of %d bytes in a %d-byte file", h.dataLen, len(data))
		}
		var end int64
		for _, name := range h.names {
			info := h.infos[name]
			if info.Offsets[0] != end {
				t.Fatalf("%q begins at %d, the previous tensor ends at %d", name, info.Offsets[0], end)
			}
			n, ok := numBytes(info)
			if !ok || n != info.Offsets[1]-info.Offsets[0] {
				t.Fatalf("%q: %s %v spans %v", name, info.DType, info.Shape, info.Offsets)
			}
			end = info.Offsets[1]
		}
		if end != h.dataLen || len(h.names) != len(h.infos) {
			t.Fatalf("tensors end at %d of %d bytes; %d names, %d infos", end, h.dataLen, len(h.names), len(h.infos))
		}
	})
}

// FuzzLoad runs the whole reader, libtorch tensor construction included, and
// checks that every tensor it returns has the dtype and shape of its header
// entry.
func FuzzLoad(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := load(bytes.NewReader(data), int64(len(data)), fuzzPath)
		if err != nil {
			if m != nil {
				t.Fatal("tensors returned along with an error")
			}
			checkFuzzError(t, err)
			return
		}
		h, err := readHeader(bytes.NewReader(data), int64(len(data)), fuzzPath)
		if err != nil {
			t.Fatalf("load accepted a file readHeader refuses: %v", err)
		}
		for name, x := range m {
			info := h.infos[name]
			shape, err := x.Size()
			if err != nil || !slices.Equal(shape, info.Shape) || x.DType() != dtypes[info.DType].gotch {
				t.Fatalf("%q: tensor %v %v (%v), header says %s %v", name, x.DType(), shape, err, info.DType, info.Shape)
			}
			x.MustDrop()
		}
		if len(m) != len(h.names) {
			t.Fatalf("%d tensors, header lists %d", len(m), len(h.names))
		}
	})
}

// checkFuzzError insists on errors that name the file.
func checkFuzzError(t *testing.T, err error) {
	t.Helper()
	var fe *FormatError
	if errors.As(err, &fe) && fe.Path != fuzzPath {
		t.Fatalf("error names %q, want %q: %v", fe.Path, fuzzPath, err)
	}
	if !bytes.Contains([]byte(err.Error()), []byte(fuzzPath)) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

// numBytes is an independent count of a tensor's bytes: element size × every
// dimension, false on overflow.
func numBytes(info Info) (int64, bool) {
	size := map[string]uint64{"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4,
		"F16": 2, "BF16": 2, "I16": 2, "U16": 2, "I8": 1, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}[info.DType]
	if size == 0 {
		return 0, false
	}
	n := size
	for _, d := range info.Shape {
		if d < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return int64(n), true
}

// Sizes a file declares are checked against its real size before anything that large
// is allocated: a 16-byte file claiming a 100 MB header (the largest the limit allows)
// or a 4 TB tensor costs next to no memory to refuse.
func TestClaimedSizesNotAllocated(t *testing.T) {
	for _, data := range [][]byte{
		append(binary.LittleEndian.AppendUint64(nil, maxHeaderSize), "{}      "...),
		file(`{"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}}`, make([]byte, 8)),
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := load(bytes.NewReader(data), int64(len(data)), fuzzPath)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("%q accepted", data)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("refusing a %d-byte file allocated %d bytes: %v", len(data), n, err)
		}
	}
}
