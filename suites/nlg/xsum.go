package nlg

// The original XSum release (EdinburghNLP/XSum): the id split
// XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json ({"train": [ids], "validation":
// [ids], "test": [ids]}) and bbc-summary-data/<id>.summary, one file per
// article:
//
//	[SN]URL[SN]
//	http://...
//
//	[SN]TITLE[SN]
//	...
//
//	[SN]FIRST-SENTENCE[SN]
//	the summary
//
//	[SN]RESTBODY[SN]
//	body line 1
//	body line 2
//
// Examples are built as Hugging Face's xsum loading script (version 1.2.0,
// the streaming variant that reads the tarball with iter_archive, from which
// the Hub's parquet comes) builds them: split the file on "\n", drop blank
// lines and the share-widget lines of removeLines,
// join the remaining lines (newlines kept), split on "[SN]", and take
// segment 8 (after RESTBODY) stripped as the document and segment 6 (after
// FIRST-SENTENCE) stripped as the summary. So the document keeps one body
// line per line, as in the Hub's parquet. As in that script, a "[SN]" inside
// the body would end the document there. Unlike that script, which yields
// the articles in tarball order and ignores ids without a file, examples come
// in the split JSON's order and a missing file is a malformed record.

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

const (
	xsumSplitFile  = "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json"
	xsumSummaryDir = "bbc-summary-data"
)

// removeLines are the lines (with their newline) the HF script drops: share
// widgets scraped with the articles.
var removeLines = map[string]bool{
	"Share this with\n": true, "Email\n": true, "Facebook\n": true, "Messenger\n": true,
	"Twitter\n": true, "Pinterest\n": true, "WhatsApp\n": true, "Linkedin\n": true,
	"LinkedIn\n": true, "Copy this link\n": true,
	"These are external links and will open in a new window\n": true,
}

// readXSumOriginal reads the split name of the id-split JSON, then each id's
// .summary file, in the JSON's order.
func readXSumOriginal(name, splitPath, dataDir string, opt LoadOptions) (Split, error) {
	sp := Split{Name: name, Path: splitPath, Files: []string{splitPath, dataDir}, Format: FormatXSumOriginal}
	if !isDir(dataDir) {
		return Split{}, fmt.Errorf("nlg: %s: no %s folder beside the split file %s (want one <id>.summary file per article)", dataDir, xsumSummaryDir, splitPath)
	}
	ids, err := readXSumSplitIDs(splitPath, name)
	if err != nil {
		return Split{}, err
	}
	c := newCollector(&sp, opt, "document", "summary")
	for i, id := range ids {
		field := fmt.Sprintf("%s[%d]", name, i)
		listErr := func(_, format string, args ...any) *ParseError {
			return lineError(splitPath, 0, field, format, args...)
		}
		if id == "" || strings.ContainsAny(id, `/\`) || id == "." || id == ".." {
			if err := c.add(Example{}, listErr("", "want an article id (a file name stem in %s), got %q", xsumSummaryDir, id), field, listErr); err != nil {
				return Split{}, err
			}
			continue
		}
		path := filepath.Join(dataDir, id+".summary")
		fileErr := func(field, format string, args ...any) *ParseError {
			return lineError(path, 0, field, format, args...)
		}
		if !isFile(path) {
			if err := c.add(Example{}, listErr("", "id %q has no file %s", id, path), field, listErr); err != nil {
				return Split{}, err
			}
			continue
		}
		data, tooBig, err := readCapped(path, c.limit())
		if err != nil {
			return Split{}, err
		}
		if tooBig != nil {
			if err := c.add(Example{}, tooBig, path, fileErr); err != nil {
				return Split{}, err
			}
			continue
		}
		ex, bad := parseXSumSummary(data, fileErr)
		ex.ID = id
		if err := c.add(ex, bad, path, fileErr); err != nil {
			return Split{}, err
		}
	}
	return sp, nil
}

// readXSumSplitIDs reads the ids of one split from the split JSON.
func readXSumSplitIDs(path, split string) ([]string, error) {
	data, tooBig, err := readCapped(path, 1<<30)
	if err != nil {
		return nil, err
	}
	if tooBig != nil {
		return nil, tooBig
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil {
		return nil, lineError(path, 0, "", "want a JSON object {\"train\": [ids], \"validation\": [ids], \"test\": [ids]}: %v", err)
	}
	raw, ok := obj[split]
	if !ok {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		return nil, lineError(path, 0, split, "missing, want a list of article ids (the file has %s)", quoteList(keys))
	}
	var list []any
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, lineError(path, 0, split, "want a list of article ids: %v", err)
	}
	ids := make([]string, len(list))
	for i, v := range list {
		s, ok := v.(string)
		if !ok {
			return nil, lineError(path, 0, fmt.Sprintf("%s[%d]", split, i), "want an article id string, got %s", jsonKind(v))
		}
		ids[i] = s
	}
	return ids, nil
}

// parseXSumSummary builds document and summary from a .summary file as the
// HF script does. The ID is the caller's.
func parseXSumSummary(data []byte, mkErr func(field, format string, args ...any) *ParseError) (Example, *ParseError) {
	if !utf8.Valid(data) {
		return Example{}, mkErr("", "want UTF-8 text, got invalid bytes")
	}
	// The script reads the file from the tarball in binary: lines end at
	// "\n" only, and line.strip() on bytes strips ASCII whitespace only.
	var kept strings.Builder
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if removeLines[line] || strings.Trim(line, " \t\n\r\v\f") == "" {
			continue
		}
		kept.WriteString(line)
	}
	segs := strings.Split(kept.String(), "[SN]")
	want := map[int]string{1: "URL", 3: "TITLE", 5: "FIRST-SENTENCE", 7: "RESTBODY"}
	for _, i := range []int{1, 3, 5, 7} {
		if len(segs) <= i+1 || segs[i] != want[i] {
			return Example{}, mkErr("[SN]"+want[i]+"[SN]", "want the sections [SN]URL[SN], [SN]TITLE[SN], [SN]FIRST-SENTENCE[SN], [SN]RESTBODY[SN] in that order, each followed by its text; section %d is missing or misplaced", i/2+1)
		}
	}
	ex := Example{Source: pyStrip(segs[8]), Target: pyStrip(segs[6])}
	if ex.Source == "" {
		return Example{}, mkErr("[SN]RESTBODY[SN]", "empty document, want the article body")
	}
	if ex.Target == "" {
		return Example{}, mkErr("[SN]FIRST-SENTENCE[SN]", "empty summary, want the first sentence")
	}
	return ex, nil
}
