package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
)

// maxTreePages bounds pagination, so a misbehaving server cannot loop us forever.
const maxTreePages = 1000

// treeEntry is one item of GET /api/{models|datasets}/{repo}/tree/{revision}/{dir}.
type treeEntry struct {
	Type string `json:"type"` // "file" or "directory"
	Path string `json:"path"` // from the repo root
}

// expand replaces each glob by the repo files it matches, listing only the
// folder before the first wildcard (recursively only if the rest of the
// pattern crosses a slash). Order is kept and duplicates dropped.
func (c *Client) expand(r repo, files []string) ([]string, error) {
	var out []string
	for _, f := range files {
		if !isGlob(f) {
			out = appendNew(out, f)
			continue
		}
		dir, recursive := globBase(f)
		entries, err := c.listTree(r, dir, recursive)
		if err != nil {
			return nil, err
		}
		var matched []string
		for _, e := range entries {
			if ok, _ := path.Match(f, e.Path); ok && e.Type == "file" {
				matched = append(matched, e.Path)
			}
		}
		if len(matched) == 0 {
			return nil, fmt.Errorf("no file of %s repo %q at revision %s matches %q (%d entries in %s): check the pattern",
				r.kind, r.id, r.revision, f, len(entries), folderName(dir))
		}
		slices.Sort(matched)
		for _, m := range matched {
			out = appendNew(out, m)
		}
	}
	return out, nil
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
