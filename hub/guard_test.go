package hub

// Tests of the guards against a hostile or broken server: no token over plain
// http, no unbounded download, no listing entry outside the cache.

import (
	"bytes"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noCacheEntries fails if anything but lock files was written under cache.
func noCacheEntries(t *testing.T, cache string) {
	t.Helper()
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".lock") {
			t.Errorf("left in the cache: %s", p)
		}
		return nil
	})
}

// --- 1. HF_TOKEN never over plain http --------------------------------------

func TestTokenRefusedOverPlainHTTPEndpoint(t *testing.T) {
	h := newFakeHub(t, "model", "org/gated", modelFiles()) // http://127.0.0.1:port
	h.token = "hf_secret"
	c := h.client()
	c.Token = "hf_secret"
	_, err := c.Resolve("model", "org/gated", []string{"config.json"})
	wantErr(t, err, "HF_ENDPOINT "+h.endpoint+" is plain http and HF_TOKEN is set",
		"refusing to send the token unencrypted to "+h.endpoint+"/org/gated/resolve/main/config.json",
		"HF_ALLOW_INSECURE_TOKEN=1")
	if hits := h.requests(""); len(hits) != 0 {
		t.Errorf("refused request was sent anyway: %+v", hits)
	}

	// The opt-in sends it, to the endpoint only.
	c.AllowInsecureToken = true
	mustResolve(t, c, "model", "org/gated", modelWant)
	for _, x := range h.requests("hub") {
		if x.auth != "Bearer hf_secret" {
			t.Errorf("with the opt-in, hub request %s %s had Authorization %q", x.method, x.path, x.auth)
		}
	}

	// A plain-http mirror without a token needs no opt-in.
	h.token = ""
	c2 := h.client()
	mustResolve(t, c2, "model", "org/gated", modelWant)
}

func TestTokenRefusedOnRedirectToPlainHTTP(t *testing.T) {
	h := newFakeHubTLS(t, "model", "org/gated", modelFiles())
	plainCDN := httptest.NewServer(h.record("plain-cdn", h.serveCDN))
	defer plainCDN.Close()
	h.cdnURL = plainCDN.URL // the hub now redirects LFS files to http://
	h.token = "hf_secret"
	c := h.client()
	c.Token = "hf_secret"
	_, err := c.Resolve("model", "org/gated", []string{"model.safetensors"})
	wantErr(t, err, h.endpoint+"/org/gated/resolve/"+fakeCommit+"/model.safetensors redirected to plain-http "+
		plainCDN.URL+"/lfs/"+sha256Hex(weights)+" while HF_TOKEN is set", "HF_ALLOW_INSECURE_TOKEN=1")
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error shows the signed link's query: %v", err)
	}
	if hits := h.requests("plain-cdn"); len(hits) != 0 {
		t.Errorf("plain-http CDN was contacted: %+v", hits)
	}
	noCacheEntries(t, c.CacheDir)

	// Without a token the same redirect is followed (public files, local mirrors).
	h.token = ""
	mustResolve(t, h.client(), "model", "org/gated", []string{"model.safetensors"})
	if hits := h.requests("plain-cdn"); len(hits) != 1 || hits[0].auth != "" {
		t.Errorf("plain-http CDN hits without a token = %+v, want one GET without Authorization", hits)
	}
}

func TestTokenRefusedOnPlainHTTPPageLink(t *testing.T) {
	h := newFakeHubTLS(t, "dataset", "nyu-mll/glue", datasetFiles())
	h.pageSize = 2
	h.linkBase = "http://example.com:1" // the next page on plain http
	c := h.client()
	c.Token = "hf_secret"
	_, err := c.Resolve("dataset", "nyu-mll/glue", []string{"rte/*.parquet"})
	wantErr(t, err, h.endpoint+" pointed to plain-http http://example.com:1/api/datasets/nyu-mll/glue/tree/main/rte while HF_TOKEN is set",
		"HF_ALLOW_INSECURE_TOKEN=1")
}

// net/http's own redirect handling keeps Authorization for the same host name
// on any port and scheme, and for subdomains (huggingface.co ->
// cdn-lfs.huggingface.co), which is why Client.do follows redirects itself.
// This pins that reason; Client itself is checked in TestTokenSentToEndpointOnly.
func TestNetHTTPForwardsAuthorizationToSubdomain(t *testing.T) {
	h := newFakeHubTLS(t, "model", "org/tiny-bert", modelFiles())
	req, _ := http.NewRequest(http.MethodGet, h.endpoint+"/org/tiny-bert/resolve/main/model.safetensors", nil)
	req.Header.Set("Authorization", "Bearer hf_secret")
	resp, err := h.httpClient().Do(req) // default CheckRedirect: follows
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cdn := h.requests("cdn")
	if len(cdn) != 1 || cdn[0].auth != "Bearer hf_secret" {
		t.Errorf("net/http no longer forwards Authorization from example.com to cdn.example.com (CDN saw %+v); update the comment on Client.do", cdn)
	}
}

func TestFromEnvGuards(t *testing.T) {
	t.Setenv("HF_ALLOW_INSECURE_TOKEN", "1")
	if !FromEnv().AllowInsecureToken {
		t.Error("HF_ALLOW_INSECURE_TOKEN=1 not read")
	}
	t.Setenv("HF_ALLOW_INSECURE_TOKEN", "")
	if FromEnv().AllowInsecureToken {
		t.Error("AllowInsecureToken set without HF_ALLOW_INSECURE_TOKEN")
	}
	for in, want := range map[string]int64{
		"123": 123, "1GiB": 1 << 30, "500MB": 500_000_000, "2 gib": 2 << 30, "10KiB": 10240, "7B": 7,
	} {
		t.Setenv("HF_HUB_MAX_UNKNOWN_SIZE", in)
		if c := FromEnv(); c.MaxUnknownSize != want || c.envErr != nil {
			t.Errorf("HF_HUB_MAX_UNKNOWN_SIZE=%q: MaxUnknownSize %d, err %v; want %d", in, c.MaxUnknownSize, c.envErr, want)
		}
	}
	for _, in := range []string{"abc", "0", "-5", "1.5GB", "10XB", "99999999999TiB"} {
		t.Setenv("HF_HUB_MAX_UNKNOWN_SIZE", in)
		c := FromEnv()
		c.CacheDir = t.TempDir()
		_, err := c.Resolve("model", "org/name", []string{"config.json"})
		wantErr(t, err, fmt.Sprintf("HF_HUB_MAX_UNKNOWN_SIZE=%q is not a size", in), "1GiB")
	}
	c := &Client{CacheDir: t.TempDir(), MaxUnknownSize: -1}
	_, err := c.Resolve("model", "org/name", []string{"config.json"})
	wantErr(t, err, "Client.MaxUnknownSize is -1")
}

// --- 2. downloads of unknown size are capped ---------------------------------

func TestUnknownSizeCap(t *testing.T) {
	announce := func(w http.ResponseWriter, r *http.Request, f fakeFile) bool {
		w.Header().Set("Content-Length", fmt.Sprint(len(f.data))) // the GET states it, the HEAD did not
		w.Write(f.data)
		return true
	}
	for _, tc := range []struct {
		name string
		file fakeFile
		cap  int64
		hook func(http.ResponseWriter, *http.Request, fakeFile) bool
		want string // "" = resolves
	}{
		{"LFS body past the cap", fakeFile{data: weights, lfs: true, unsized: true}, 4 << 10, nil,
			"its body went past the 4 KiB cap for files of unknown size"},
		{"non-LFS body past the cap", fakeFile{data: weights, unsized: true}, 4 << 10, nil,
			"its body went past the 4 KiB cap"},
		{"Content-Length past the cap", fakeFile{data: weights, lfs: true, unsized: true}, 4 << 10, announce,
			"the server announced 12000 bytes, more than the 4 KiB cap"},
		{"cap exactly the size", fakeFile{data: weights, lfs: true, unsized: true}, int64(len(weights)), nil, ""},
		{"under the cap", fakeFile{data: weights, unsized: true}, 1 << 20, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHub(t, "model", "org/tiny-bert", map[string]fakeFile{"model.bin": tc.file})
			h.cdnHook = tc.hook
			c := h.client()
			c.MaxUnknownSize = tc.cap
			dir, err := c.Resolve("model", "org/tiny-bert", []string{"model.bin"})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, "model.bin")); !bytes.Equal(got, weights) {
					t.Errorf("stored %d bytes, want the served %d", len(got), len(weights))
				}
				return
			}
			wantErr(t, err, `download of model "org/tiny-bert" file "model.bin" stopped: the hub did not state its size`,
				tc.want, "the partial file was deleted", "HF_HUB_MAX_UNKNOWN_SIZE")
			noCacheEntries(t, c.CacheDir)
		})
	}
}

func TestUnknownSizeDefaultCaps(t *testing.T) {
	var c Client
	if got := c.unknownSizeCap(fileMeta{etag: sha256Hex(weights)}); got != 50<<30 {
		t.Errorf("LFS default cap %d, want 50 GiB", got)
	}
	if got := c.unknownSizeCap(fileMeta{etag: gitSHA1(config)}); got != 1<<30 {
		t.Errorf("non-LFS default cap %d, want 1 GiB", got)
	}
	c.MaxUnknownSize = 123
	if got := c.unknownSizeCap(fileMeta{etag: gitSHA1(config)}); got != 123 {
		t.Errorf("explicit cap %d, want 123", got)
	}
	for n, want := range map[int64]string{50 << 30: "50 GiB", 1 << 30: "1 GiB", 4096: "4 KiB", 3 << 20: "3 MiB", 5000: "5000 bytes"} {
		if got := capString(n); got != want {
			t.Errorf("capString(%d) = %q, want %q", n, got, want)
		}
	}
}

// A file whose HEAD states no size is held to the tree listing's size: a
// longer body is an error even for non-LFS files, which have no hash check.
func TestListingSizeBoundsUnsizedBody(t *testing.T) {
	data := bytes.Repeat([]byte("row\n"), 500)
	for _, tc := range []struct {
		name  string
		extra []byte
		want  string
	}{
		{"body as listed", nil, ""},
		{"body longer than listed", []byte("junk"), fmt.Sprintf("expected %d bytes, got %d bytes", len(data), len(data)+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFakeHub(t, "dataset", "nyu-mll/glue", map[string]fakeFile{
				"rte/train.tsv": {data: data, unsized: true, listed: true, extra: tc.extra},
			})
			c := h.client()
			dir, err := c.Resolve("dataset", "nyu-mll/glue", []string{"rte/*.tsv"})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, "rte", "train.tsv")); !bytes.Equal(got, data) {
					t.Errorf("stored %d bytes, want %d", len(got), len(data))
				}
				return
			}
			wantErr(t, err, `download of dataset "nyu-mll/glue" file "rte/train.tsv" is corrupt`, tc.want)
			noCacheEntries(t, c.CacheDir)
		})
	}
}

// --- 3. listing entries never leave the cache ---------------------------------

func TestUnsafeListingEntriesRefused(t *testing.T) {
	lfs := fakeFile{data: []byte("evil"), lfs: true}
	for _, tc := range []struct {
		entry, pattern, why string
	}{
		// Served and matched by the glob, so without the check they would be
		// downloaded and linked: ../../../../ climbs out of the cache folder.
		{"../../../../evil.parquet", "*/*/*/*/*.parquet", `a ".." element`},
		{"../evil.parquet", "*/*.parquet", `a ".." element`},
		{"/evil.parquet", "*/*.parquet", "an absolute path"},
		{`..\..\..\..\evil.parquet`, "*.parquet", "a backslash"},
		{"rte//evil.parquet", "rte/*/*.parquet", "an empty element"},
		{"rte/./evil.parquet", "rte/*/*.parquet", `a "." element`},
		{"rte/evil\n.parquet", "rte/*.parquet", "a control character"},
	} {
		t.Run(tc.entry, func(t *testing.T) {
			files := datasetFiles()
			files[tc.entry] = lfs
			h := newFakeHub(t, "dataset", "nyu-mll/glue", files)
			c := h.client()
			_, err := c.Resolve("dataset", "nyu-mll/glue", []string{tc.pattern})
			if _, err := os.Lstat(filepath.Join(filepath.Dir(c.CacheDir), "evil.parquet")); err == nil {
				t.Error("evil.parquet written next to the cache folder")
			}
			noCacheEntries(t, c.CacheDir)
			for _, x := range h.requests("") {
				if !strings.HasPrefix(x.path, "/api/") {
					t.Errorf("request after an unsafe listing: %+v", x)
				}
			}
			wantErr(t, err, `of dataset repo "nyu-mll/glue" from `+h.endpoint, fmt.Sprintf("has an unsafe entry %q (%s)", tc.entry, tc.why),
				"refusing it before it touches the cache")
		})
	}
}

// An unsafe entry is refused even when the glob would not pick it: a listing
// with one is not to be trusted.
func TestUnsafeDirectoryEntryRefused(t *testing.T) {
	h := newFakeHub(t, "dataset", "nyu-mll/glue", datasetFiles())
	h.treeExtra = []map[string]any{{"type": "directory", "oid": "tree", "size": 0, "path": ".."}}
	_, err := h.client().Resolve("dataset", "nyu-mll/glue", []string{"rte/*.parquet"})
	wantErr(t, err, `listing of folder "rte" of dataset repo "nyu-mll/glue"`, `has an unsafe entry ".." (a ".." element)`)
}

func TestLinkRefusesUnsafePaths(t *testing.T) {
	rc := newRepoCache(t.TempDir(), repo{kind: "model", id: "org/x"})
	for _, f := range []string{"../x", "a/../../x", "/abs", `a\b`, "a//b", ""} {
		err := rc.link(fakeCommit, f, gitSHA1(config))
		wantErr(t, err, fmt.Sprintf("refusing to link %q into the cache", f))
	}
	noCacheEntries(t, rc.root)
}

// A symlinked folder inside a snapshot would carry new links out of the cache.
func TestSymlinkedSnapshotFolderRefused(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	c := h.client()
	outside := t.TempDir()
	snap := filepath.Join(c.CacheDir, "models--org--tiny-bert", "snapshots", fakeCommit)
	os.MkdirAll(snap, 0o755)
	if err := os.Symlink(outside, filepath.Join(snap, "tokenizer")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Resolve("model", "org/tiny-bert", []string{"tokenizer/tokenizer.json"})
	wantErr(t, err, "cache folder "+filepath.Join(snap, "tokenizer")+" is a symlink", "delete it and run again")
	if names, _ := os.ReadDir(outside); len(names) != 0 {
		t.Errorf("files written through the symlink: %v", names)
	}
}

// A cached snapshot entry linking out of the cache is not handed out: offline
// it is named, online it is relinked to the downloaded blob.
func TestCachedLinkOutOfCache(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	c := h.client()
	root := filepath.Join(c.CacheDir, "models--org--tiny-bert")
	snap := filepath.Join(root, "snapshots", fakeCommit)
	os.MkdirAll(snap, 0o755)
	os.MkdirAll(filepath.Join(root, "refs"), 0o755)
	os.WriteFile(filepath.Join(root, "refs", "main"), []byte(fakeCommit), 0o644)
	secret := filepath.Join(t.TempDir(), "secret.json")
	os.WriteFile(secret, []byte(`{"not": "from the hub"}`), 0o644)
	os.Symlink(secret, filepath.Join(snap, "config.json"))

	c.Offline = true
	_, err := c.Resolve("model", "org/tiny-bert", []string{"config.json"})
	wantErr(t, err, "missing config.json (a link out of the cache)")

	c.Offline = false
	dir := mustResolve(t, c, "model", "org/tiny-bert", []string{"config.json"})
	if got := readLink(t, filepath.Join(dir, "config.json")); got != "../../blobs/"+gitSHA1(config) {
		t.Errorf("config.json -> %s, want the blob", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "config.json")); !bytes.Equal(got, config) {
		t.Errorf("config.json = %q, want the served file", got)
	}

	// An absolute link into this repo's blobs/ (as some tools write) is fine.
	abs := filepath.Join(root, "blobs", gitSHA1(config))
	os.Remove(filepath.Join(dir, "config.json"))
	os.Symlink(abs, filepath.Join(dir, "config.json"))
	h.resetHits()
	c.Offline = true
	mustResolve(t, c, "model", "org/tiny-bert", []string{"config.json"})
}

// FuzzUnsafePath checks unsafePath against an independent rule: whatever it
// accepts stays strictly below the folder it is joined to, on this system.
func FuzzUnsafePath(f *testing.F) {
	for _, s := range []string{"config.json", "rte/train.parquet", "..", "a/../b", "/x", `a\b`, "a//b", "./a", "a/.", "", "C:x", "a\x00b", "..."} {
		f.Add(s)
	}
	base := filepath.Join("cache", "snapshots", "c")
	f.Fuzz(func(t *testing.T, p string) {
		if unsafePath(p) != "" {
			return
		}
		if joined := filepath.Join(base, filepath.FromSlash(p)); !within(base, joined) {
			t.Errorf("unsafePath accepts %q, which joins to %s outside %s", p, joined, base)
		}
		if !fs.ValidPath(p) || strings.Contains(p, `\`) {
			t.Errorf("unsafePath accepts %q, not a valid slash-separated path", p)
		}
	})
}
