package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxTreePages bounds pagination, so a misbehaving server cannot loop us forever.
const maxTreePages = 1000

// treeEntry is one item of GET /api/{models|datasets}/{repo}/tree/{revision}/{dir}.
type treeEntry struct {
	Type string `json:"type"` // "file" or "directory"
	Path string `json:"path"` // from the repo root
	Size *int64 `json:"size"` // the file's size; for LFS files the real file's, like lfs.size
	LFS  *struct {
		Size *int64 `json:"size"`
	} `json:"lfs"`
}

// size is the entry's stated size, -1 if it states none.
func (e treeEntry) size() int64 {
	switch {
	case e.LFS != nil && e.LFS.Size != nil && *e.LFS.Size >= 0:
		return *e.LFS.Size
	case e.Size != nil && *e.Size >= 0:
		return *e.Size
	}
	return -1
}

// unsafePath says why a slash-separated repo path could not be used below a
// snapshot folder as is, "" if it can. The hub's own names never fail these
// checks; a listing entry that does comes from a broken or hostile server.
func unsafePath(p string) string {
	switch {
	case p == "":
		return "an empty path"
	case strings.HasPrefix(p, "/"):
		return "an absolute path"
	case strings.Contains(p, `\`):
		return "a backslash"
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "a control character"
	case !utf8.ValidString(p):
		return "invalid UTF-8"
	}
	for _, el := range strings.Split(p, "/") {
		switch el {
		case "..":
			return `a ".." element`
		case ".":
			return `a "." element`
		case "":
			return "an empty element"
		}
	}
	if !filepath.IsLocal(filepath.FromSlash(p)) {
		return "a name this system reserves" // Windows: C:x, NUL, COM1, ...
	}
	return ""
}

// expand replaces each glob by the repo files it matches, listing only the
// folder before the first wildcard (recursively only if the rest of the
// pattern crosses a slash). Order is kept and duplicates dropped. sizes holds
// the listing's size of each matched file that states one.
func (c *Client) expand(r repo, files []string) (out []string, sizes map[string]int64, err error) {
	sizes = map[string]int64{}
	for _, f := range files {
		if !isGlob(f) {
			out = appendNew(out, f)
			continue
		}
		dir, recursive := globBase(f)
		entries, err := c.listTree(r, dir, recursive)
		if err != nil {
			return nil, nil, err
		}
		var matched []string
		for _, e := range entries {
			if ok, _ := path.Match(f, e.Path); ok && e.Type == "file" {
				matched = append(matched, e.Path)
				if n := e.size(); n >= 0 {
					sizes[e.Path] = n
				}
			}
		}
		if len(matched) == 0 {
			return nil, nil, fmt.Errorf("no file of %s repo %q at revision %s matches %q (%d entries in %s): check the pattern",
				r.kind, r.id, r.revision, f, len(entries), folderName(dir))
		}
		slices.Sort(matched)
		for _, m := range matched {
			out = appendNew(out, m)
		}
	}
	return out, sizes, nil
}

func folderName(dir string) string {
	if dir == "" {
		return "the repo root"
	}
	return fmt.Sprintf("folder %q", dir)
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// globBase splits "rte/*.parquet" into the literal folder "rte" and whether
// the wildcard part spans folders ("*/train.parquet" does).
func globBase(pattern string) (dir string, recursive bool) {
	segs := strings.Split(pattern, "/")
	i := slices.IndexFunc(segs, isGlob)
	return strings.Join(segs[:i], "/"), i < len(segs)-1
}

// listTree reads every page of a tree listing, following the Link: rel="next"
// header the hub uses for pagination.
func (c *Client) listTree(r repo, dir string, recursive bool) ([]treeEntry, error) {
	var all []treeEntry
	next := r.treeURL(c.endpoint(), dir, recursive)
	for page := 0; next != ""; page++ {
		if page == maxTreePages {
			return nil, fmt.Errorf("listing %s repo %q took more than %d pages: check HF_ENDPOINT", r.kind, r.id, maxTreePages)
		}
		entries, link, err := c.treePage(r, dir, next)
		if err != nil {
			return nil, err
		}
		all = append(all, entries...)
		next = link
	}
	return all, nil
}

func (c *Client) treePage(r repo, dir, pageURL string) ([]treeEntry, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), headTimeout)
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, pageURL, nil, false)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", c.statusErr(r, fmt.Sprintf("folder %q", dir), resp)
	}
	var entries []treeEntry
	if err := json.NewDecoder(resp.Body).Decode(&entries); err != nil {
		if isNetErr(err) || ctx.Err() != nil {
			return nil, "", &netError{err}
		}
		return nil, "", fmt.Errorf("listing %s repo %q folder %q: %s did not answer with a JSON file list (%v): check HF_ENDPOINT",
			r.kind, r.id, dir, c.endpoint(), oneLine(err.Error()))
	}
	// Checked here, before any entry can become a cache path.
	for _, e := range entries {
		if why := unsafePath(e.Path); why != "" {
			return nil, "", fmt.Errorf("listing of %s of %s repo %q from %s has an unsafe entry %q (%s): refusing it before it touches the cache; entries must be slash-separated paths inside the repo: check HF_ENDPOINT",
				folderName(dir), r.kind, r.id, c.endpoint(), e.Path, why)
		}
	}
	next := nextLink(resp.Header.Get("Link"))
	if next != "" {
		u, err := resp.Request.URL.Parse(next) // a relative link continues on this host
		if err != nil {
			return nil, "", fmt.Errorf("listing %s repo %q: bad pagination link %q from %s", r.kind, r.id, next, c.endpoint())
		}
		next = u.String()
	}
	return entries, next, nil
}

// nextLink extracts the rel="next" URL from a Link header.
func nextLink(h string) string {
	for _, part := range strings.Split(h, ",") {
		target, params, ok := strings.Cut(part, ";")
		if !ok || !strings.Contains(strings.ReplaceAll(params, " ", ""), `rel="next"`) {
			continue
		}
		return strings.Trim(strings.TrimSpace(target), "<>")
	}
	return ""
}
