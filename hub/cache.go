package hub

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// repoCache is one repo's folder in the cache, e.g. <cache>/models--org--name.
type repoCache struct {
	root  string // the repo folder
	locks string // <cache>/.locks/<repo folder>, where huggingface_hub keeps its lock files
}

func newRepoCache(cacheDir string, r repo) repoCache {
	return repoCache{
		root:  filepath.Join(cacheDir, r.folder()),
		locks: filepath.Join(cacheDir, ".locks", r.folder()),
	}
}

func (rc repoCache) blob(etag string) string { return filepath.Join(rc.root, "blobs", etag) }
func (rc repoCache) snapshot(commit string) string {
	return filepath.Join(rc.root, "snapshots", commit)
}
func (rc repoCache) lock(etag string) string { return filepath.Join(rc.locks, etag+".lock") }

// commitFor maps a revision to the cached commit: a commit hash is its own
// answer, anything else goes through refs/<revision>.
func (rc repoCache) commitFor(revision string) (string, bool) {
	if isCommit(revision) {
		return revision, true
	}
	b, err := os.ReadFile(filepath.Join(rc.root, "refs", filepath.FromSlash(revision)))
	if err != nil {
		return "", false
	}
	commit := strings.TrimSpace(string(b))
	// The hash becomes a path element; a hand-edited ref must not escape snapshots/.
	return commit, safeName(commit)
}

// lookup finds the cached snapshot of revision; ok means it holds every file
// (globs must match at least one). missing lists what is absent, for error
// messages; with no snapshot at all, dir is "" and missing lists every file.
func (rc repoCache) lookup(revision string, files []string) (dir string, missing []string, ok bool) {
	commit, found := rc.commitFor(revision)
	if !found {
		return "", files, false
	}
	dir = rc.snapshot(commit)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return "", files, false
	}
	missing = append(missingIn(dir, files), rc.escapingLinks(dir, files)...)
	return dir, missing, len(missing) == 0
}

// escapingLinks lists the requested snapshot entries whose symlink leads
// anywhere but this repo's blobs/ (an edited or foreign cache). They count as
// missing, so online they are downloaded and relinked, and offline they are
// named; a snapshot must never hand out a file from outside the cache.
func (rc repoCache) escapingLinks(dir string, files []string) []string {
	var bad []string
	for _, f := range files {
		names := []string{f}
		if isGlob(f) {
			names, _ = globDir(dir, f)
		}
		for _, n := range names {
			if p := filepath.Join(dir, filepath.FromSlash(n)); !rc.linkInside(p) {
				bad = append(bad, n+" (a link out of the cache)")
			}
		}
	}
	return bad
}

// linkInside reports whether p, if a symlink, points into blobs/: lexically,
// as huggingface_hub's relative links do, or once both sides are resolved, for
// absolute links spelled through another path to the same cache. A regular
// file (the copy fallback) or a missing one is fine here.
func (rc repoCache) linkInside(p string) bool {
	target, err := os.Readlink(p)
	if err != nil {
		return true
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(p), target)
	}
	blobs := rc.blob("")
	if within(blobs, target) {
		return true
	}
	realTarget, err1 := filepath.EvalSymlinks(target)
	realBlobs, err2 := filepath.EvalSymlinks(blobs)
	return err1 == nil && err2 == nil && within(realBlobs, realTarget)
}

// within reports whether p lies strictly below dir, lexically.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != "." && filepath.IsLocal(rel)
}

// noLinkedFolders refuses a snapshot whose folders on the way to dir include
// a symlink: creating a link through it would land outside the cache. This
// package and huggingface_hub only ever make real folders there.
func noLinkedFolders(snapshot, dir string) error {
	rel, err := filepath.Rel(snapshot, dir)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("refusing to link into %s: it is not inside the snapshot folder %s", dir, snapshot)
	}
	p := snapshot
	for _, el := range append([]string{""}, strings.Split(rel, string(filepath.Separator))...) {
		p = filepath.Join(p, el)
		fi, err := os.Lstat(p)
		if err != nil {
			return nil // not there yet: MkdirAll makes real folders from here on
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("cache folder %s is a symlink: a snapshot folder must hold real folders so that no file lands outside the cache; delete it and run again", p)
		}
	}
	return nil
}

// link makes snapshots/<commit>/<file> a relative symlink to the blob, exactly
// as huggingface_hub does, so the cache stays relocatable and shared with
// Python. The link is made under a temporary name and renamed into place, so
// the snapshot never shows a half-made entry.
//
// This is the one place a repo path becomes a file, so it re-checks the path
// even though listings and arguments were checked on the way in.
func (rc repoCache) link(commit, file, etag string) error {
	if why := unsafePath(file); why != "" {
		return fmt.Errorf("refusing to link %q into the cache: it has %s", file, why)
	}
	snap := rc.snapshot(commit)
	dst := filepath.Join(snap, filepath.FromSlash(file))
	if err := noLinkedFolders(snap, filepath.Dir(dst)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return cacheErr(err)
	}
	target, err := filepath.Rel(filepath.Dir(dst), rc.blob(etag))
	if err != nil {
		return cacheErr(err)
	}
	if cur, err := os.Readlink(dst); err == nil && cur == target {
		return nil
	}
	tmp := tempName(dst)
	if err := os.Symlink(target, tmp); err != nil {
		// Filesystems without symlinks (some Windows setups, FAT) get a copy,
		// which is also huggingface_hub's fallback.
		return copyInto(rc.blob(etag), dst)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return cacheErr(err)
	}
	return nil
}

// writeRef records revision -> commit, replacing the file atomically so a
// concurrent reader sees either the old or the new hash, never a torn one.
func (rc repoCache) writeRef(revision, commit string) error {
	return writeAtomic(filepath.Join(rc.root, "refs", filepath.FromSlash(revision)), []byte(commit))
}

func writeAtomic(dst string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return cacheErr(err)
	}
	tmp := tempName(dst)
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		os.Remove(tmp)
		return cacheErr(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return cacheErr(err)
	}
	return nil
}

func copyInto(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return cacheErr(err)
	}
	defer in.Close()
	tmp := tempName(dst)
	out, err := os.Create(tmp)
	if err != nil {
		return cacheErr(err)
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.Remove(tmp)
		return cacheErr(err)
	}
	return nil
}

// tempName is a hidden sibling of dst, unique across goroutines and processes.
func tempName(dst string) string {
	return filepath.Join(filepath.Dir(dst), fmt.Sprintf(".%s.%d.%x.tmp", filepath.Base(dst), os.Getpid(), rand.Uint64()))
}

// safeName accepts commit hashes and etags taken from servers or ref files only
// if they are plain file names.
func safeName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 || strings.HasPrefix(s, ".") {
		return false
	}
	for _, ch := range s {
		if !isAlnum(ch) && ch != '-' && ch != '_' && ch != '.' {
			return false
		}
	}
	return true
}

// cacheErr says which knob to turn when the cache folder itself is the problem
// (read-only home, full disk, wrong owner).
func cacheErr(err error) error {
	return fmt.Errorf("cannot write the Hugging Face cache: %s: check free space and permissions, or set HF_HUB_CACHE to a writable folder", oneLine(err.Error()))
}
