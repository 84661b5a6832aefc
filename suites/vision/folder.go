package vision

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// imageExt are the file types an image folder may hold (others, such as GTSRB's CSV
// files, are skipped).
var imageExt = []string{".png", ".jpg", ".jpeg", ".ppm", ".pgm"}

func isImageFile(name string) bool {
	return !strings.HasPrefix(name, ".") && slices.Contains(imageExt, strings.ToLower(filepath.Ext(name)))
}

// subdirs lists the non-hidden sub-folders of dir, sorted.
func subdirs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// imagesUnder lists the image files under dir, recursively, in lexical order.
func imagesUnder(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && path != dir && strings.HasPrefix(e.Name(), ".") {
			return filepath.SkipDir
		}
		if !e.IsDir() && isImageFile(e.Name()) {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	return out, nil
}

// LoadImageFolder reads an image folder with one sub-folder per class (torchvision's
// ImageFolder layout): dir/<class>/**/<image>.{png,jpg,jpeg,ppm,pgm}. With classes nil,
// the classes are the sorted sub-folder names; otherwise labels follow the given order
// (so a test folder maps names to the same ids as the train folder, and a missing
// class folder does not shift the others), and a sub-folder outside it is an error.
// A class folder without images is an error: it is almost always a wrong path.
func LoadImageFolder(dir string, classes []string) (*Dataset, error) {
	dirs, err := subdirs(dir)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("vision: %s has no class sub-folders (want <class>/<image files>)", dir)
	}
	if classes == nil {
		classes = dirs
	}
	d := &Dataset{Source: dir, Classes: classes}
	for _, name := range dirs {
		label := slices.Index(classes, name)
		if label < 0 {
			return nil, fmt.Errorf("vision: %s: folder %q is not one of the %d classes %v", dir, name, len(classes), classes)
		}
		files, err := imagesUnder(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("vision: %s: class folder %q holds no %s files", dir, name, strings.Join(imageExt, "/"))
		}
		for _, f := range files {
			d.Items = append(d.Items, fileItem(f, label))
		}
	}
	return d, nil
}

// GTSRB: the German Traffic Sign Recognition Benchmark, 43 classes, images as PPM.
// The training set (GTSRB_Final_Training_Images.zip) unpacks to
// Final_Training/Images/000CC/*.ppm, one folder per class id CC, each with a
// GT-000CC.csv; the test set (GTSRB_Final_Test_Images.zip + GTSRB_Final_Test_GT.zip)
// is one flat folder of PPMs whose classes are in GT-final_test.csv. The CSV files are
// ';'-separated with CRLF line ends and a header naming Filename … ClassId.

// GTSRBClasses are the 43 class ids as the training folders are named.
var GTSRBClasses = func() []string {
	out := make([]string, 43)
	for i := range out {
		out[i] = fmt.Sprintf("%05d", i)
	}
	return out
}()

// LoadGTSRB reads GTSRB from the official layout: dir may be the unpacked root (with
// Final_Training/Images), Final_Training, its Images folder, or a flat folder with a
// GT-*.csv (the test set). In class folders the label is read from the folder name;
// in a flat folder from the CSV's ClassId column.
func LoadGTSRB(dir string) (*Dataset, error) {
	for _, sub := range []string{filepath.Join("Final_Training", "Images"), "Images"} {
		if p := filepath.Join(dir, sub); isDir(p) {
			dir = p
			break
		}
	}
	dirs, err := subdirs(dir)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return loadGTSRBFlat(dir)
	}
	d := &Dataset{Source: dir, Classes: GTSRBClasses}
	for _, name := range dirs {
		id, err := strconv.Atoi(name)
		if err != nil || len(name) != 5 || id < 0 || id >= len(GTSRBClasses) {
			return nil, fmt.Errorf("vision: %s: folder %q is not a GTSRB class folder (want 00000..00042)", dir, name)
		}
		files, err := imagesUnder(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			d.Items = append(d.Items, fileItem(f, id))
		}
	}
	if len(d.Items) == 0 {
		return nil, fmt.Errorf("vision: %s: no images in the GTSRB class folders", dir)
	}
	return d, nil
}

// loadGTSRBFlat reads a flat folder of images labelled by its GT-*.csv.
func loadGTSRBFlat(dir string) (*Dataset, error) {
	csvs, _ := filepath.Glob(filepath.Join(dir, "GT-*.csv"))
	if len(csvs) != 1 {
		return nil, fmt.Errorf("vision: %s has neither GTSRB class folders nor exactly one GT-*.csv (found %d)", dir, len(csvs))
	}
	rows, err := readGTSRBCSV(csvs[0])
	if err != nil {
		return nil, err
	}
	d := &Dataset{Source: dir, Classes: GTSRBClasses}
	for _, r := range rows {
		d.Items = append(d.Items, fileItem(filepath.Join(dir, r.file), r.classID))
	}
	return d, nil
}

type gtsrbRow struct {
	file    string
	classID int
}

// maxCSVLine bounds a GT-*.csv line (real ones are about 40 bytes).
const maxCSVLine = 64 << 10

// readGTSRBCSV reads the Filename and ClassId columns of a GT-*.csv.
func readGTSRBCSV(path string) ([]gtsrbRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	defer f.Close()
	return parseGTSRBCSV(path, f)
}

// parseGTSRBCSV parses a GT-*.csv stream; path names it in errors.
func parseGTSRBCSV(path string, r io.Reader) ([]gtsrbRow, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxCSVLine)
	var rows []gtsrbRow
	fileCol, classCol, ncol := -1, -1, 0
	line := 1
	for ; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff") // a byte-order mark from spreadsheet tools
		}
		if text == "" {
			continue
		}
		cols := strings.Split(text, ";")
		if fileCol < 0 {
			fileCol, classCol, ncol = slices.Index(cols, "Filename"), slices.Index(cols, "ClassId"), len(cols)
			if fileCol < 0 || classCol < 0 {
				return nil, fmt.Errorf("vision: %s:%d: header %.200q lacks Filename or ClassId (want ';'-separated GTSRB ground truth)", path, line, text)
			}
			continue
		}
		if len(cols) != ncol {
			return nil, fmt.Errorf("vision: %s:%d: %d fields, the header has %d", path, line, len(cols), ncol)
		}
		id, err := strconv.Atoi(cols[classCol])
		if err != nil || id < 0 || id >= len(GTSRBClasses) {
			return nil, fmt.Errorf("vision: %s:%d: ClassId %.40q, want 0..42", path, line, cols[classCol])
		}
		if !isImageFile(cols[fileCol]) || strings.ContainsAny(cols[fileCol], `/\`) {
			return nil, fmt.Errorf("vision: %s:%d: Filename %.200q, want an image file name", path, line, cols[fileCol])
		}
		rows = append(rows, gtsrbRow{file: cols[fileCol], classID: id})
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, fmt.Errorf("vision: %s:%d: line longer than %d bytes (want a GTSRB ground-truth CSV)", path, line, maxCSVLine)
	} else if err != nil {
		return nil, fmt.Errorf("vision: %s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("vision: %s: no rows", path)
	}
	return rows, nil
}

// RESISC45 (NWPU-RESISC45): 45 scene classes, 700 256×256 JPEGs each, kept as one
// folder per class (NWPU-RESISC45/<class>/<class>_NNN.jpg). torchgeo's copy adds split
// lists resisc45-{train,val,test}.txt (one file name per line) next to that folder.

// LoadRESISC45 reads RESISC45 from its class folders. dir is the NWPU-RESISC45 folder
// or its parent. With split "" every image is read; otherwise the split list
// resisc45-<split>.txt (in dir or its parent) selects the images, and a listed image
// that is not there is an error.
func LoadRESISC45(dir, split string) (*Dataset, error) {
	root := dir
	if sub := filepath.Join(dir, "NWPU-RESISC45"); isDir(sub) {
		root = sub
	}
	d, err := LoadImageFolder(root, nil)
	if err != nil || split == "" {
		return d, err
	}
	listName := "resisc45-" + split + ".txt"
	var list string
	for _, p := range []string{filepath.Join(dir, listName), filepath.Join(filepath.Dir(root), listName)} {
		if _, err := os.Stat(p); err == nil {
			list = p
			break
		}
	}
	if list == "" {
		return nil, fmt.Errorf("vision: RESISC45 split %q: no %s in %s or its parent", split, listName, root)
	}
	raw, err := os.ReadFile(list)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	want := map[string]bool{}
	for _, name := range strings.Fields(string(raw)) {
		want[name] = true
	}
	out := &Dataset{Source: list, Classes: d.Classes}
	for _, it := range d.Items {
		if base := filepath.Base(it.Path); want[base] {
			out.Items = append(out.Items, it)
			delete(want, base)
		}
	}
	if len(want) > 0 {
		missing := make([]string, 0, len(want))
		for k := range want {
			missing = append(missing, k)
		}
		slices.Sort(missing)
		return nil, fmt.Errorf("vision: %s lists %d images not found under %s, e.g. %s", list, len(missing), root, missing[0])
	}
	return out, nil
}
