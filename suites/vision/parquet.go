package vision

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/parquet-go/parquet-go"

	"github.com/vectorfit/harness/internal/parquetx"
)

// Hugging Face image datasets (uoft-cs/cifar10, ylecun/mnist, tanganke/gtsrb,
// timm/resisc45, …) are parquet shards whose image column is the datasets library's
// Image feature, a struct {bytes: binary, path: string} holding the encoded file, and
// whose label column is a ClassLabel (an integer; the class names are in the
// "huggingface" key of the file's metadata). The images stay encoded in memory and
// are decoded per batch, as for files on disk.

// imageColumns and labelColumns are the names the Hub's image datasets use, in the
// order they are tried (uoft-cs/cifar10 says "img", cifar100 "fine_label").
var (
	imageColumns = []string{"image", "img"}
	labelColumns = []string{"label", "labels", "fine_label"}
)

// maxUnnamedClasses bounds the labels of parquet files without ClassLabel names.
const maxUnnamedClasses = 1 << 16

// LoadParquet reads one split from Hugging Face parquet shards (in the given order).
// Classes come from the ClassLabel names in the first shard's metadata; without them
// they are "0" … "<largest label>".
func LoadParquet(paths ...string) (*Dataset, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("vision: no parquet files")
	}
	d := &Dataset{Source: paths[0]}
	for _, p := range paths {
		names, err := readImageParquet(p, d)
		if err != nil {
			return nil, err
		}
		if d.Classes == nil {
			d.Classes = names
		}
	}
	maxLabel, maxAt := -1, ""
	for _, it := range d.Items {
		if it.Label > maxLabel {
			maxLabel, maxAt = it.Label, it.Path
		}
	}
	if d.Classes == nil {
		// The classes are then 0..maxLabel: bound them, so that one corrupt label
		// cannot make millions of class names.
		if maxLabel >= maxUnnamedClasses {
			return nil, fmt.Errorf("vision: %s: label %d, but without ClassLabel names in the metadata labels must be < %d", maxAt, maxLabel, maxUnnamedClasses)
		}
		for i := range maxLabel + 1 {
			d.Classes = append(d.Classes, strconv.Itoa(i))
		}
	}
	if maxLabel >= len(d.Classes) {
		return nil, fmt.Errorf("vision: %s: label %d, but the metadata names %d classes", maxAt, maxLabel, len(d.Classes))
	}
	if len(d.Items) == 0 {
		return nil, fmt.Errorf("vision: %s: no rows", d.Source)
	}
	return d, nil
}

// ParquetShards finds the shards of split in a Hugging Face dataset folder, in the
// layouts the Hub uses: data/<split>-*.parquet, <split>-*.parquet, <split>/*.parquet
// (the parquet conversion) and <config>/<split>-*.parquet.
func ParquetShards(dir, split string) ([]string, error) {
	for _, pattern := range []string{
		filepath.Join(dir, "data", split+"-*.parquet"),
		filepath.Join(dir, split+"-*.parquet"),
		filepath.Join(dir, split, "*.parquet"),
		filepath.Join(dir, split+".parquet"),
		filepath.Join(dir, "*", split+"-*.parquet"),
	} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			slices.Sort(m)
			return m, nil
		}
	}
	return nil, fmt.Errorf("vision: %s has no parquet shards for split %q (looked for data/%s-*.parquet, %s-*.parquet, %s/*.parquet)", dir, split, split, split, split)
}

// readImageParquet appends the rows of one shard to d and returns the ClassLabel
// names of its metadata (nil if it has none).
func readImageParquet(path string, d *Dataset) ([]string, error) {
	pf, f, err := parquetx.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	defer f.Close()
	cols, err := findImageColumns(path, pf.Schema())
	if err != nil {
		return nil, err
	}
	rowNo := 0
	for row, err := range parquetx.Rows(pf) {
		if err != nil {
			return nil, fmt.Errorf("vision: %s: row %d (0-based): %w", path, rowNo, err)
		}
		it, err := cols.item(path, rowNo, row)
		if err != nil {
			return nil, err
		}
		d.Items = append(d.Items, it)
		rowNo++
	}
	return parquetx.ClassLabelNames(pf, cols.labelName), nil
}

// parquetColumns are the leaf columns of one shard.
type parquetColumns struct {
	imageName, labelName      string
	bytesCol, pathCol, labCol int
	labKind                   parquet.Kind
}

func findImageColumns(path string, s *parquet.Schema) (parquetColumns, error) {
	c := parquetColumns{pathCol: -1}
	for _, name := range imageColumns {
		if leaf, ok := s.Lookup(name, "bytes"); ok {
			c.imageName, c.bytesCol = name, leaf.ColumnIndex
			if p, ok := s.Lookup(name, "path"); ok {
				c.pathCol = p.ColumnIndex
			}
			break
		}
	}
	if c.imageName == "" {
		return c, fmt.Errorf("vision: %s: no image column (want a struct {bytes, path} named one of %v; the file has %v)", path, imageColumns, parquetx.TopLevelColumns(s))
	}
	for _, name := range labelColumns {
		if leaf, ok := s.Lookup(name); ok {
			c.labelName, c.labCol, c.labKind = name, leaf.ColumnIndex, leaf.Node.Type().Kind()
			if c.labKind != parquet.Int32 && c.labKind != parquet.Int64 {
				return c, fmt.Errorf("vision: %s: column %q has type %s, want an integer class id", path, name, c.labKind)
			}
			break
		}
	}
	if c.labelName == "" {
		return c, fmt.Errorf("vision: %s: no label column (want one of %v; the file has %v)", path, labelColumns, parquetx.TopLevelColumns(s))
	}
	return c, nil
}

// item builds the Item of one row; the encoded bytes are copied (parquet-go reuses
// its page buffers).
func (c parquetColumns) item(path string, rowNo int, row parquet.Row) (Item, error) {
	var data []byte
	var file string
	label, hasLabel := 0, false
	row.Range(func(col int, vals []parquet.Value) bool {
		if len(vals) == 0 || vals[0].IsNull() {
			return true
		}
		v := vals[0]
		switch col {
		case c.bytesCol:
			data = slices.Clone(v.ByteArray())
		case c.pathCol:
			file = string(v.ByteArray())
		case c.labCol:
			hasLabel = true
			if c.labKind == parquet.Int32 {
				label = int(v.Int32())
			} else {
				label = int(v.Int64())
			}
		}
		return true
	})
	where := fmt.Sprintf("%s#%d", path, rowNo)
	switch {
	case !hasLabel:
		return Item{}, fmt.Errorf("vision: %s: row %d (0-based): column %q is null, want a class id", path, rowNo, c.labelName)
	case label < 0:
		return Item{}, fmt.Errorf("vision: %s: row %d (0-based): label %d (unlabelled test rows are -1), want a class id ≥ 0", path, rowNo, label)
	case data == nil:
		return Item{}, fmt.Errorf("vision: %s: row %d (0-based): column %q has no bytes (path %q): only embedded images are read", path, rowNo, c.imageName, file)
	}
	if file != "" {
		where += " (" + file + ")"
	}
	return Item{Path: where, Label: label, src: bytesImage(data)}, nil
}
