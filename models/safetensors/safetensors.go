// Package safetensors reads and writes the Hugging Face safetensors format
// (https://github.com/huggingface/safetensors) to and from gotch tensors,
// without Python and without going through libtorch's own serialisation.
//
// Layout of a file:
//
//	u64 little-endian N | N bytes of JSON header | byte buffer
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets"},
// offsets being relative to the start of the byte buffer, plus an optional
// "__metadata__" object of string to string. Tensor data are little-endian,
// row-major, and (as the reference implementation enforces) the tensors tile
// the buffer exactly: no gaps, no overlaps, nothing after the last one.
//
// All malformed-file conditions are reported as *FormatError values naming the
// file and the offending tensor or key; nothing in this package panics on bad
// input.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"runtime"
	"sort"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/sugarme/gotch"
	lib "github.com/sugarme/gotch/libtch"
	"github.com/sugarme/gotch/ts"

	"github.com/vectorfit/harness/internal/atomicfile"
)

// Info describes one tensor of a safetensors file, as stored in its header.
type Info struct {
	DType   string  // safetensors dtype name: "F32", "I64", "BF16", ...
	Shape   []int64 // row-major dimensions; empty for a scalar
	Offsets [2]int64
	// Offsets are [begin, end) in bytes, relative to the start of the data
	// buffer (i.e. after the 8-byte length and the header).
}

// FormatError reports a file that is not valid safetensors.
type FormatError struct {
	Path string // file name
	Key  string // tensor name or header key concerned; "" for the file as a whole
	Msg  string // what is wrong and what was expected
}

func (e *FormatError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("safetensors: %s: %s", e.Path, e.Msg)
	}
	return fmt.Sprintf("safetensors: %s: %q: %s", e.Path, e.Key, e.Msg)
}

const (
	metadataKey = "__metadata__"
	// maxHeaderSize bounds the JSON header, as the reference implementation
	// does (100 MB), so that a corrupt length cannot make us allocate
	// gigabytes before we even look at the JSON.
	maxHeaderSize = 100_000_000
)

// dtypeInfo is what we know about a safetensors dtype name.
type dtypeInfo struct {
	size  int64       // bytes per element
	gotch gotch.DType // gotch.Invalid: a valid safetensors dtype libtorch/gotch cannot hold
}

// dtypes lists every dtype of the safetensors specification we recognise.
// Header accepts all of them (so the size checks still work on, say, FP8
// checkpoints); Load and Save accept those with a gotch counterpart.
var dtypes = map[string]dtypeInfo{
	"F64":     {8, gotch.Double},
	"F32":     {4, gotch.Float},
	"F16":     {2, gotch.Half},
	"BF16":    {2, gotch.BFloat16},
	"I64":     {8, gotch.Int64},
	"I32":     {4, gotch.Int},
	"I16":     {2, gotch.Int16},
	"I8":      {1, gotch.Int8},
	"U8":      {1, gotch.Uint8},
	"BOOL":    {1, gotch.Bool},
	"U64":     {8, gotch.Invalid},
	"U32":     {4, gotch.Invalid},
	"U16":     {2, gotch.Invalid},
	"F8_E4M3": {1, gotch.Invalid},
	"F8_E5M2": {1, gotch.Invalid},
}

// dtypeName maps gotch dtypes back to safetensors names, for Save.
var dtypeName = func() map[gotch.DType]string {
	m := make(map[gotch.DType]string)
	for name, d := range dtypes {
		if d.gotch != gotch.Invalid {
			m[d.gotch] = name
		}
	}
	return m
}()

// DTypeName is the safetensors name of a gotch dtype ("F32", "I32", "BOOL", ...),
// or gotch's own name for a dtype safetensors cannot store.
func DTypeName(d gotch.DType) string {
	if name, ok := dtypeName[d]; ok {
		return name
	}
	return d.String()
}

// bigEndianHost is true on hosts whose native byte order differs from the
// format's; element bytes are then swapped on the way in and out (libtorch
// stores tensors in native order).
var bigEndianHost = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// Header reads only the header of a safetensors file: the description of each
// tensor, keyed by name, and the "__metadata__" map (empty if absent). The
// header is fully validated against the file size, so a nil error means Load
// will find every tensor's bytes where Header says they are.
func Header(path string) (map[string]Info, map[string]string, error) {
	f, size, err := open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	h, err := readHeader(f, size, path)
	if err != nil {
		return nil, nil, err
	}
	return h.infos, h.metadata, nil
}

// Load reads every tensor of a safetensors file into CPU gotch tensors keyed
// by name, keeping the file's dtype (F64, F32, F16, BF16, I64, I32, I16, I8,
// U8, BOOL). The data buffer is read with a single read and each tensor is
// built with a single copy into libtorch memory. On error no tensors are
// returned (those already built are freed).
func Load(path string) (map[string]*ts.Tensor, error) {
	f, size, err := open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return load(f, size, path)
}

// open opens path for reading and returns its size; only regular files are
// accepted (a FIFO or device has no size to check the header against).
func open(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("safetensors: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, &FormatError{path, "", "not a regular file"}
	}
	return f, st.Size(), nil
}

// load reads a whole safetensors file of size bytes from r; path names it in
// errors. It is Load without the file system, so that the fuzz test can feed
// it bytes.
func load(r io.Reader, size int64, path string) (map[string]*ts.Tensor, error) {
	h, err := readHeader(r, size, path)
	if err != nil {
		return nil, err
	}
	// Refuse unsupported dtypes before reading (possibly gigabytes of) data.
	for _, name := range h.names {
		info := h.infos[name]
		if dtypes[info.DType].gotch == gotch.Invalid {
			return nil, &FormatError{path, name, fmt.Sprintf("dtype %s is valid safetensors but has no libtorch/gotch counterpart; supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL", info.DType)}
		}
	}

	// readHeader has checked that the buffer is exactly the rest of the file,
	// so this allocation is bounded by the file's real size, never by a
	// size the header merely claims.
	buf := make([]byte, h.dataLen)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("safetensors: %s: reading %d data bytes: %w", path, h.dataLen, err)
	}

	out := make(map[string]*ts.Tensor, len(h.names))
	for _, name := range h.names {
		info := h.infos[name]
		t, err := newTensor(buf[info.Offsets[0]:info.Offsets[1]], info, path, name)
		if err != nil {
			// Best-effort cleanup; the error that matters is err.
			for _, t := range out {
				_ = t.Drop()
			}
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// newTensor copies one tensor's little-endian bytes into a new CPU tensor.
func newTensor(data []byte, info Info, path, name string) (*ts.Tensor, error) {
	dt := dtypes[info.DType]
	if info.DType == "BOOL" {
		// libtorch assumes bool bytes are 0 or 1; anything else gives
		// inconsistent results later rather than an error now.
		for i, b := range data {
			if b > 1 {
				return nil, &FormatError{path, name, fmt.Sprintf("BOOL element %d is byte %d, expected 0 or 1", i, b)}
			}
		}
	}
	if bigEndianHost && dt.size > 1 {
		data = swapped(data, dt.size)
	}

	// lib.AtTensorOfData takes &dims[0] but reads only ndims entries, so a
	// scalar (ndims 0) still needs a non-empty slice to point at.
	ndims := uint(len(info.Shape))
	dims := info.Shape
	if ndims == 0 {
		dims = []int64{0}
	}
	// A zero-element tensor has no data to point at, but the C side still
	// receives a pointer (memcpy of 0 bytes); give it a valid one.
	var zero [1]byte
	ptr := unsafe.Pointer(&zero[0])
	if len(data) > 0 {
		ptr = unsafe.Pointer(&data[0])
	}

	// libtorch reports errors through a thread-local; stay on this OS thread
	// between the call and the check. Passing Go memory is allowed here: the
	// bytes hold no Go pointers and at_tensor_of_data copies them (memcpy)
	// without keeping the pointer.
	runtime.LockOSThread()
	c := lib.AtTensorOfData(ptr, dims, ndims, uint(dt.gotch.Size()), int(dt.gotch.CKind()))
	err := ts.TorchErr()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %q: libtorch could not build the tensor: %w", path, name, err)
	}
	return ts.New(c, name), nil
}

// swapped returns a copy of data with the bytes of each size-byte element reversed.
func swapped(data []byte, size int64) []byte {
	out := make([]byte, len(data))
	for i := int64(0); i+size <= int64(len(data)); i += size {
		for j := int64(0); j < size; j++ {
			out[i+j] = data[i+size-1-j]
		}
	}
	return out
}

// header is a parsed, validated header.
type header struct {
	infos    map[string]Info
	metadata map[string]string
	names    []string // tensor names in file order (by offset)
	dataLen  int64    // length of the byte buffer
}

// rawInfo mirrors a header entry; pointers tell a missing field from a zero one.
type rawInfo struct {
	DType   *string  `json:"dtype"`
	Shape   *[]int64 `json:"shape"`
	Offsets *[]int64 `json:"data_offsets"`
}

// readHeader reads and validates the header of a file of size bytes from r,
// leaving r positioned at the start of the data buffer. Every length the file
// declares is checked against size before anything of that length is
// allocated.
func readHeader(r io.Reader, size int64, path string) (*header, error) {
	if size < 8 {
		return nil, &FormatError{path, "", fmt.Sprintf("file is %d bytes, expected at least 8 (the header length)", size)}
	}
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("safetensors: %s: reading header length: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > uint64(size-8) {
		return nil, &FormatError{path, "", fmt.Sprintf("header length %d is larger than the %d bytes that follow it (file size %d)", n, size-8, size)}
	}
	if n > maxHeaderSize {
		return nil, &FormatError{path, "", fmt.Sprintf("header length %d exceeds the %d-byte limit", n, maxHeaderSize)}
	}
	raw := make([]byte, n)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("safetensors: %s: reading %d-byte header: %w", path, n, err)
	}
	h, err := parseHeader(raw, size-8-int64(n), path)
	if err != nil {
		return nil, err
	}
	return h, nil
}

// parseHeader parses and validates the JSON header; dataLen is the number of
// bytes after it.
func parseHeader(raw []byte, dataLen int64, path string) (*header, error) {
	ferr := func(key, format string, args ...any) error {
		return &FormatError{path, key, fmt.Sprintf(format, args...)}
	}
	if !utf8.Valid(raw) {
		return nil, ferr("", "header is not valid UTF-8")
	}
	// The reference writer pads the header with trailing spaces to an 8-byte
	// boundary; it must otherwise be a single JSON object.
	if len(raw) == 0 || raw[0] != '{' {
		return nil, ferr("", "header must be a JSON object starting with '{'")
	}

	// Walk the top-level object token by token: encoding/json's map decoding
	// would silently keep the last of two entries with the same name.
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, ferr("", "invalid JSON header: %v", err)
	}
	h := &header{infos: map[string]Info{}, metadata: map[string]string{}, dataLen: dataLen}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, ferr("", "invalid JSON header: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, ferr("", "invalid JSON header: expected a key, found %v", tok)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, ferr(key, "invalid JSON header: %v", err)
		}
		if key == metadataKey {
			if seenMeta {
				return nil, ferr(key, "appears twice in the header")
			}
			seenMeta = true
			if err := parseMetadata(val, h.metadata); err != nil {
				return nil, ferr(key, "%v", err)
			}
			continue
		}
		if _, dup := h.infos[key]; dup {
			return nil, ferr(key, "tensor appears twice in the header")
		}
		info, err := parseInfo(val, dataLen)
		if err != nil {
			return nil, ferr(key, "%v", err)
		}
		h.infos[key] = info
		h.names = append(h.names, key)
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, ferr("", "invalid JSON header: %v", err)
	}
	if rest := bytes.TrimSpace(raw[dec.InputOffset():]); len(rest) > 0 {
		return nil, ferr("", "invalid JSON header: %d unexpected bytes after the closing '}'", len(rest))
	}

	// The tensors must tile the buffer: sorted by offset, each one starts
	// where the previous one ended, and the last one ends at the file's end.
	sort.SliceStable(h.names, func(i, j int) bool {
		a, b := h.infos[h.names[i]].Offsets, h.infos[h.names[j]].Offsets
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		return a[1] < b[1]
	})
	var end int64
	prev := "the start of the data buffer"
	for _, name := range h.names {
		o := h.infos[name].Offsets
		if o[0] != end {
			what := "leaving a gap"
			if o[0] < end {
				what = "overlapping it"
			}
			return nil, ferr(name, "data_offsets [%d, %d] begin at byte %d, expected %d (the end of %s): %s", o[0], o[1], o[0], end, prev, what)
		}
		end = o[1]
		prev = fmt.Sprintf("tensor %q", name)
	}
	if end != dataLen {
		return nil, ferr("", "tensors end at byte %d of the data buffer, expected %d (the buffer holds %d bytes after the header)", end, dataLen, dataLen)
	}
	return h, nil
}

func parseMetadata(val json.RawMessage, into map[string]string) error {
	if bytes.Equal(bytes.TrimSpace(val), []byte("null")) {
		return nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(val, &m); err != nil {
		return fmt.Errorf("expected an object of string values: %v", err)
	}
	for k, v := range m {
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("key %q: expected a string value, found %s", k, truncate(string(v), 40))
		}
		into[k] = s
	}
	return nil
}

func parseInfo(val json.RawMessage, dataLen int64) (Info, error) {
	var r rawInfo
	dec := json.NewDecoder(bytes.NewReader(val))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Info{}, fmt.Errorf("expected {\"dtype\": string, \"shape\": [non-negative ints], \"data_offsets\": [begin, end]}: %v", err)
	}
	switch {
	case r.DType == nil:
		return Info{}, errors.New(`missing or null "dtype"`)
	case r.Shape == nil:
		return Info{}, errors.New(`missing or null "shape" (a scalar has "shape": [])`)
	case r.Offsets == nil:
		return Info{}, errors.New(`missing or null "data_offsets"`)
	}
	dt, ok := dtypes[*r.DType]
	if !ok {
		return Info{}, fmt.Errorf("unknown dtype %q, expected one of %s", *r.DType, knownDTypes())
	}
	if len(*r.Offsets) != 2 {
		return Info{}, fmt.Errorf("data_offsets has %d entries, expected 2 ([begin, end])", len(*r.Offsets))
	}
	info := Info{DType: *r.DType, Shape: *r.Shape, Offsets: [2]int64{(*r.Offsets)[0], (*r.Offsets)[1]}}
	b, e := info.Offsets[0], info.Offsets[1]
	if b < 0 || e < b || e > dataLen {
		return Info{}, fmt.Errorf("data_offsets [%d, %d] out of range, expected 0 <= begin <= end <= %d (the data buffer size)", b, e, dataLen)
	}
	// numel × element size, refusing negative dimensions and overflow.
	nbytes := dt.size
	for _, d := range info.Shape {
		if d < 0 {
			return Info{}, fmt.Errorf("shape %v has a negative dimension", info.Shape)
		}
		hi, lo := bits.Mul64(uint64(nbytes), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return Info{}, fmt.Errorf("shape %v × %s overflows 64 bits", info.Shape, info.DType)
		}
		nbytes = int64(lo)
	}
	if e-b != nbytes {
		return Info{}, fmt.Errorf("data_offsets [%d, %d] span %d bytes, expected %d (shape %v × %d-byte %s)", b, e, e-b, nbytes, info.Shape, dt.size, info.DType)
	}
	return info, nil
}

func knownDTypes() string {
	names := make([]string, 0, len(dtypes))
	for n := range dtypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Save writes tensors to path in safetensors format, names sorted, header
// padded with spaces to a multiple of 8 bytes so that the data buffer is
// 8-byte aligned, with the optional metadata as "__metadata__". Tensors may
// live on any device and need not be contiguous; they are not modified.
//
// The file is written to a temporary file in the same folder, synced and
// renamed over path, so readers never see a partial file.
func Save(path string, tensors map[string]*ts.Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(tensors))
	for name := range tensors {
		names = append(names, name)
	}
	sort.Strings(names)

	// First pass: describe every tensor and lay out the buffer.
	infos := make([]Info, len(names))
	var offset int64
	for i, name := range names {
		t := tensors[name]
		if name == metadataKey {
			return fmt.Errorf("safetensors: save %s: %q is reserved for metadata and cannot name a tensor", path, name)
		}
		if t == nil || t.Ctensor() == nil {
			return fmt.Errorf("safetensors: save %s: tensor %q is nil or already dropped", path, name)
		}
		dname, ok := dtypeName[t.DType()]
		if !ok {
			return fmt.Errorf("safetensors: save %s: tensor %q has dtype %v, expected one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL", path, name, t.DType())
		}
		shape, err := t.Size()
		if err != nil {
			return fmt.Errorf("safetensors: save %s: tensor %q: %w", path, name, err)
		}
		n := dtypes[dname].size
		for _, d := range shape {
			n *= d
		}
		infos[i] = Info{DType: dname, Shape: shape, Offsets: [2]int64{offset, offset + n}}
		offset += n
	}

	hdr, err := encodeHeader(names, infos, metadata)
	if err != nil {
		return fmt.Errorf("safetensors: save %s: %w", path, err)
	}

	// Second pass: stream the header, then each tensor through one buffer the size of
	// the largest, so that saving a model costs one tensor of memory, not the model.
	err = atomicfile.WriteFunc(path, func(w io.Writer) error {
		var n [8]byte
		binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
		if _, err := w.Write(append(n[:], hdr...)); err != nil {
			return err
		}
		var buf []byte
		for i, name := range names {
			size := infos[i].Offsets[1] - infos[i].Offsets[0]
			if int64(cap(buf)) < size {
				buf = make([]byte, size)
			}
			if err := copyOut(tensors[name], infos[i], buf[:size]); err != nil {
				return fmt.Errorf("tensor %q: %w", name, err)
			}
			if _, err := w.Write(buf[:size]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("safetensors: save %s: %w", path, err)
	}
	return nil
}

// copyOut copies t's elements, in row-major order, into dst as little-endian bytes.
func copyOut(t *ts.Tensor, info Info, dst []byte) error {
	if len(dst) == 0 {
		return nil
	}
	size := dtypes[info.DType].size
	// at_copy_data moves non-CPU tensors to the CPU and makes them contiguous
	// as needed, then memcpys into dst: one copy, into Go memory that holds no
	// Go pointers and is not retained.
	runtime.LockOSThread()
	lib.AtCopyData(lib.Ctensor(t.Ctensor()), unsafe.Pointer(&dst[0]), uint(int64(len(dst))/size), uint(size))
	err := ts.TorchErr()
	runtime.UnlockOSThread()
	if err != nil {
		return err
	}
	if bigEndianHost && size > 1 {
		copy(dst, swapped(dst, size))
	}
	return nil
}

// encodeHeader builds the JSON header, padded with spaces to a multiple of 8.
func encodeHeader(names []string, infos []Info, metadata map[string]string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep names byte-identical to what Python would write
	writeString := func(s string) error {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not valid UTF-8", s)
		}
		if err := enc.Encode(s); err != nil {
			return err
		}
		b.Truncate(b.Len() - 1) // Encode appends a newline
		return nil
	}
	b.WriteByte('{')
	first := true
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(`"` + metadataKey + `":{`)
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeString(k); err != nil {
				return nil, fmt.Errorf("metadata key: %w", err)
			}
			b.WriteByte(':')
			if err := writeString(metadata[k]); err != nil {
				return nil, fmt.Errorf("metadata %q: %w", k, err)
			}
		}
		b.WriteByte('}')
		first = false
	}
	for i, name := range names {
		if !first {
			b.WriteByte(',')
		}
		first = false
		if err := writeString(name); err != nil {
			return nil, fmt.Errorf("tensor name: %w", err)
		}
		info := infos[i]
		fmt.Fprintf(&b, `:{"dtype":"%s","shape":[`, info.DType)
		for j, d := range info.Shape {
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%d", d)
		}
		fmt.Fprintf(&b, `],"data_offsets":[%d,%d]}`, info.Offsets[0], info.Offsets[1])
	}
	b.WriteByte('}')
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	return b.Bytes(), nil
}
