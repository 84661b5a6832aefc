package hub

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func init() {
	retryDelay = 0 // retries in tests need no back-off
}

var (
	weights   = bytes.Repeat([]byte("safetensors!"), 1000) // 12 kB "LFS" file
	config    = []byte(`{"model_type": "bert", "hidden_size": 8}`)
	tokenizer = []byte(`{"version": "1.0", "model": {"type": "WordPiece"}}`)
)

func modelFiles() map[string]fakeFile {
	return map[string]fakeFile{
		"config.json":              {data: config},
		"model.safetensors":        {data: weights, lfs: true},
		"tokenizer/tokenizer.json": {data: tokenizer},
	}
}

var modelWant = []string{"config.json", "model.safetensors", "tokenizer/tokenizer.json"}

func mustResolve(t *testing.T, c *Client, kind, ref string, files []string) string {
	t.Helper()
	dir, err := c.Resolve(kind, ref, files)
	if err != nil {
		t.Fatalf("Resolve(%q, %q, %q): %v", kind, ref, files, err)
	}
	return dir
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	msg := err.Error()
	t.Log(msg) // go test -v shows every message, for proofreading
	if strings.Contains(msg, "\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, p := range parts {
		if !strings.Contains(msg, p) {
			t.Errorf("error %q\n  does not contain %q", msg, p)
		}
	}
}

func readLink(t *testing.T, p string) string {
	t.Helper()
	target, err := os.Readlink(p)
	if err != nil {
		t.Fatalf("%s is not a symlink: %v", p, err)
	}
	return target
}

// leftovers lists temp and partial files under root, which a finished or
// failed Resolve must not leave in snapshots (and, once finished, anywhere).
func leftovers(t *testing.T, root string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, ".incomplete") || strings.HasSuffix(p, ".tmp")) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

func TestDownloadCacheLayout(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	c := h.client()
	dir := mustResolve(t, c, "model", "org/tiny-bert", modelWant)

	root := filepath.Join(c.CacheDir, "models--org--tiny-bert")
	if want := filepath.Join(root, "snapshots", fakeCommit); dir != want {
		t.Fatalf("dir = %s, want %s", dir, want)
	}
	ref, err := os.ReadFile(filepath.Join(root, "refs", "main"))
	if err != nil || string(ref) != fakeCommit {
		t.Fatalf("refs/main = %q, %v; want exactly %q", ref, err, fakeCommit)
	}
	blobs, _ := os.ReadDir(filepath.Join(root, "blobs"))
	var names []string
	for _, b := range blobs {
		names = append(names, b.Name())
	}
	wantBlobs := []string{sha256Hex(weights), gitSHA1(config), gitSHA1(tokenizer)}
	slices.Sort(wantBlobs)
	if !slices.Equal(names, wantBlobs) {
		t.Fatalf("blobs = %q, want %q", names, wantBlobs)
	}
	for file, blob := range map[string]string{
		"config.json":              "../../blobs/" + gitSHA1(config),
		"model.safetensors":        "../../blobs/" + sha256Hex(weights),
		"tokenizer/tokenizer.json": "../../../blobs/" + gitSHA1(tokenizer),
	} {
		p := filepath.Join(dir, filepath.FromSlash(file))
		if got := readLink(t, p); got != blob {
			t.Errorf("%s -> %s, want %s", file, got, blob)
		}
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, h.files[file].data) {
			t.Errorf("%s content differs from the served file (%v)", file, err)
		}
	}
	if l := leftovers(t, c.CacheDir); len(l) > 0 {
		t.Errorf("temporary files left: %q", l)
	}
}

func TestSecondResolveMakesNoRequest(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	c := h.client()
	first := mustResolve(t, c, "model", "org/tiny-bert", modelWant)
	if len(h.requests("")) == 0 {
		t.Fatal("first Resolve made no request")
	}
	h.resetHits()
	second := mustResolve(t, c, "model", "org/tiny-bert", modelWant)
	if second != first {
		t.Errorf("second Resolve = %s, want %s", second, first)
	}
	if hits := h.requests(""); len(hits) != 0 {
		t.Errorf("second Resolve made %d requests: %+v", len(hits), hits)
	}
}

func TestPartialCacheDownloadsOnlyMissing(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	c := h.client()
	mustResolve(t, c, "model", "org/tiny-bert", []string{"model.safetensors"})
	h.resetHits()
	dir := mustResolve(t, c, "model", "org/tiny-bert", modelWant)
	if cdn := h.requests("cdn"); len(cdn) != 0 {
		t.Errorf("cached LFS blob fetched again: %+v", cdn)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil {
		t.Errorf("config.json not added to the snapshot: %v", err)
	}
}

func TestOfflineResolvesFromCache(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	online := h.client()
	want := mustResolve(t, online, "model", "org/tiny-bert", modelWant)
	h.resetHits()

	offline := &Client{Endpoint: h.hub.URL, CacheDir: online.CacheDir, Offline: true}
	if got := mustResolve(t, offline, "model", "org/tiny-bert", modelWant); got != want {
		t.Errorf("offline Resolve = %s, want %s", got, want)
	}
	if hits := h.requests(""); len(hits) != 0 {
		t.Errorf("offline Resolve made requests: %+v", hits)
	}
}

func TestOfflineNotCachedError(t *testing.T) {
	h := newFakeHub(t, "model", "microsoft/deberta-v3-base", modelFiles())
	c := h.client()
	c.Offline = true
	_, err := c.Resolve("model", "microsoft/deberta-v3-base", []string{"config.json", "model.safetensors", "tokenizer.json"})
	want := fmt.Sprintf(`model "microsoft/deberta-v3-base" is not in the Hugging Face cache (%s) and HF_HUB_OFFLINE=1: `+
		`pass -model with a local folder holding config.json, model.safetensors and tokenizer.json, or unset HF_HUB_OFFLINE`, c.CacheDir)
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant    %s", err, want)
	}
	if hits := h.requests(""); len(hits) != 0 {
		t.Errorf("offline Resolve made requests: %+v", hits)
	}
}

func TestOfflinePartlyCachedNamesMissing(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	c := h.client()
	mustResolve(t, c, "model", "org/tiny-bert", []string{"config.json"})
	c.Offline = true
	_, err := c.Resolve("model", "org/tiny-bert", modelWant)
	wantErr(t, err, "only partly in the Hugging Face cache", "missing model.safetensors and tokenizer/tokenizer.json", "HF_HUB_OFFLINE")
}

func TestUnreachableEndpointError(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // nothing listens there any more: connection refused
	c := &Client{Endpoint: dead.URL, CacheDir: t.TempDir()}
	_, err := c.Resolve("model", "org/tiny-bert", []string{"config.json"})
	wantErr(t, err, `model "org/tiny-bert" is not in the Hugging Face cache (`+c.CacheDir+`)`,
		"HF_ENDPOINT "+dead.URL+" cannot be reached", "pass -model with a local folder holding config.json",
		"check the network and HF_ENDPOINT")
}

func TestTokenSentToEndpointOnly(t *testing.T) {
	h := newFakeHubTLS(t, "model", "org/gated", modelFiles())
	h.token = "hf_secret"
	c := h.client()
	c.Token = "hf_secret"
	mustResolve(t, c, "model", "org/gated", modelWant)

	for _, x := range h.requests("hub") {
		if x.auth != "Bearer hf_secret" {
			t.Errorf("hub request %s %s had Authorization %q", x.method, x.path, x.auth)
		}
	}
	cdn := h.requests("cdn")
	if len(cdn) == 0 {
		t.Fatal("LFS file was not fetched from the CDN server")
	}
	for _, x := range cdn {
		if x.auth != "" {
			t.Errorf("token leaked to the CDN (cdn.example.com, a subdomain of the hub's host): %+v", x)
		}
	}
}

// cutOnce makes the CDN send only n bytes of the first full GET and then drop
// the connection (Content-Length promises more, so the client sees an
// unexpected EOF); later requests are served normally, honouring Range.
func cutOnce(n int) func(http.ResponseWriter, *http.Request, fakeFile) bool {
	var once sync.Once
	return func(w http.ResponseWriter, r *http.Request, f fakeFile) bool {
		cut := false
		once.Do(func() {
			cut = true
			w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
			w.WriteHeader(http.StatusOK)
			w.Write(f.data[:n])
		})
		return cut
	}
}

func TestResumeWithinOneCall(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	h.cdnHook = cutOnce(5000)
	c := h.client()
	var progress bytes.Buffer
	c.Progress = &progress
	dir := mustResolve(t, c, "model", "org/tiny-bert", []string{"model.safetensors"})

	cdn := h.requests("cdn")
	if len(cdn) != 2 || cdn[0].rng != "" || cdn[1].rng != "bytes=5000-" {
		t.Fatalf("CDN requests = %+v, want a plain GET then Range: bytes=5000-", cdn)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if sha256Hex(got) != sha256Hex(weights) {
		t.Error("resumed file does not match the served sha256")
	}
	if !strings.Contains(progress.String(), "resuming at 5.0 kB") {
		t.Errorf("progress does not mention resuming:\n%s", progress.String())
	}
}

func TestResumeOnNextCall(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	h.cdnHook = cutOnce(5000)
	c := h.client()
	defer func(n int) { maxAttempts = n }(maxAttempts)
	maxAttempts = 1 // the first call gives up after the cut, like a killed process

	_, err := c.Resolve("model", "org/tiny-bert", []string{"model.safetensors"})
	wantErr(t, err, `model "org/tiny-bert" file "model.safetensors" stopped at 5.0 kB of 12.0 kB`, "run again to resume")
	root := filepath.Join(c.CacheDir, "models--org--tiny-bert")
	inc := filepath.Join(root, "blobs", sha256Hex(weights)+".incomplete")
	if fi, err := os.Stat(inc); err != nil || fi.Size() != 5000 {
		t.Fatalf("partial file %s: %v (want 5000 bytes)", inc, err)
	}
	if _, err := os.Stat(filepath.Join(root, "snapshots")); err == nil {
		t.Error("snapshots/ exists after a failed download")
	}
	if _, err := os.Stat(filepath.Join(root, "refs", "main")); err == nil {
		t.Error("refs/main written after a failed download")
	}

	dir := mustResolve(t, c, "model", "org/tiny-bert", []string{"model.safetensors"})
	cdn := h.requests("cdn")
	if last := cdn[len(cdn)-1]; last.rng != "bytes=5000-" {
		t.Errorf("second call's CDN request had Range %q, want bytes=5000-", last.rng)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if !bytes.Equal(got, weights) {
		t.Error("resumed file differs from the served one")
	}
}

func TestRestartWhenRangeIgnored(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	h.cdnHook = func(w http.ResponseWriter, r *http.Request, f fakeFile) bool {
		w.Write(f.data) // 200 with the whole file, whatever the Range
		return true
	}
	c := h.client()
	blobs := filepath.Join(c.CacheDir, "models--org--tiny-bert", "blobs")
	os.MkdirAll(blobs, 0o755)
	stale := bytes.Repeat([]byte("x"), 3000)
	os.WriteFile(filepath.Join(blobs, sha256Hex(weights)+".incomplete"), stale, 0o644)

	dir := mustResolve(t, c, "model", "org/tiny-bert", []string{"model.safetensors"})
	if cdn := h.requests("cdn"); len(cdn) != 1 || cdn[0].rng != "bytes=3000-" {
		t.Errorf("CDN requests = %+v, want one with Range: bytes=3000-", cdn)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if !bytes.Equal(got, weights) {
		t.Error("a 200 answer to a Range request was appended instead of restarting")
	}
}

func TestCorruptDownloadRejected(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	bad := bytes.Repeat([]byte("?"), len(weights)) // right size, wrong bytes
	h.cdnHook = func(w http.ResponseWriter, r *http.Request, f fakeFile) bool {
		w.Write(bad)
		return true
	}
	c := h.client()
	_, err := c.Resolve("model", "org/tiny-bert", modelWant)
	wantErr(t, err, `model "org/tiny-bert" file "model.safetensors" is corrupt`,
		"expected sha256 "+sha256Hex(weights), "got sha256 "+sha256Hex(bad), "run again")

	root := filepath.Join(c.CacheDir, "models--org--tiny-bert")
	if _, err := os.Lstat(filepath.Join(root, "snapshots", fakeCommit, "model.safetensors")); err == nil {
		t.Error("corrupt file linked into the snapshot")
	}
	for _, p := range []string{"blobs/" + sha256Hex(weights), "blobs/" + sha256Hex(weights) + ".incomplete", "refs/main"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			t.Errorf("%s exists after a corrupt download", p)
		}
	}
}

func TestTruncatedDownloadRejected(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	h.cdnHook = func(w http.ResponseWriter, r *http.Request, f fakeFile) bool {
		w.Write(f.data) // the hub claims more bytes than the CDN object has
		w.Write([]byte("trailing garbage"))
		return true
	}
	c := h.client()
	_, err := c.Resolve("model", "org/tiny-bert", []string{"model.safetensors"})
	wantErr(t, err, "is corrupt", fmt.Sprintf("expected %d bytes, got %d bytes", len(weights), len(weights)+1))
}

func TestLocalFolder(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644)
	os.MkdirAll(filepath.Join(dir, "rte"), 0o755)
	os.WriteFile(filepath.Join(dir, "rte", "train.parquet"), weights, 0o644)
	c := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir()} // any request would fail

	if got := mustResolve(t, c, "model", dir, []string{"config.json"}); got != dir {
		t.Errorf("Resolve(local) = %s, want %s unchanged", got, dir)
	}
	if got := mustResolve(t, c, "dataset", dir, []string{"rte/*.parquet"}); got != dir {
		t.Errorf("Resolve(local glob) = %s, want %s", got, dir)
	}
	_, err := c.Resolve("model", dir, []string{"config.json", "model.safetensors", "tokenizer.json"})
	wantErr(t, err, fmt.Sprintf("local model folder %q is missing model.safetensors and tokenizer.json", dir))
	_, err = c.Resolve("model", filepath.Join(dir, "config.json"), nil)
	wantErr(t, err, "is a file")
	_, err = c.Resolve("model", "./no-such-folder", nil)
	wantErr(t, err, `local folder "./no-such-folder" does not exist`)
}

func datasetFiles() map[string]fakeFile {
	return map[string]fakeFile{
		"README.md":                 {data: []byte("# glue")},
		"rte/train.parquet":         {data: bytes.Repeat([]byte("rte-train"), 300), lfs: true},
		"rte/validation.parquet":    {data: bytes.Repeat([]byte("rte-val"), 200), lfs: true},
		"rte/test.parquet":          {data: bytes.Repeat([]byte("rte-test"), 100), lfs: true},
		"rte/notes.txt":             {data: []byte("not parquet")},
		"rte/extra/ignored.parquet": {data: []byte("deeper than the glob"), lfs: true},
		"cola/train.parquet":        {data: bytes.Repeat([]byte("cola"), 100), lfs: true},
	}
}

func TestDatasetGlobViaTreeAPI(t *testing.T) {
	h := newFakeHub(t, "dataset", "nyu-mll/glue", datasetFiles())
	h.pageSize = 2 // force the Link-header pagination
	c := h.client()
	dir := mustResolve(t, c, "dataset", "nyu-mll/glue", []string{"rte/*.parquet", "README.md"})

	root := filepath.Join(c.CacheDir, "datasets--nyu-mll--glue")
	if want := filepath.Join(root, "snapshots", fakeCommit); dir != want {
		t.Fatalf("dir = %s, want %s", dir, want)
	}
	got, _ := fs.Glob(os.DirFS(dir), "*/*")
	want := []string{"rte/test.parquet", "rte/train.parquet", "rte/validation.parquet"}
	if !slices.Equal(got, want) {
		t.Errorf("snapshot holds %q, want %q", got, want)
	}
	if l := readLink(t, filepath.Join(dir, "rte", "train.parquet")); l != "../../../blobs/"+sha256Hex(h.files["rte/train.parquet"].data) {
		t.Errorf("rte/train.parquet -> %s", l)
	}
	var trees []string
	for _, x := range h.requests("hub") {
		if strings.HasPrefix(x.path, "/api/") {
			trees = append(trees, x.path)
		}
	}
	if len(trees) < 2 || trees[0] != "/api/datasets/nyu-mll/glue/tree/main/rte" {
		t.Errorf("tree requests = %q, want paginated listing of /api/datasets/nyu-mll/glue/tree/main/rte", trees)
	}
	for _, x := range h.requests("hub") {
		if strings.Contains(x.path, "/resolve/") && !strings.HasPrefix(x.path, "/datasets/nyu-mll/glue/resolve/") {
			t.Errorf("dataset file fetched from %s", x.path)
		}
	}

	// Online again: only the listing, no downloads.
	h.resetHits()
	mustResolve(t, c, "dataset", "nyu-mll/glue", []string{"rte/*.parquet"})
	for _, x := range h.requests("") {
		if !strings.HasPrefix(x.path, "/api/") {
			t.Errorf("cached glob made a non-listing request: %+v", x)
		}
	}

	// Offline: the glob is matched against the cached snapshot.
	h.resetHits()
	c.Offline = true
	if got := mustResolve(t, c, "dataset", "nyu-mll/glue", []string{"rte/*.parquet"}); got != dir {
		t.Errorf("offline glob Resolve = %s, want %s", got, dir)
	}
	if hits := h.requests(""); len(hits) != 0 {
		t.Errorf("offline glob made requests: %+v", hits)
	}
	_, err := c.Resolve("dataset", "nyu-mll/glue", []string{"cola/*.parquet"})
	wantErr(t, err, `dataset "nyu-mll/glue" is only partly in the Hugging Face cache`, "missing cola/*.parquet", "pass -data ")
}

func TestGlobFallsBackToCacheWhenUnreachable(t *testing.T) {
	h := newFakeHub(t, "dataset", "nyu-mll/glue", datasetFiles())
	c := h.client()
	want := mustResolve(t, c, "dataset", "nyu-mll/glue", []string{"rte/*.parquet"})
	h.hub.Close()
	if got := mustResolve(t, c, "dataset", "nyu-mll/glue", []string{"rte/*.parquet"}); got != want {
		t.Errorf("Resolve with hub down = %s, want cached %s", got, want)
	}
}

func TestGlobMatchingNothing(t *testing.T) {
	h := newFakeHub(t, "dataset", "nyu-mll/glue", datasetFiles())
	_, err := h.client().Resolve("dataset", "nyu-mll/glue", []string{"rte/*.csv"})
	wantErr(t, err, `no file of dataset repo "nyu-mll/glue" at revision main matches "rte/*.csv"`)
}

func TestRecursiveGlob(t *testing.T) {
	h := newFakeHub(t, "dataset", "nyu-mll/glue", datasetFiles())
	dir := mustResolve(t, h.client(), "dataset", "nyu-mll/glue", []string{"*/train.parquet"})
	for _, f := range []string{"rte/train.parquet", "cola/train.parquet"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if hits := h.requests("hub"); !strings.HasSuffix(hits[0].path, "/tree/main") {
		t.Errorf("first request %s, want a listing of the repo root", hits[0].path)
	}
}

func TestRevisions(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	h.revs = []string{"v1.0", "refs/pr/1"}
	c := h.client()
	root := filepath.Join(c.CacheDir, "models--org--tiny-bert")

	mustResolve(t, c, "model", "org/tiny-bert@v1.0", modelWant)
	if b, _ := os.ReadFile(filepath.Join(root, "refs", "v1.0")); string(b) != fakeCommit {
		t.Errorf("refs/v1.0 = %q", b)
	}
	// After the first file, the rest are pinned to the commit it reported.
	var heads []string
	for _, x := range h.requests("hub") {
		if x.method == http.MethodHead {
			heads = append(heads, x.path)
		}
	}
	if !strings.Contains(heads[0], "/resolve/v1.0/") || !strings.Contains(heads[1], "/resolve/"+fakeCommit+"/") {
		t.Errorf("HEAD paths = %q, want v1.0 then pinned to %s", heads, fakeCommit)
	}

	mustResolve(t, c, "model", "org/tiny-bert@refs/pr/1", []string{"config.json"})
	if b, _ := os.ReadFile(filepath.Join(root, "refs", "refs", "pr", "1")); string(b) != fakeCommit {
		t.Errorf("refs/refs/pr/1 = %q", b)
	}
	if !slices.ContainsFunc(h.requests("hub"), func(x hit) bool { return strings.Contains(x.path, "/resolve/refs%2Fpr%2F1/") }) {
		t.Error("revision refs/pr/1 not sent as one escaped path segment")
	}

	c2 := h.client()
	dir := mustResolve(t, c2, "model", "org/tiny-bert@"+fakeCommit, []string{"config.json"})
	if filepath.Base(dir) != fakeCommit {
		t.Errorf("dir = %s", dir)
	}
	if _, err := os.Stat(filepath.Join(c2.CacheDir, "models--org--tiny-bert", "refs")); err == nil {
		t.Error("a commit revision wrote a refs/ entry")
	}
}

func TestHTTPErrors(t *testing.T) {
	h := newFakeHubTLS(t, "model", "org/gated", modelFiles())
	h.token = "hf_right"
	c := h.client()
	_, err := c.Resolve("model", "org/gated", []string{"config.json"})
	wantErr(t, err, `access to model repo "org/gated" was denied (HTTP 401`, "gated or private", h.endpoint+"/org/gated", "set HF_TOKEN")

	c.Token = "hf_wrong"
	_, err = c.Resolve("model", "org/gated", []string{"config.json"})
	wantErr(t, err, "denied with the configured token", "HF_TOKEN")

	c.Token = "hf_right"
	_, err = c.Resolve("model", "org/gated", []string{"config.json", "vocab.txt"})
	wantErr(t, err, `file "vocab.txt" was not found in model repo "org/gated" at revision main`)

	_, err = c.Resolve("model", "org/other", []string{"config.json"})
	wantErr(t, err, `model repo "org/other" was not found on `+h.endpoint, "check the repo id", "HF_TOKEN")

	_, err = c.Resolve("model", "org/gated@nope", []string{"config.json"})
	wantErr(t, err, `revision "nope" of model repo "org/gated" was not found`)

	bare := httptest.NewTLSServer(http.NotFoundHandler()) // a 404 without the hub's error headers
	defer bare.Close()
	c.Endpoint = bare.URL
	_, err = c.Resolve("model", "org/gated", []string{"config.json"})
	wantErr(t, err, `model repo "org/gated" or its file "config.json" at revision main was not found`)
}

func TestBadArguments(t *testing.T) {
	c := &Client{Endpoint: "http://127.0.0.1:1", CacheDir: t.TempDir()}
	for _, tc := range []struct {
		kind, ref string
		files     []string
		want      string
	}{
		{"space", "org/name", nil, `unknown repo kind "space"`},
		{"model", "org/name@", nil, `bad revision ""`},
		{"model", "org/name@../../x", nil, "bad revision"},
		{"model", "org/na--me", nil, "neither an existing local folder nor a Hugging Face repo id"},
		{"model", "a/b/c", nil, `local folder "a/b/c" does not exist`},
		{"model", "../x", nil, "does not exist"},
		{"model", "org/name", []string{"../../etc/passwd"}, "bad file path"},
		{"model", "org/name", []string{"/abs"}, "bad file path"},
		{"model", "org/name", []string{"rte/[.parquet"}, "bad glob"},
	} {
		_, err := c.Resolve(tc.kind, tc.ref, tc.files)
		wantErr(t, err, tc.want)
	}
}

func TestConcurrentResolveDownloadsOnce(t *testing.T) {
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	c := h.client()
	var wg sync.WaitGroup
	dirs := make([]string, 4)
	errs := make([]error, 4)
	for i := range dirs {
		wg.Go(func() { dirs[i], errs[i] = c.Resolve("model", "org/tiny-bert", modelWant) })
	}
	wg.Wait()
	for i := range dirs {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("goroutine %d: %s, %v", i, dirs[i], errs[i])
		}
	}
	if cdn := h.requests("cdn"); len(cdn) != 1 {
		t.Errorf("LFS blob fetched %d times, want once", len(cdn))
	}
	got, _ := os.ReadFile(filepath.Join(dirs[0], "model.safetensors"))
	if !bytes.Equal(got, weights) {
		t.Error("concurrent downloads produced a wrong file")
	}
}

func TestStalledBodyIsRetried(t *testing.T) {
	defer func(d time.Duration) { idleTimeout = d }(idleTimeout)
	idleTimeout = 200 * time.Millisecond
	h := newFakeHub(t, "model", "org/tiny-bert", modelFiles())
	release := make(chan struct{})
	defer close(release)
	var once sync.Once
	h.cdnHook = func(w http.ResponseWriter, r *http.Request, f fakeFile) bool {
		stall := false
		once.Do(func() { stall = true })
		if !stall {
			return false
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(f.data)))
		w.Write(f.data[:1000])
		w.(http.Flusher).Flush()
		select { // hang mid-body until the client gives up
		case <-r.Context().Done():
		case <-release:
		}
		return true
	}
	dir := mustResolve(t, h.client(), "model", "org/tiny-bert", []string{"model.safetensors"})
	cdn := h.requests("cdn")
	if len(cdn) != 2 || cdn[1].rng != "bytes=1000-" {
		t.Errorf("CDN requests = %+v, want a stalled GET then Range: bytes=1000-", cdn)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "model.safetensors")); !bytes.Equal(got, weights) {
		t.Error("file differs after a stall")
	}
}

func TestFromEnv(t *testing.T) {
	home := t.TempDir()
	clear := func() {
		for _, k := range []string{"HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME",
			"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
			"HF_HUB_DISABLE_PROGRESS_BARS"} {
			t.Setenv(k, "")
		}
		t.Setenv("HOME", home)
	}

	t.Run("defaults", func(t *testing.T) {
		clear()
		c := FromEnv()
		if c.Endpoint != "https://huggingface.co" || c.Token != "" || c.Offline || c.HTTP == nil || c.Progress == nil {
			t.Errorf("defaults: %+v", c)
		}
		if want := filepath.Join(home, ".cache", "huggingface", "hub"); c.CacheDir != want {
			t.Errorf("CacheDir = %s, want %s", c.CacheDir, want)
		}
	})
	t.Run("explicit", func(t *testing.T) {
		clear()
		t.Setenv("HF_ENDPOINT", "https://hf-mirror.example/")
		t.Setenv("HF_TOKEN", " hf_abc\n")
		t.Setenv("HF_HUB_CACHE", "/data/hf")
		t.Setenv("HF_HOME", "/elsewhere")
		t.Setenv("HF_HUB_OFFLINE", "1")
		t.Setenv("HF_HUB_DISABLE_PROGRESS_BARS", "true")
		c := FromEnv()
		if c.Endpoint != "https://hf-mirror.example" || c.Token != "hf_abc" || c.CacheDir != "/data/hf" || !c.Offline || c.Progress != nil {
			t.Errorf("explicit: %+v", c)
		}
	})
	t.Run("HF_HOME and token file", func(t *testing.T) {
		clear()
		hf := filepath.Join(home, "hf")
		os.MkdirAll(hf, 0o755)
		os.WriteFile(filepath.Join(hf, "token"), []byte("hf_from_file\n"), 0o600)
		t.Setenv("HF_HOME", hf)
		c := FromEnv()
		if c.CacheDir != filepath.Join(hf, "hub") || c.Token != "hf_from_file" {
			t.Errorf("HF_HOME: CacheDir %s, Token %q", c.CacheDir, c.Token)
		}
		t.Setenv("HF_TOKEN", "hf_env")
		if c := FromEnv(); c.Token != "hf_env" {
			t.Errorf("HF_TOKEN should beat the token file, got %q", c.Token)
		}
	})
	t.Run("XDG and tilde", func(t *testing.T) {
		clear()
		t.Setenv("XDG_CACHE_HOME", "~/xdg")
		if c := FromEnv(); c.CacheDir != filepath.Join(home, "xdg", "huggingface", "hub") {
			t.Errorf("XDG_CACHE_HOME: CacheDir %s", c.CacheDir)
		}
	})
	t.Run("offline spellings", func(t *testing.T) {
		for _, tc := range []struct {
			hub, transformers string
			want              bool
		}{
			{"1", "", true}, {"TRUE", "", true}, {"yes", "", true}, {"on", "", true},
			{"0", "", false}, {"", "1", true}, {"0", "1", false}, {"", "", false},
		} {
			clear()
			t.Setenv("HF_HUB_OFFLINE", tc.hub)
			t.Setenv("TRANSFORMERS_OFFLINE", tc.transformers)
			if got := FromEnv().Offline; got != tc.want {
				t.Errorf("HF_HUB_OFFLINE=%q TRANSFORMERS_OFFLINE=%q: Offline = %v", tc.hub, tc.transformers, got)
			}
		}
	})
}

func TestZeroClientUsesEnvCache(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("HF_HUB_CACHE", cache)
	var c Client
	c.Offline = true
	_, err := c.Resolve("model", "org/name", []string{"config.json"})
	wantErr(t, err, "("+cache+")")
}

func TestHelpers(t *testing.T) {
	for in, want := range map[string]string{`"abc"`: "abc", `W/"abc"`: "abc", "abc": "abc", ` "x" `: "x"} {
		if got := normalizeETag(in); got != want {
			t.Errorf("normalizeETag(%q) = %q, want %q", in, got, want)
		}
	}
	link := `<https://hf.co/api/x?cursor=a>; rel="prev", <https://hf.co/api/x?cursor=b>; rel="next"`
	if got := nextLink(link); got != "https://hf.co/api/x?cursor=b" {
		t.Errorf("nextLink = %q", got)
	}
	if got := humanList([]string{"a", "b", "c"}); got != "a, b and c" {
		t.Errorf("humanList = %q", got)
	}
	if got := byteSize(704_000_000); got != "704.0 MB" {
		t.Errorf("byteSize = %q", got)
	}
	var out bytes.Buffer
	m := &meter{w: &out, label: "org/x model.safetensors", total: 20 << 20}
	m.start()
	m.at(0)
	for range 5 {
		m.Write(make([]byte, 4<<20))
	}
	m.finish()
	wantOut := "hub: downloading org/x model.safetensors (21.0 MB)\n" +
		"hub: org/x model.safetensors 20% (4.2 MB of 21.0 MB)\n" +
		"hub: org/x model.safetensors 40% (8.4 MB of 21.0 MB)\n" +
		"hub: org/x model.safetensors 60% (12.6 MB of 21.0 MB)\n" +
		"hub: org/x model.safetensors 80% (16.8 MB of 21.0 MB)\n" +
		"hub: downloaded org/x model.safetensors\n"
	if out.String() != wantOut {
		t.Errorf("meter output:\n%s\nwant:\n%s", out.String(), wantOut)
	}
	var ne error = &netError{errors.New("dial tcp: refused")}
	if !isNetErr(fmt.Errorf("wrapped: %w", ne)) {
		t.Error("isNetErr misses wrapped netError")
	}
}
