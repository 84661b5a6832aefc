package hub

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
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
// HF_HOME defaults to $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
func FromEnv() *Client {
	home := hfHome()
	c := &Client{
		Endpoint: envEndpoint(),
		Token:    envToken(home),
		CacheDir: envCacheDir(home),
		Offline:  envOffline(),
		HTTP:     &http.Client{},
		Progress: os.Stderr,
	}
	if isTrue(os.Getenv("HF_HUB_DISABLE_PROGRESS_BARS")) {
		c.Progress = nil
	}
	return c
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
