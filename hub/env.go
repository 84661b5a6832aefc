package hub

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FromEnv builds a Client from the variables huggingface_hub reads, with the
// same precedence, so the harness shares a researcher's cache, token and
// offline setting without extra flags:
//
//	Endpoint  HF_ENDPOINT (trailing slash dropped), else https://huggingface.co
//	Token     HF_TOKEN, else HUGGING_FACE_HUB_TOKEN, else the file HF_TOKEN_PATH or $HF_HOME/token
//	CacheDir  HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub
//	Offline   HF_HUB_OFFLINE (else TRANSFORMERS_OFFLINE) is 1, true, yes or on
//	Progress  os.Stderr, unless HF_HUB_DISABLE_PROGRESS_BARS is true
//
// and two variables of this package's own (huggingface_hub has neither guard):
//
//	AllowInsecureToken  HF_ALLOW_INSECURE_TOKEN is 1, true, yes or on
//	MaxUnknownSize      HF_HUB_MAX_UNKNOWN_SIZE, bytes ("1073741824") or with a unit ("1GiB", "500MB")
//
// HF_HOME defaults to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
// A malformed HF_HUB_MAX_UNKNOWN_SIZE is reported by the first Resolve.
func FromEnv() *Client {
	home := hfHome()
	c := &Client{
		Endpoint:           envEndpoint(),
		Token:              envToken(home),
		CacheDir:           envCacheDir(home),
		Offline:            envOffline(),
		HTTP:               &http.Client{},
		Progress:           os.Stderr,
		AllowInsecureToken: isTrue(os.Getenv("HF_ALLOW_INSECURE_TOKEN")),
	}
	if isTrue(os.Getenv("HF_HUB_DISABLE_PROGRESS_BARS")) {
		c.Progress = nil
	}
	if v := strings.TrimSpace(os.Getenv("HF_HUB_MAX_UNKNOWN_SIZE")); v != "" {
		n, ok := parseByteSize(v)
		if !ok {
			c.envErr = fmt.Errorf("HF_HUB_MAX_UNKNOWN_SIZE=%q is not a size: use a positive number of bytes, like 1073741824, or one with a unit, like 1GiB or 500MB", v)
		}
		c.MaxUnknownSize = n
	}
	return c
}

// byteUnits are the suffixes parseByteSize accepts, decimal and binary.
var byteUnits = map[string]int64{
	"": 1, "B": 1,
	"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
}

// parseByteSize reads "1073741824", "1GiB" or "500 MB" (case-insensitive);
// ok is false for anything else, zero, or an overflowing product.
func parseByteSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	unit, known := byteUnits[strings.ToUpper(strings.TrimSpace(s[i:]))]
	if err != nil || !known || n <= 0 || n > math.MaxInt64/unit {
		return 0, false
	}
	return n * unit, true
}

// capString renders a cap exactly, in the largest binary unit that divides
// it, since a rounded "53.7 GB" would not say what to set.
func capString(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return fmt.Sprintf("%d %s", n/u.size, u.name)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}

func hfHome() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return expandHome(h)
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(expandHome(x), "huggingface")
	}
	return filepath.Join(expandHome("~"), ".cache", "huggingface")
}

func envEndpoint() string {
	if e := strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/"); e != "" {
		return e
	}
	return DefaultEndpoint
}

// envToken reads the token variables, then the file `hf auth login` writes.
func envToken(home string) string {
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if t := strings.TrimSpace(os.Getenv(k)); t != "" {
			return t
		}
	}
	p := os.Getenv("HF_TOKEN_PATH")
	if p == "" {
		p = filepath.Join(home, "token")
	}
	b, err := os.ReadFile(expandHome(p))
	if err != nil {
		return "" // no token file is the normal case for public repos
	}
	return strings.TrimSpace(string(b))
}

func envCacheDir(home string) string {
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if d := os.Getenv(k); d != "" {
			return expandHome(d)
		}
	}
	return filepath.Join(home, "hub")
}

// envOffline mirrors huggingface_hub: TRANSFORMERS_OFFLINE is only consulted
// when HF_HUB_OFFLINE is unset, so HF_HUB_OFFLINE=0 overrides it.
func envOffline() bool {
	v := os.Getenv("HF_HUB_OFFLINE")
	if v == "" {
		v = os.Getenv("TRANSFORMERS_OFFLINE")
	}
	return isTrue(v)
}

func isTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// The accessors below let a zero or partly filled Client behave like FromEnv.

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

func (c *Client) cacheDir() string {
	if c.CacheDir == "" {
		return envCacheDir(hfHome())
	}
	return expandHome(c.CacheDir)
}

func (c *Client) progress() io.Writer {
	if c.Progress == nil {
		return io.Discard
	}
	return c.Progress
}

// httpClient copies the caller's client with redirects disabled: Client.do
// follows them itself, deciding per hop whether the token may go along.
func (c *Client) httpClient() *http.Client {
	base := c.HTTP
	if base == nil {
		base = http.DefaultClient
	}
	hc := *base
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// unknownSizeCap is the most bytes accepted for the file m when its size is
// not known (see Client.MaxUnknownSize).
func (c *Client) unknownSizeCap(m fileMeta) int64 {
	switch {
	case c.MaxUnknownSize > 0:
		return c.MaxUnknownSize
	case isSHA256(m.etag):
		return DefaultMaxUnknownLFS
	}
	return DefaultMaxUnknownOther
}
