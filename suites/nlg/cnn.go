package nlg

// CNN/DailyMail from the original release (DeepMind's stories with See et
// al.'s url lists), and the fairseq/BART line-per-example files.
//
// A .story file is the article's paragraphs, then "@highlight" blocks:
//
//	First paragraph.
//
//	@highlight
//
//	First highlight
//
// Its file name is the sha1 hex of the story's URL; url_lists/all_train.txt,
// all_val.txt and all_test.txt list the URLs of each split. Examples are
// built as Hugging Face's cnn_dailymail script (config 3.0.0, cased) builds
// them in _get_art_abs:
//
//   - split the file on "\n", decode UTF-8, strip each line (Python's
//     str.strip);
//   - fix_missing_period: a non-empty line that does not contain "@highlight"
//     and does not end in one of . ! ? ' ` " ’ ” ) gets " ." appended;
//   - skip empty lines; a line starting with "@highlight" switches to
//     highlights for the rest of the file; other lines go to the article
//     before the first "@highlight" and to the highlights after it;
//   - article = lines joined by " "; highlights = lines joined by "\n".
//
// HF then drops a story whose article or highlights are empty, and ignores
// URLs without a story file; here both are malformed records (dropped, as by
// HF, with LoadOptions.SkipMalformed). Examples come in url-list order (HF
// uses the order of the story tarballs).

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"
)

const highlightMark = "@highlight"

// endTokens are HF's END_TOKENS that a single character can match (its
// "..." never matches line[-1]).
const endTokens = ".!?'`\"\u2019\u201d)"

// ParseStory turns the bytes of a .story file into the article and the
// highlights as HF's _get_art_abs does. msg is empty on success, else it says
// what is wrong (line numbers are 1-based).
func ParseStory(data []byte) (article, highlights, msg string) {
	var art, hl []string
	inHighlights := false
	for i, raw := range bytes.Split(data, []byte("\n")) {
		if !utf8.Valid(raw) {
			return "", "", fmt.Sprintf("line %d: want UTF-8 text, got invalid bytes", i+1)
		}
		line := fixMissingPeriod(pyStrip(string(raw)))
		switch {
		case line == "":
		case strings.HasPrefix(line, highlightMark):
			inHighlights = true
		case inHighlights:
			hl = append(hl, line)
		default:
			art = append(art, line)
		}
	}
	article, highlights = strings.Join(art, " "), strings.Join(hl, "\n")
	switch {
	case !inHighlights:
		return "", "", "no @highlight line, want the article followed by @highlight blocks"
	case highlights == "":
		return "", "", "@highlight blocks with no text, want at least one highlight"
	case article == "":
		return "", "", "empty article (only highlights), want the article text before the first @highlight"
	}
	return article, highlights, ""
}

func fixMissingPeriod(line string) string {
	if strings.Contains(line, highlightMark) || line == "" {
		return line
	}
	last, _ := utf8.DecodeLastRuneInString(line)
	if strings.ContainsRune(endTokens, last) {
		return line
	}
	return line + " ."
}

// urlListFiles names each split's url list.
var urlListFiles = map[string]string{
	SplitTrain:      "all_train.txt",
	SplitValidation: "all_val.txt",
	SplitTest:       "all_test.txt",
}

func urlListPaths(dir, split string) []string {
	name := urlListFiles[split]
	return []string{filepath.Join(dir, "url_lists", name), filepath.Join(dir, name)}
}

// storyDirs are the folders, relative to the data folder, that may hold
// .story files: the tarballs' cnn/stories and dailymail/stories (extracted in
// place or into folders named after the tarballs), or a flat folder.
var storyDirs = []string{
	"cnn/stories", "dailymail/stories",
	"cnn_stories/cnn/stories", "dailymail_stories/dailymail/stories", "dm_stories/dailymail/stories",
	"cnn_stories", "dailymail_stories", "dm_stories", "stories",
}

// storyIndex maps the sha1 hex of a story's URL to its file.
func storyIndex(dir string) (map[string]string, []string, error) {
	index := map[string]string{}
	var used []string
	for _, rel := range storyDirs {
		d := filepath.Join(dir, filepath.FromSlash(rel))
		entries, err := os.ReadDir(d)
		if err != nil {
			continue // absent: the other layouts
		}
		n := 0
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".story") {
				continue
			}
			h := strings.TrimSuffix(name, ".story")
			if _, ok := index[h]; !ok {
				index[h] = filepath.Join(d, name)
				n++
			}
		}
		if n > 0 {
			used = append(used, d)
		}
	}
	if len(index) == 0 {
		var want []string
		for _, rel := range storyDirs {
			want = append(want, filepath.Join(dir, filepath.FromSlash(rel)))
		}
		return nil, nil, fmt.Errorf("nlg: cnn_dailymail: no .story files under %s (looked in %s)", dir, strings.Join(want, ", "))
	}
	return index, used, nil
}

// urlHash is the story id: the sha1 hex of the URL's UTF-8 bytes, as HF's
// _get_url_hashes computes it.
func urlHash(url string) string {
	h := sha1.Sum([]byte(url))
	return hex.EncodeToString(h[:])
}

// readStories reads the stories of one split's url list, in list order.
func readStories(dir, name, listPath string, opt LoadOptions) (Split, error) {
	index, used, err := storyIndex(dir)
	if err != nil {
		return Split{}, err
	}
	sp := Split{Name: name, Path: listPath, Files: append([]string{listPath}, used...), Format: FormatStories}
	c := newCollector(&sp, opt, "article", "highlights")
	err = eachLine(listPath, c.limit(), func(lineNo int, line string, tooLong *ParseError) error {
		listErr := func(field, format string, args ...any) *ParseError {
			return lineError(listPath, lineNo, field, format, args...)
		}
		where := fmt.Sprintf("%s:%d", listPath, lineNo)
		if tooLong != nil {
			return c.add(Example{}, tooLong, where, listErr)
		}
		url := pyStrip(line)
		if url == "" {
			return nil
		}
		id := urlHash(url)
		path, ok := index[id]
		if !ok {
			return c.add(Example{}, listErr("", "no story file %s.story for url %q (looked in %s)", id, url, strings.Join(used, ", ")), where, listErr)
		}
		if first, dup := c.seen[id]; dup {
			return c.add(Example{}, listErr("", "duplicate url %q (first at %s), want each story once", url, first), where, listErr)
		}
		storyErr := func(field, format string, args ...any) *ParseError {
			return lineError(path, 0, field, format, args...)
		}
		data, tooBig, err := readCapped(path, c.limit())
		if err != nil {
			return err
		}
		if tooBig != nil {
			return c.add(Example{}, tooBig, where, storyErr)
		}
		art, hl, msg := ParseStory(data)
		if msg != "" {
			return c.add(Example{}, storyErr("", "%s (story of %s)", msg, where), where, storyErr)
		}
		return c.add(Example{ID: id, Source: art, Target: hl}, nil, where, storyErr)
	})
	if err != nil {
		return Split{}, err
	}
	return sp, nil
}

// readLines reads fairseq/BART <split>.source and <split>.target: line i of
// each is example i, whose ID is strconv.Itoa(i) (0-based). Lines are kept as
// in the files (a leading space included), without the newline.
func readLines(name, srcPath, tgtPath string, opt LoadOptions) (Split, error) {
	sp := Split{Name: name, Path: srcPath, Files: []string{srcPath, tgtPath}, Format: FormatLines}
	c := newCollector(&sp, opt, ".source", ".target")
	var src, tgt []string
	var srcBad, tgtBad []*ParseError
	read := func(path string, texts *[]string, bad *[]*ParseError) error {
		if !isFile(path) {
			return fmt.Errorf("nlg: %s: missing; %s needs both .source and .target", path, name)
		}
		return eachLine(path, c.limit(), func(lineNo int, line string, tooLong *ParseError) error {
			if tooLong == nil && !utf8.ValidString(line) {
				tooLong = lineError(path, lineNo, "", "want UTF-8 text, got invalid bytes")
			}
			*texts = append(*texts, line)
			*bad = append(*bad, tooLong)
			return nil
		})
	}
	if err := read(srcPath, &src, &srcBad); err != nil {
		return Split{}, err
	}
	if err := read(tgtPath, &tgt, &tgtBad); err != nil {
		return Split{}, err
	}
	if len(src) != len(tgt) {
		return Split{}, fmt.Errorf("nlg: %s has %d lines and %s has %d; want one target line per source line", srcPath, len(src), tgtPath, len(tgt))
	}
	for i := range src {
		lineNo := i + 1
		mkErr := func(field, format string, args ...any) *ParseError {
			path := srcPath
			if field == ".target" {
				path = tgtPath
			}
			return lineError(path, lineNo, "", format, args...)
		}
		bad := srcBad[i]
		if bad == nil {
			bad = tgtBad[i]
		}
		ex := Example{ID: strconv.Itoa(i), Source: src[i], Target: tgt[i]}
		if err := c.add(ex, bad, fmt.Sprintf("line %d", lineNo), mkErr); err != nil {
			return Split{}, err
		}
	}
	return sp, nil
}
