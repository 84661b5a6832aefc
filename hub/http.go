package hub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

const (
	maxRedirects = 10
	userAgent    = "vectorfit-harness-hub/1 (Go; compatible with huggingface_hub cache layout)"
)

// netError marks a request that got no HTTP response at all (DNS, refused
// connection, TLS, timeout), as opposed to an HTTP error status. Only these make
// Resolve fall back to the cache or blame HF_ENDPOINT.
type netError struct{ err error }

func (e *netError) Error() string {
	if ue, ok := errorsAs[*url.Error](e.err); ok {
		return oneLine(ue.Err.Error()) // the URL is noise next to the endpoint we name anyway
	}
	return oneLine(e.err.Error())
}

func (e *netError) Unwrap() error { return e.err }

// do sends one request and follows redirects itself, for two reasons the
// standard client cannot serve: the token must reach only the endpoint's own
// origin (net/http would forward it to another port of the same host, and the
// LFS CDN must never see it), and a HEAD must stop at a cross-host redirect
// because the hub puts the file's metadata on the redirect response itself.
// crossHost says whether to follow redirects to other origins.
func (c *Client) do(ctx context.Context, method, rawURL string, hdr http.Header, crossHost bool) (*http.Response, error) {
	endpoint, err := url.Parse(c.endpoint())
	if err != nil {
		return nil, fmt.Errorf("bad HF_ENDPOINT %q: %v", c.endpoint(), err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	hc := c.httpClient()
	var from *url.URL // the URL that redirected to u; nil for the first request
	for hop := 0; ; hop++ {
		if err := c.checkPlainHTTP(u, from, endpoint); err != nil {
			return nil, err
		}
		resp, err := hc.Do(c.newRequest(ctx, method, u, hdr, sameOrigin(u, endpoint)))
		if err != nil {
			return nil, &netError{err}
		}
		next, ok := redirectTarget(resp)
		if !ok || (!crossHost && !sameOrigin(next, u)) {
			return resp, nil
		}
		drain(resp)
		if hop == maxRedirects {
			return nil, fmt.Errorf("more than %d redirects from %s: check HF_ENDPOINT and any proxy", maxRedirects, rawURL)
		}
		from, u = u, next
	}
}

// checkPlainHTTP refuses any plain-http request while a token is configured,
// unless AllowInsecureToken is set. On the endpoint's origin the token itself
// would travel in clear; elsewhere (the LFS CDN, a pagination link) the token
// stays home, but the hub's redirects carry signed links that grant access to
// the file as the token does, and a downgrade to http inside an https session
// means something between us and the hub rewrites answers. A plain-http mirror
// without a token stays allowed.
func (c *Client) checkPlainHTTP(u, from, endpoint *url.URL) error {
	if c.Token == "" || c.AllowInsecureToken || !strings.EqualFold(u.Scheme, "http") {
		return nil
	}
	const optIn = "or set HF_ALLOW_INSECURE_TOKEN=1 (Client.AllowInsecureToken) if the network to this mirror is trusted"
	switch {
	case from != nil:
		return fmt.Errorf("%s redirected to plain-http %s while HF_TOKEN is set: refusing, since the token or a signed download link would travel unencrypted; check HF_ENDPOINT and any proxy, %s",
			redacted(from), redacted(u), optIn)
	case sameOrigin(u, endpoint):
		return fmt.Errorf("HF_ENDPOINT %s is plain http and HF_TOKEN is set: refusing to send the token unencrypted to %s; use an https endpoint, unset HF_TOKEN (public repos need none), %s",
			c.endpoint(), redacted(u), optIn)
	}
	return fmt.Errorf("%s pointed to plain-http %s while HF_TOKEN is set: refusing, since a hub that sends an authenticated client to plain http is not to be trusted; check HF_ENDPOINT and any proxy, %s",
		c.endpoint(), redacted(u), optIn)
}

// redacted drops the query and any user:password from a URL for messages: the
// CDN's query string is a signature that grants access to the file.
func redacted(u *url.URL) string {
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

func (c *Client) newRequest(ctx context.Context, method string, u *url.URL, hdr http.Header, withToken bool) *http.Request {
	req := (&http.Request{Method: method, URL: u, Header: http.Header{}, Host: u.Host}).WithContext(ctx)
	for k, v := range hdr {
		req.Header[k] = v
	}
	// identity: sizes, Range offsets and hashes all refer to the stored bytes,
	// which Go's transparent gzip decoding would otherwise hide.
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", userAgent)
	if withToken && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req
}

// redirectTarget returns where a 3xx response points, resolved against the
// request URL since the hub answers renamed repos with relative Locations.
func redirectTarget(resp *http.Response) (*url.URL, bool) {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
	default:
		return nil, false
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, false
	}
	next, err := resp.Request.URL.Parse(loc)
	return next, err == nil
}

// sameOrigin compares scheme and host:port, stricter than net/http's hostname
// rule on purpose: a token is a secret and a mismatch only costs a 401.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}

// drain reads a little of an unwanted body so the connection can be reused.
func drain(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, 4096)
	resp.Body.Close()
}

// statusErr turns an HTTP error status into advice. The hub explains itself in
// X-Error-Code / X-Error-Message; what names the object asked for, e.g.
// `file "config.json"`.
func (c *Client) statusErr(r repo, what string, resp *http.Response) error {
	code := resp.Header.Get("X-Error-Code")
	status := fmt.Sprintf("HTTP %d", resp.StatusCode)
	if msg := oneLine(resp.Header.Get("X-Error-Message")); msg != "" {
		status += ": " + msg
	}
	switch {
	case code == "RepoNotFound":
		return fmt.Errorf("%s repo %q was not found on %s (%s): check the repo id; if the repo is private, set HF_TOKEN to a token with access",
			r.kind, r.id, c.endpoint(), status)
	case code == "RevisionNotFound":
		return fmt.Errorf("revision %q of %s repo %q was not found (%s): check the branch, tag or commit after @",
			r.revision, r.kind, r.id, status)
	case code == "EntryNotFound":
		return fmt.Errorf("%s was not found in %s repo %q at revision %s (%s): check the name, or pass a local folder",
			what, r.kind, r.id, r.revision, status)
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s repo %q or its %s at revision %s was not found on %s (%s): check the repo id, revision and name",
			r.kind, r.id, what, r.revision, c.endpoint(), status)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return c.accessErr(r, status)
	}
	return fmt.Errorf("%s answered %s for %s repo %q %s: retry later, or check HF_ENDPOINT and any proxy",
		c.endpoint(), status, r.kind, r.id, what)
}

// accessErr covers gated and private repos, the usual cause of 401/403.
func (c *Client) accessErr(r repo, status string) error {
	if c.Token == "" {
		return fmt.Errorf("access to %s repo %q was denied (%s): it is gated or private; accept its terms at %s and set HF_TOKEN to a token with read access",
			r.kind, r.id, status, r.webURL(c.endpoint()))
	}
	return fmt.Errorf("access to %s repo %q was denied with the configured token (%s): accept its terms at %s with the token's account, or set HF_TOKEN to a token with read access",
		r.kind, r.id, status, r.webURL(c.endpoint()))
}

// isNetErr reports failures where the hub could not be reached at all.
func isNetErr(err error) bool {
	var ne *netError
	return errors.As(err, &ne)
}
