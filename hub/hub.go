// Package hub resolves Hugging Face model and dataset repos to local folders.
//
// It reads and writes the cache layout of the Python huggingface_hub library
// (and therefore of transformers and datasets), so a researcher's existing
// ~/.cache/huggingface/hub is reused and what this package downloads is visible
// to Python tools too:
//
//	<cache>/models--org--name/            (datasets: datasets--org--name)
//	    refs/<revision>                   file holding the commit hash
//	    blobs/<etag>                      sha256 for LFS files, git sha1 otherwise
//	    snapshots/<commit>/<path>         relative symlink to ../../blobs/<etag>
//
// Resolution order is: a local folder; else the cache; else a download. The
// cache is trusted before the network, so a repo resolved once costs no request
// afterwards (a glob costs one tree listing, to learn which files it matches).
package hub

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// DefaultEndpoint is the public Hugging Face hub, used when HF_ENDPOINT is unset.
const DefaultEndpoint = "https://huggingface.co"

// Client resolves repos against one hub endpoint and one cache folder. The zero
// value works (default endpoint, cache from the environment, online, quiet);
// FromEnv fills every field the way huggingface_hub reads its environment.
type Client struct {
	Endpoint string       // HF_ENDPOINT, default https://huggingface.co
	Token    string       // HF_TOKEN (or the token file $HF_HOME/token)
	CacheDir string       // $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
	Offline  bool         // HF_HUB_OFFLINE=1
	HTTP     *http.Client // nil means http.DefaultClient; leave Timeout 0, stalls are detected per read
	Progress io.Writer    // download progress (nil = quiet)

	// AllowInsecureToken (HF_ALLOW_INSECURE_TOKEN=1) lets requests go over
	// plain http while Token is set. Without it such a request is refused
	// before it is sent: an http endpoint, or any redirect or link to an http
	// URL. Only for a mirror on a trusted network; a mirror of public repos
	// needs no token, and plain http without a token is always allowed.
	AllowInsecureToken bool

	// MaxUnknownSize (HF_HUB_MAX_UNKNOWN_SIZE, bytes or e.g. "100GiB") caps a
	// download whose size neither the hub's headers nor its listing state, so a
	// runaway server cannot fill the disk. 0 means DefaultMaxUnknownLFS for LFS
	// files (sha256 ETag) and DefaultMaxUnknownOther for the rest. A file of
	// known size is never capped: its body must match that size exactly.
	MaxUnknownSize int64

	envErr error // a malformed environment variable seen by FromEnv, reported by Resolve
}

// Defaults of Client.MaxUnknownSize. The hub stores every file above 10 MB in
// LFS, so a non-LFS file near 1 GiB is already far from normal.
const (
	DefaultMaxUnknownLFS   int64 = 50 << 30
	DefaultMaxUnknownOther int64 = 1 << 30
)

// Resolve returns a local folder holding the requested files of a repo.
//
// ref is either an existing local folder, returned as is once every file is
// checked to exist, or a repo id "org/name", optionally "org/name@revision"
// (branch, tag or commit; default main). kind is "model" or "dataset".
//
// files are slash-separated paths inside the repo. An entry may be a glob in
// path.Match syntax ("rte/*.parquet", where * does not cross a slash); it must
// match at least one file. For a repo, globs are expanded through the hub's tree
// API, or offline against the cached snapshot.
//
// Errors are one line and say what to do next.
func (c *Client) Resolve(kind, ref string, files []string) (string, error) {
	if kind != "model" && kind != "dataset" {
		return "", fmt.Errorf("unknown repo kind %q: use \"model\" or \"dataset\"", kind)
	}
	if c.envErr != nil {
		return "", c.envErr
	}
	if c.MaxUnknownSize < 0 {
		return "", fmt.Errorf("Client.MaxUnknownSize is %d: use 0 for the default or a positive number of bytes", c.MaxUnknownSize)
	}
	if err := validateFiles(files); err != nil {
		return "", err
	}
	dir, isLocal, err := localFolder(ref)
	if err != nil {
		return "", err
	}
	if isLocal {
		return dir, checkLocal(kind, dir, files)
	}
	r, err := parseRepo(kind, ref)
	if err != nil {
		return "", err
	}
	return c.resolveRepo(r, files)
}

// validateFiles rejects paths that could escape the snapshot folder or that the
// hub could never serve, before anything touches the disk or the network.
func validateFiles(files []string) error {
	for _, f := range files {
		if f == "." || !fs.ValidPath(f) {
			return fmt.Errorf("bad file path %q: use a slash-separated path inside the repo, like \"config.json\" or \"rte/*.parquet\"", f)
		}
		if _, err := path.Match(f, ""); err != nil {
			return fmt.Errorf("bad glob %q (%v): use path.Match syntax, like \"rte/*.parquet\"", f, err)
		}
	}
	return nil
}

func isGlob(f string) bool { return strings.ContainsAny(f, `*?[\`) }

func anyGlob(files []string) bool {
	for _, f := range files {
		if isGlob(f) {
			return true
		}
	}
	return false
}

// localFolder decides whether ref names a folder on disk. An existing directory
// wins over a repo id of the same spelling, as in transformers; a ref that can
// only be a path but does not exist is an error rather than a doomed download.
func localFolder(ref string) (dir string, isLocal bool, err error) {
	p := expandHome(ref)
	fi, statErr := os.Stat(p)
	switch {
	case statErr == nil && fi.IsDir():
		return p, true, nil
	case statErr == nil:
		return "", false, fmt.Errorf("%q is a file: pass the folder that holds it, or a Hugging Face repo id like org/name", ref)
	case looksLikePath(ref):
		return "", false, fmt.Errorf("local folder %q does not exist: fix the path, or pass a Hugging Face repo id like org/name", ref)
	}
	return "", false, nil
}

// looksLikePath reports refs that cannot be repo ids: repo ids have at most one
// slash before the optional @revision and never start with a dot or tilde.
func looksLikePath(ref string) bool {
	id, _, _ := strings.Cut(ref, "@")
	return filepath.IsAbs(ref) || strings.HasPrefix(ref, ".") || strings.HasPrefix(ref, "~") ||
		strings.Contains(ref, `\`) || strings.Count(id, "/") > 1
}

// expandHome expands a leading ~/ the way a shell would, since refs and
// HF_HOME-style variables often arrive quoted from scripts.
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return p
	}
	return filepath.Join(home, p[1:])
}

// checkLocal verifies a local folder holds every requested file, naming all the
// missing ones at once so the user fixes the folder in one go.
func checkLocal(kind, dir string, files []string) error {
	missing := missingIn(dir, files)
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("local %s folder %q is missing %s: add them, or pass a Hugging Face repo id like org/name to download",
		kind, dir, humanList(missing))
}

// missingIn returns the entries of files absent from dir; a glob is missing when
// it matches no file. Symlinks are followed, so a snapshot link whose blob is
// gone counts as missing.
func missingIn(dir string, files []string) []string {
	var missing []string
	for _, f := range files {
		if isGlob(f) {
			if m, _ := globDir(dir, f); len(m) == 0 {
				missing = append(missing, f)
			}
			continue
		}
		if fi, err := os.Stat(filepath.Join(dir, filepath.FromSlash(f))); err != nil || fi.IsDir() {
			missing = append(missing, f)
		}
	}
	return missing
}

// globDir matches pattern against the regular files under dir. It goes through
// os.DirFS so that glob metacharacters in dir itself are never interpreted.
func globDir(dir, pattern string) ([]string, error) {
	fsys := os.DirFS(dir)
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, n := range names {
		if fi, err := fs.Stat(fsys, n); err == nil && !fi.IsDir() {
			files = append(files, n)
		}
	}
	return files, nil
}

// humanList renders ["a","b","c"] as "a, b and c" for error messages.
func humanList(items []string) string {
	switch len(items) {
	case 0:
		return "nothing"
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// oneLine keeps wrapped server messages and OS errors from breaking the
// one-line error promise.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// errorsAs is errors.As with the target allocated here, to keep call sites short.
func errorsAs[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}
