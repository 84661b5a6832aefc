package vision

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// pngHeaderOnly is a PNG of signature, IHDR (8-bit RGB, w×h) and IEND, with correct
// CRCs: what a decoder sees of a tiny file that claims a huge image.
func pngHeaderOnly(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		body := append([]byte(typ), data...)
		b.Write(body)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(body))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	chunk("IHDR", append(ihdr, 8, 2, 0, 0, 0))
	chunk("IEND", nil)
	return b.Bytes()
}

// allocated returns the bytes fn allocates on the heap.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The case: a tiny PNG whose header claims 100000×100000 is refused from its
// header with the default limit, naming the file and the limit; a header over a
// configured limit costs no pixel allocation (without the check, Go's PNG decoder
// allocates the 4000×4000 RGBA image, 64 MB, before it finds no data).
func TestPixelLimitRefusesBeforeDecoding(t *testing.T) {
	root := t.TempDir()
	bomb := filepath.Join(root, "a", "bomb.png")
	os.MkdirAll(filepath.Dir(bomb), 0o755)
	os.WriteFile(bomb, pngHeaderOnly(100000, 100000), 0o644)
	os.WriteFile(filepath.Join(root, "a", "big.png"), pngHeaderOnly(4000, 4000), 0o644)
	writePNG(t, filepath.Join(root, "b", "ok.png"), 40, 30)
	d, err := LoadImageFolder(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = d.Items[1].Image(0) // sorted: big.png, bomb.png, ok.png
	want := bomb + ": png header says 100000×100000 = 10000000000 pixels, above the limit of 50000000 pixels"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("bomb: %v, want %q", err, want)
	}
	var errBig error
	if n := allocated(func() { _, errBig = d.Items[0].Image(1_000_000) }); n > 1<<20 || errBig == nil {
		t.Errorf("4000×4000 header over a 1e6 limit: %d bytes allocated (want < 1 MB), error %v", n, errBig)
	}
	// The limit is inclusive and configurable: 40×30 = 1200 pixels.
	for _, c := range []struct {
		max int64
		ok  bool
	}{{1200, true}, {1199, false}, {0, true}} {
		_, err := d.Items[2].Image(c.max)
		if (err == nil) != c.ok {
			t.Errorf("40×30 image, limit %d: %v", c.max, err)
		}
	}
}

// CheckHeaders reads headers only: a PNG truncated after its header passes it (Verify
// finds it), while every unreadable, non-image or oversized file is listed, the first
// ten by path, the rest counted.
func TestCheckHeaders(t *testing.T) {
	root := t.TempDir()
	writePNG(t, filepath.Join(root, "ok", "good.png"), 8, 8)
	truncated := pngHeaderOnly(8, 8)
	os.WriteFile(filepath.Join(root, "ok", "truncated.png"), truncated, 0o644)
	os.MkdirAll(filepath.Join(root, "bad"), 0o755)
	for i := range 12 {
		os.WriteFile(filepath.Join(root, "bad", fmt.Sprintf("%02d.jpg", i)), []byte("not an image"), 0o644)
	}
	os.WriteFile(filepath.Join(root, "bad", "zz.ppm"), []byte("P6 9000 9000 255\n"), 0o644)
	d, err := LoadImageFolder(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.MaxPixels = 81_000_000 // the 9000×9000 PPM is allowed …
	err = d.CheckHeaders()
	if err == nil || !strings.Contains(err.Error(), "12 of 15 images fail the header check (pixel limit 81000000):") {
		t.Fatalf("CheckHeaders: %v", err)
	}
	msg := err.Error()
	for _, want := range []string{filepath.Join(root, "bad", "00.jpg") + ": not a PNG, JPEG, PPM (P6) or PGM (P5) image", "09.jpg", "… and 2 more"} {
		if !strings.Contains(msg, want) {
			t.Errorf("CheckHeaders says\n%s\nwant %q", msg, want)
		}
	}
	if strings.Contains(msg, "10.jpg") || strings.Contains(msg, "truncated.png") {
		t.Errorf("CheckHeaders lists more than 10 items or a file with a sound header:\n%s", msg)
	}
	d.MaxPixels = 0 // … but not under the default limit.
	zz := &Dataset{Source: d.Source, Items: d.Items[12:13]}
	if err := zz.CheckHeaders(); err == nil || !strings.Contains(err.Error(), "zz.ppm: ppm header says 9000×9000 = 81000000 pixels, above the limit of 50000000") {
		t.Errorf("default limit: %v", err)
	}
	if err := d.Verify(1); err == nil || !strings.Contains(err.Error(), "truncated.png: corrupt png image") {
		t.Errorf("Verify misses the truncated PNG: %v", err)
	}
	d.MaxPixels = 50
	if _, err := (Item{Path: "x"}).Image(0); err == nil || !strings.Contains(err.Error(), "x: item has no image") {
		t.Errorf("zero Item: %v", err)
	}
	tr, dev, err := d.Split(0.5, 1)
	if s := d.Sample(3, 1); err != nil || s.MaxPixels != 50 || tr.MaxPixels != 50 || dev.MaxPixels != 50 {
		t.Errorf("Sample or Split drops MaxPixels: %d %d %d (%v)", s.MaxPixels, tr.MaxPixels, dev.MaxPixels, err)
	}
}

// In-memory formats obey the same limit; parquet rows are named by file and row.
func TestPixelLimitMNISTAndParquet(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "i"), idxBytes([]uint32{2, 28, 28}, make([]byte, 2*784)), 0o644)
	os.WriteFile(filepath.Join(dir, "l"), idxBytes([]uint32{2}, []byte{1, 2}), 0o644)
	d, err := LoadMNIST(filepath.Join(dir, "i"), filepath.Join(dir, "l"))
	if err != nil {
		t.Fatal(err)
	}
	d.MaxPixels = 783
	if err := d.CheckHeaders(); err == nil || !strings.Contains(err.Error(), "i#1: idx header says 28×28 = 784 pixels, above the limit of 783 pixels") {
		t.Errorf("MNIST: %v", err)
	}
	shards, _ := ParquetShards("testdata/parquet", "train")
	p, err := LoadParquet(shards...)
	if err != nil {
		t.Fatal(err)
	}
	p.MaxPixels = 120 // rows are 12×10 … 12×16
	want := "train-00000-of-00001.parquet#2 (img_2.jpg): jpeg header says 10×12 = 120"
	if _, err := p.Items[2].Image(p.MaxPixels); err != nil {
		t.Errorf("row 2 at its limit: %v", err)
	}
	p.MaxPixels = 119
	if err := p.CheckHeaders(); err == nil || !strings.Contains(err.Error(), "7 of 7 images") || !strings.Contains(err.Error(), want) {
		t.Errorf("parquet: %v, want %q", err, want)
	}
}

// An IDX header's dimensions are checked against what the file can hold before its
// data is read. Dimensions whose product wraps around 2^64 to 0 used to pass as an
// empty file and panic slicing the images.
func TestIDXHeaderAgainstFileSize(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		zw.Write(b)
		zw.Close()
		return out.Bytes()
	}
	labels := write("labels", idxBytes([]uint32{4}, []byte{1, 2, 3, 4}))
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"wrap", idxBytes([]uint32{4, 1 << 31, 1 << 31}, nil), "IDX dimensions [4 2147483648 2147483648] need more than 2^62 bytes of data"},
		{"claim", idxBytes([]uint32{60000, 28, 28}, make([]byte, 100)), "IDX dimensions [60000 28 28] need 47040000 bytes of data, the file has 100"},
		{"claim.gz", gz(idxBytes([]uint32{1 << 30, 1 << 30}, nil)), "IDX dimensions [1073741824 1073741824] need 1152921504606846976 bytes of data, more than the 34-byte gzip file can hold (1032×)"},
		{"short.gz", gz(idxBytes([]uint32{4, 2, 2}, make([]byte, 15))), "IDX dimensions [4 2 2] need 16 bytes of data, the gunzipped file has 15"},
		{"long.gz", gz(idxBytes([]uint32{4, 2, 2}, make([]byte, 17))), "IDX dimensions [4 2 2] need 16 bytes of data, the gunzipped file has more"},
		{"long", idxBytes([]uint32{4, 2, 2}, make([]byte, 17)), "IDX dimensions [4 2 2] need 16 bytes of data, the file has more"},
		{"zero", idxBytes([]uint32{4, 0, 2}, nil), "IDX dimensions [4 0 2], want images × rows × columns, each ≥ 1"},
		{"nodims", []byte{0, 0, 8, 0}, "IDX header with 0 dimensions is truncated"},
		{"cutdims", []byte{0, 0, 8, 3, 0, 0}, "IDX header with 3 dimensions is truncated"},
	} {
		p := write(c.name, c.data)
		_, err := LoadMNIST(p, labels)
		if err == nil || !strings.Contains(err.Error(), p+": "+c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// A CIFAR-10 batch's size is checked before the file is read.
func TestCIFARSizeBeforeRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "data_batch_1.bin")
	os.WriteFile(p, make([]byte, 3*cifarRecord-1), 0o644)
	if _, err := LoadCIFAR10Batches(p); err == nil || !strings.Contains(err.Error(), p+": 9218 bytes is not a whole number of 3073-byte CIFAR-10 records") {
		t.Errorf("%v", err)
	}
	if _, err := LoadCIFAR10Batches(p + ".missing"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing: %v", err)
	}
}

// A PPM header claiming 30000×30000 over a few bytes of data costs about the data, not
// the 2.7 GB the header asks for; a comment as long as the file is not held.
func TestPNMTruncatedDataCostsNoMemory(t *testing.T) {
	var err error
	n := allocated(func() { _, err = DecodePNM(strings.NewReader("P6 30000 30000 255\nabc")) })
	if err == nil || !strings.Contains(err.Error(), "30000×30000 image needs 2700000000 sample bytes, the file has 3") || n > 1<<20 {
		t.Errorf("%v (%d bytes allocated)", err, n)
	}
	long := "P5 1 1 255 #" + strings.Repeat("x", 4<<20) + "\n\x07"
	n = allocated(func() { _, err = DecodePNM(strings.NewReader(long)) })
	if err != nil || n > 1<<20 {
		t.Errorf("long comment: %v (%d bytes allocated)", err, n)
	}
}

func TestGTSRBCSVLines(t *testing.T) {
	rows, err := parseGTSRBCSV("GT.csv", strings.NewReader("\ufeffFilename;ClassId\r\n\r\n00000.ppm;42\r\n"))
	if err != nil || len(rows) != 1 || rows[0] != (gtsrbRow{"00000.ppm", 42}) {
		t.Errorf("byte-order mark: %v %v", rows, err)
	}
	for _, c := range []struct{ csv, want string }{
		{"Filename;ClassId\n" + strings.Repeat("x", 70000) + "\n", "GT.csv:2: line longer than 65536 bytes"},
		{"Filename;ClassId\na.ppm;43\n", "GT.csv:2: ClassId \"43\", want 0..42"},
		{"Filename;ClassId\n../a.ppm;1\n", "GT.csv:2: Filename \"../a.ppm\", want an image file name"},
		{"Filename;ClassId\na.ppm\n", "GT.csv:2: 1 fields, the header has 2"},
		{"Name;Class\n", "GT.csv:1: header \"Name;Class\" lacks Filename or ClassId"},
		{"Filename;ClassId\r\n", "GT.csv: no rows"},
	} {
		_, err := parseGTSRBCSV("GT.csv", strings.NewReader(c.csv))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.40q: %v, want %q", c.csv, err, c.want)
		}
	}
}

// Without ClassLabel names, the classes are 0..largest label: a corrupt label of 2^40
// is refused by row instead of making 2^40 class names.
func TestParquetLabelBound(t *testing.T) {
	type img struct {
		Bytes []byte `parquet:"bytes"`
		Path  string `parquet:"path"`
	}
	type row struct {
		Image img   `parquet:"image"`
		Label int64 `parquet:"label"`
	}
	var png bytes.Buffer
	png.Write(pngHeaderOnly(2, 2))
	p := filepath.Join(t.TempDir(), "train.parquet")
	if err := parquet.WriteFile(p, []row{{img{png.Bytes(), "a.png"}, 3}, {img{png.Bytes(), "b.png"}, 1 << 40}}); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadParquet(p); err == nil || !strings.Contains(err.Error(), "train.parquet#1 (b.png): label 1099511627776, but without ClassLabel names in the metadata labels must be < 65536") {
		t.Errorf("%v", err)
	}
}
