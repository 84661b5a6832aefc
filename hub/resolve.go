package hub

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// headTimeout bounds a metadata request; downloads are bounded by idleTimeout instead.
var headTimeout = 30 * time.Second

// resolveRepo applies the cache-first order to a parsed repo reference.
func (c *Client) resolveRepo(r repo, files []string) (string, error) {
	rc := newRepoCache(c.cacheDir(), r)
	// Globs are not answered from the cache while online: a snapshot filled by an
	// earlier, narrower pattern would silently miss files (say, a split).
	if !anyGlob(files) || c.Offline {
		dir, missing, ok := rc.lookup(r.revision, files)
		if ok {
			return dir, nil
		}
		if c.Offline {
			return "", c.notCached(r, dir, files, missing, "HF_HUB_OFFLINE=1", "or unset HF_HUB_OFFLINE")
		}
	}
	dir, err := c.fetchRepo(r, rc, files)
	if err == nil || !isNetErr(err) {
		return dir, err
	}
	// Like huggingface_hub, an unreachable hub falls back to whatever the cache has.
	cached, missing, ok := rc.lookup(r.revision, files)
	if ok {
		fmt.Fprintf(c.progress(), "hub: %s unreachable (%v); using the cached %s %s\n", c.endpoint(), err, r.kind, r.ref)
		return cached, nil
	}
	why := fmt.Sprintf("HF_ENDPOINT %s cannot be reached (%v)", c.endpoint(), err)
	return "", c.notCached(r, cached, files, missing, why, "or check the network and HF_ENDPOINT")
}

// fetchRepo expands globs online, then downloads whatever the cache lacks.
func (c *Client) fetchRepo(r repo, rc repoCache, files []string) (string, error) {
	names, sizes, err := c.expand(r, files)
	if err != nil {
		return "", err
	}
	if dir, _, ok := rc.lookup(r.revision, names); ok {
		return dir, nil
	}
	return c.download(r, rc, names, sizes)
}

// notCached explains a cache miss that cannot be fixed by downloading.
// snapshot is the cached snapshot folder of the revision, "" if there is none.
func (c *Client) notCached(r repo, snapshot string, files, missing []string, why, alternative string) error {
	where := fmt.Sprintf("is not in the Hugging Face cache (%s)", c.cacheDir())
	if snapshot != "" {
		where = fmt.Sprintf("is only partly in the Hugging Face cache (%s; missing %s)", c.cacheDir(), humanList(missing))
	}
	holding := ""
	if len(files) > 0 {
		holding = " holding " + humanList(files)
	}
	flag := map[string]string{"model": "model", "dataset": "data"}[r.kind] // the runner's flags
	return fmt.Errorf("%s %q %s and %s: pass -%s with a local folder%s, %s",
		r.kind, r.ref, where, why, flag, holding, alternative)
}

// fileMeta is what a HEAD on the resolve URL tells about one file.
type fileMeta struct {
	file   string
	url    string // resolve URL pinned to commit, so every file comes from one snapshot
	commit string
	etag   string // sha256 for LFS files, git blob sha1 otherwise
	size   int64  // -1 when the server did not say
}

// download fetches every file into blobs/ and links it into the snapshot. The
// first file's X-Repo-Commit pins the rest, so a push landing mid-download
// cannot mix two commits in one snapshot. refs/<revision> is written last, so
// an interrupted download never makes a partial snapshot look complete.
// sizes are the tree listing's, used when the HEAD answer states no size.
func (c *Client) download(r repo, rc repoCache, files []string, sizes map[string]int64) (string, error) {
	if len(files) == 0 {
		return "", fmt.Errorf("%s %q is not in the Hugging Face cache (%s) and no files were requested: name the files to download",
			r.kind, r.ref, c.cacheDir())
	}
	rev, commit := r.revision, ""
	for _, f := range files {
		m, err := c.head(r, rev, f)
		if err != nil {
			return "", err
		}
		if n, listed := sizes[f]; listed && m.size < 0 {
			m.size = n
		}
		if commit == "" {
			commit, rev = m.commit, m.commit
		} else if m.commit != commit {
			return "", fmt.Errorf("%s answered commit %s for %s %q file %q pinned to commit %s: HF_ENDPOINT is not a consistent Hugging Face hub or mirror",
				c.endpoint(), m.commit, r.kind, r.ref, f, commit)
		}
		if err := c.fetchBlob(r, rc, m); err != nil {
			return "", err
		}
		if err := rc.link(commit, f, m.etag); err != nil {
			return "", err
		}
	}
	if r.revision != commit {
		if err := rc.writeRef(r.revision, commit); err != nil {
			return "", err
		}
	}
	return rc.snapshot(commit), nil
}

// head reads a file's metadata without downloading it.
func (c *Client) head(r repo, rev, file string) (fileMeta, error) {
	ctx, cancel := context.WithTimeout(context.Background(), headTimeout)
	defer cancel()
	resp, err := c.do(ctx, http.MethodHead, r.resolveURL(c.endpoint(), rev, file), nil, false)
	if err != nil {
		return fileMeta{}, err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fileMeta{}, c.statusErr(r, fmt.Sprintf("file %q", file), resp)
	}
	m, err := c.parseMeta(r, file, resp)
	if err != nil {
		return fileMeta{}, err
	}
	m.url = r.resolveURL(c.endpoint(), m.commit, file)
	return m, nil
}

// parseMeta reads the hub's headers. For an LFS file the response is the
// redirect to the CDN, whose own ETag and Content-Length describe the redirect
// (or the CDN object), hence X-Linked-* first; Content-Length is trusted only
// on a direct 2xx answer.
func (c *Client) parseMeta(r repo, file string, resp *http.Response) (fileMeta, error) {
	h := resp.Header
	m := fileMeta{
		file:   file,
		commit: h.Get("X-Repo-Commit"),
		etag:   normalizeETag(firstNonEmpty(h.Get("X-Linked-Etag"), h.Get("ETag"))),
		size:   -1,
	}
	if s := h.Get("X-Linked-Size"); s != "" {
		m.size = parseSize(s)
	} else if resp.StatusCode < 300 {
		m.size = resp.ContentLength // for HEAD, net/http fills this from Content-Length
	}
	if m.commit == "" || m.etag == "" {
		return fileMeta{}, fmt.Errorf("%s sent no X-Repo-Commit or ETag header for %s %q file %q: HF_ENDPOINT must be a Hugging Face hub or mirror, and any proxy must pass these headers",
			c.endpoint(), r.kind, r.ref, file)
	}
	if !safeName(m.commit) || !safeName(m.etag) {
		return fileMeta{}, fmt.Errorf("%s sent an unusable commit %q or ETag %q for %s %q file %q: check HF_ENDPOINT",
			c.endpoint(), m.commit, m.etag, r.kind, r.ref, file)
	}
	return m, nil
}

// normalizeETag strips the weak marker and quotes: `W/"abc"` -> abc.
func normalizeETag(e string) string {
	e = strings.TrimSpace(e)
	e = strings.TrimPrefix(e, "W/")
	return strings.Trim(e, `"`)
}

func parseSize(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
