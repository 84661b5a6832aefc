package hub

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub imitates the parts of huggingface.co the package talks to: the
// resolve endpoint (HEAD and GET), the tree API, and a separate "CDN" server
// that LFS files redirect to, as the real hub redirects to its CDN.
type fakeHub struct {
	t        *testing.T
	kind     string // "model" or "dataset"
	id       string
	commit   string
	revs     []string // revisions accepted besides main and commit
	files    map[string]fakeFile
	token    string // when set, hub requests without it get 401
	pageSize int    // tree entries per page (0 = all)
	// treeExtra is appended to every tree listing page, to inject entries a
	// hostile server might send.
	treeExtra []map[string]any
	linkBase  string // base URL of the tree's next-page links ("" = endpoint)
	// cdnHook may serve an LFS GET itself (to cut or corrupt it); it returns
	// false to let the normal handler run.
	cdnHook func(w http.ResponseWriter, r *http.Request, f fakeFile) bool

	hub, cdn *httptest.Server
	endpoint string            // the hub's base URL as clients see it
	cdnURL   string            // where LFS files redirect to
	dial     map[string]string // host:port -> listener address, for made-up host names

	mu   sync.Mutex
	hits []hit
}

type fakeFile struct {
	data []byte
	lfs  bool
	// unsized files state no size anywhere: no X-Linked-Size or Content-Length
	// on HEAD, no size in the listing, and a chunked GET body.
	unsized bool
	listed  bool   // an unsized file whose listing entry states its size after all
	extra   []byte // sent after data in an unsized GET body: more than stated
}

type hit struct {
	server, method, path, auth, rng string
}

const fakeCommit = "0123456789abcdef0123456789abcdef01234567"

func newFakeHub(t *testing.T, kind, id string, files map[string]fakeFile) *fakeHub {
	h := &fakeHub{t: t, kind: kind, id: id, commit: fakeCommit, files: files}
	h.cdn = httptest.NewServer(h.record("cdn", h.serveCDN))
	h.hub = httptest.NewServer(h.record("hub", h.serveHub))
	h.endpoint, h.cdnURL = h.hub.URL, h.cdn.URL
	t.Cleanup(h.hub.Close)
	t.Cleanup(h.cdn.Close)
	return h
}

// newFakeHubTLS serves the hub as https://example.com:<port> and the CDN as
// https://cdn.example.com:<port>, like huggingface.co and its cdn-lfs
// subdomain: the CDN is another host, and a subdomain of the hub's, the case
// where net/http's own redirects would keep the Authorization header. The
// client dials both names to the local listeners; httptest's certificate
// covers example.com and *.example.com.
func newFakeHubTLS(t *testing.T, kind, id string, files map[string]fakeFile) *fakeHub {
	h := &fakeHub{t: t, kind: kind, id: id, commit: fakeCommit, files: files, dial: map[string]string{}}
	h.cdn = httptest.NewTLSServer(h.record("cdn", h.serveCDN))
	h.hub = httptest.NewTLSServer(h.record("hub", h.serveHub))
	t.Cleanup(h.hub.Close)
	t.Cleanup(h.cdn.Close)
	h.endpoint = h.alias("example.com", h.hub)
	h.cdnURL = h.alias("cdn.example.com", h.cdn)
	return h
}

// alias makes https://host:<port of srv> reach srv.
func (h *fakeHub) alias(host string, srv *httptest.Server) string {
	addr := srv.Listener.Addr().(*net.TCPAddr)
	name := net.JoinHostPort(host, strconv.Itoa(addr.Port))
	h.dial[name] = addr.String()
	return "https://" + name
}

// httpClient trusts httptest's certificate and dials the aliases.
func (h *fakeHub) httpClient() *http.Client {
	if h.dial == nil {
		return &http.Client{}
	}
	tr := h.hub.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if real, ok := h.dial[addr]; ok {
			addr = real
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr}
}

// client returns a Client on this hub with a fresh empty cache.
func (h *fakeHub) client() *Client {
	return &Client{Endpoint: h.endpoint, CacheDir: h.t.TempDir(), HTTP: h.httpClient()}
}

func (h *fakeHub) record(server string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.hits = append(h.hits, hit{server, r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Range")})
		h.mu.Unlock()
		next(w, r)
	}
}

// requests returns the hits so far on server ("hub", "cdn" or "" for both).
func (h *fakeHub) requests(server string) []hit {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hit
	for _, x := range h.hits {
		if server == "" || x.server == server {
			out = append(out, x)
		}
	}
	return out
}

func (h *fakeHub) resetHits() {
	h.mu.Lock()
	h.hits = nil
	h.mu.Unlock()
}

func (h *fakeHub) serveHub(w http.ResponseWriter, r *http.Request) {
	if h.token != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
		hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to "+h.kind+" "+h.id+" is restricted.")
		return
	}
	p := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(p, "/api/"+h.kind+"s/"+h.id+"/tree/"); ok {
		h.serveTree(w, r, rest)
		return
	}
	prefix := "/" + h.id + "/resolve/"
	if h.kind == "dataset" {
		prefix = "/datasets" + prefix
	}
	rest, ok := strings.CutPrefix(p, prefix)
	if !ok {
		// The real hub answers 401, not 404, so as not to reveal private repos.
		hubError(w, http.StatusUnauthorized, "RepoNotFound", "Repository Not Found")
		return
	}
	escRev, escFile, _ := strings.Cut(rest, "/")
	rev, _ := url.PathUnescape(escRev)
	file, _ := url.PathUnescape(escFile)
	if !h.knownRev(rev) {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	f, ok := h.files[file]
	if !ok {
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	w.Header().Set("X-Repo-Commit", h.commit)
	if f.lfs {
		sum := sha256Hex(f.data)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		if !f.unsized {
			w.Header().Set("X-Linked-Size", strconv.Itoa(len(f.data)))
		}
		w.Header().Set("ETag", `"pointer-etag"`) // the LFS pointer's, must not be used
		w.Header().Set("Location", h.cdnURL+"/lfs/"+sum+"?X-Amz-Signature=secret")
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitSHA1(f.data)+`"`)
	if f.unsized {
		serveUnsized(w, r, f)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

// serveUnsized answers without Content-Length: nothing for HEAD, a chunked
// body (flushed before the first byte) for GET.
func serveUnsized(w http.ResponseWriter, r *http.Request, f fakeFile) {
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	w.(http.Flusher).Flush()
	w.Write(f.data)
	w.Write(f.extra)
}

func (h *fakeHub) knownRev(rev string) bool {
	return rev == "main" || rev == h.commit || slices.Contains(h.revs, rev)
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	w.WriteHeader(status)
}

// serveTree lists direct children of a folder (or all files below it with
// ?recursive=true), paginated with a cursor and a Link header like the hub.
func (h *fakeHub) serveTree(w http.ResponseWriter, r *http.Request, rest string) {
	escRev, escDir, _ := strings.Cut(rest, "/")
	rev, _ := url.PathUnescape(escRev)
	dir, _ := url.PathUnescape(escDir)
	if !h.knownRev(rev) {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return
	}
	entries := h.treeEntries(dir, r.URL.Query().Get("recursive") == "true")
	if len(entries) == 0 {
		hubError(w, http.StatusNotFound, "EntryNotFound", dir+" does not exist")
		return
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	end := len(entries)
	if h.pageSize > 0 && start+h.pageSize < end {
		end = start + h.pageSize
		q := r.URL.Query()
		q.Set("cursor", strconv.Itoa(end))
		w.Header().Set("Link", fmt.Sprintf(`<%s%s?%s>; rel="next"`, cmp.Or(h.linkBase, h.endpoint), r.URL.EscapedPath(), q.Encode()))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(append(entries[start:end], h.treeExtra...))
}

func (h *fakeHub) treeEntries(dir string, recursive bool) []map[string]any {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	var names []string
	dirs := map[string]bool{}
	for name := range h.files {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if sub, _, nested := strings.Cut(rest, "/"); nested && !recursive {
			dirs[prefix+sub] = true
			continue
		}
		names = append(names, name)
	}
	slices.Sort(names)
	var out []map[string]any
	for d := range dirs {
		out = append(out, map[string]any{"type": "directory", "oid": "tree", "size": 0, "path": d})
	}
	for _, n := range names {
		f := h.files[n]
		e := map[string]any{"type": "file", "oid": gitSHA1(f.data), "size": len(f.data), "path": n}
		if f.lfs {
			e["lfs"] = map[string]any{"oid": sha256Hex(f.data), "size": len(f.data), "pointerSize": 130}
		}
		if f.unsized && !f.listed {
			delete(e, "size")
			delete(e, "lfs")
		}
		out = append(out, e)
	}
	return out
}

func (h *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	sum := strings.TrimPrefix(r.URL.Path, "/lfs/")
	for _, f := range h.files {
		if f.lfs && sha256Hex(f.data) == sum {
			if h.cdnHook != nil && r.Method == http.MethodGet && h.cdnHook(w, r, f) {
				return
			}
			if f.unsized {
				serveUnsized(w, r, f)
				return
			}
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
			return
		}
	}
	http.NotFound(w, r)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// gitSHA1 is git's blob id, which the hub uses as ETag for non-LFS files.
func gitSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}
