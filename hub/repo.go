package hub

import (
	"fmt"
	"net/url"
	"strings"
)

// repo is a parsed repo reference.
type repo struct {
	kind     string // "model" or "dataset"
	id       string // "org/name" (or a legacy un-namespaced "name")
	revision string // branch, tag or commit; "main" by default
	ref      string // as the caller wrote it, quoted back in messages
}

// parseRepo splits "org/name@revision" and validates both halves with the hub's
// own naming rules, because both end up in cache paths and URLs.
func parseRepo(kind, ref string) (repo, error) {
	id, rev, hasRev := strings.Cut(ref, "@")
	if !hasRev {
		rev = "main"
	}
	if !validRepoID(id) {
		return repo{}, fmt.Errorf("%q is neither an existing local folder nor a Hugging Face repo id like org/name or org/name@revision", ref)
	}
	if !validRevision(rev) {
		return repo{}, fmt.Errorf("bad revision %q in %q: use a branch, tag or commit hash, like org/name@main", rev, ref)
	}
	return repo{kind: kind, id: id, revision: rev, ref: ref}, nil
}

// validRepoID applies the hub's rules: one or two parts of letters, digits, '-',
// '_' and '.', neither starting nor ending with '-' or '.', no "--" or "..", at
// most 96 characters each. Those rules also keep the id safe as a folder name.
func validRepoID(id string) bool {
	parts := strings.Split(id, "/")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 96 || strings.Contains(p, "--") || strings.Contains(p, "..") ||
			strings.ContainsAny(p[:1], "-.") || strings.ContainsAny(p[len(p)-1:], "-.") {
			return false
		}
		for _, ch := range p {
			if !isAlnum(ch) && ch != '-' && ch != '_' && ch != '.' {
				return false
			}
		}
	}
	return true
}

// validRevision accepts git ref names such as "main", "v1.0" or "refs/pr/1" but
// nothing that could climb out of refs/ once used as a path.
func validRevision(rev string) bool {
	if rev == "" || strings.ContainsAny(rev, "\\ \t\n\x00") {
		return false
	}
	for _, seg := range strings.Split(rev, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func isAlnum(ch rune) bool {
	return ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9'
}

// isCommit reports a full git commit hash; such revisions need no refs/ entry.
func isCommit(rev string) bool {
	if len(rev) != 40 {
		return false
	}
	return isLowerHex(rev)
}

func isLowerHex(s string) bool {
	for _, ch := range s {
		if !(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'f') {
			return false
		}
	}
	return true
}

// folder is the cache folder name, as huggingface_hub's repo_folder_name.
func (r repo) folder() string {
	return r.kind + "s--" + strings.ReplaceAll(r.id, "/", "--")
}

// urlPrefix is the path prefix the hub puts before dataset repos (models have none).
func (r repo) urlPrefix() string {
	if r.kind == "dataset" {
		return "datasets/"
	}
	return ""
}

// webURL is the repo's page, where gated repos' terms are accepted.
func (r repo) webURL(endpoint string) string {
	return endpoint + "/" + r.urlPrefix() + r.id
}

// resolveURL is the download URL of one file at one revision. The revision is
// escaped as a single segment, so "refs/pr/1" becomes refs%2Fpr%2F1 as the hub expects.
func (r repo) resolveURL(endpoint, rev, file string) string {
	return endpoint + "/" + r.urlPrefix() + r.id + "/resolve/" + url.PathEscape(rev) + "/" + escapePath(file)
}

// treeURL lists a folder of the repo through the hub API.
func (r repo) treeURL(endpoint, dir string, recursive bool) string {
	u := endpoint + "/api/" + r.kind + "s/" + r.id + "/tree/" + url.PathEscape(r.revision)
	if dir != "" {
		u += "/" + escapePath(dir)
	}
	if recursive {
		u += "?recursive=true"
	}
	return u
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
