package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Retry policy for a download whose body breaks off. Variables so tests run fast.
var (
	maxAttempts = 5
	retryDelay  = time.Second      // times the attempt number
	idleTimeout = 60 * time.Second // a body that stalls this long is retried
)

// interruptedError is a download that got somewhere and can resume.
type interruptedError struct {
	at  int64 // bytes on disk
	err error
}

func (e *interruptedError) Error() string { return oneLine(e.err.Error()) }
func (e *interruptedError) Unwrap() error { return e.err }

// fetchBlob makes blobs/<etag> exist with verified content. Bytes land in
// blobs/<etag>.incomplete (the name huggingface_hub uses, so either tool can
// resume the other's partial download) and are renamed only once verified.
func (c *Client) fetchBlob(r repo, rc repoCache, m fileMeta) error {
	blob := rc.blob(m.etag)
	if exists(blob) {
		return nil // same content already cached, maybe under another file or commit
	}
	unlock, err := lockFile(rc.lock(m.etag), func() {
		fmt.Fprintf(c.progress(), "hub: waiting for another process downloading %s %s\n", r.id, m.file)
	})
	if err != nil {
		return err
	}
	defer unlock()
	if exists(blob) {
		return nil // the process we waited for finished it
	}
	if err := os.MkdirAll(rc.blob(""), 0o755); err != nil {
		return cacheErr(err)
	}
	inc := blob + ".incomplete"
	if err := c.fetchWithRetry(r, m, inc); err != nil {
		_, tooBig := errorsAs[*tooBigError](err)
		if fi, serr := os.Stat(inc); tooBig || serr == nil && fi.Size() == 0 {
			os.Remove(inc) // over the cap is not a prefix worth resuming, and an empty file none at all
		}
		return err
	}
	if err := verify(r, m, inc); err != nil {
		os.Remove(inc) // resuming onto bad bytes would only fail again
		return err
	}
	if err := os.Rename(inc, blob); err != nil {
		return cacheErr(err)
	}
	return nil
}

// fetchWithRetry resumes a broken-off body with a Range request, as
// huggingface_hub does, so a flaky link does not restart a multi-GB file.
func (c *Client) fetchWithRetry(r repo, m fileMeta, inc string) error {
	meter := &meter{w: c.progress(), label: r.id + " " + m.file, total: m.size}
	meter.start()
	for attempt := 1; ; attempt++ {
		err := c.fetchOnce(r, m, inc, meter)
		ie, retryable := errorsAs[*interruptedError](err)
		if !retryable {
			if err == nil {
				meter.finish()
			}
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("download of %s %q file %q stopped at %s of %s after %s (%v): run again to resume",
				r.kind, r.ref, m.file, byteSize(ie.at), byteSize(m.size), plural(attempt, "attempt"), ie)
		}
		fmt.Fprintf(c.progress(), "hub: %s: %v; resuming at %s\n", meter.label, ie, byteSize(ie.at))
		time.Sleep(retryDelay * time.Duration(attempt))
	}
}

// fetchOnce makes one GET, continuing from what inc already holds. nil means
// the body was read to its end; whether it is right is verify's job.
func (c *Client) fetchOnce(r repo, m fileMeta, inc string, meter *meter) error {
	f, err := os.OpenFile(inc, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return cacheErr(err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return cacheErr(err)
	}
	if m.size >= 0 && have > m.size {
		have = 0 // longer than the file can be: not a prefix of it
	}
	if m.size >= 0 && have == m.size {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	watchdog := time.AfterFunc(idleTimeout, cancel)
	defer watchdog.Stop()

	hdr := http.Header{}
	if have > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := c.do(ctx, http.MethodGet, m.url, hdr, true)
	if isNetErr(err) {
		return &interruptedError{at: have, err: stalled(ctx, err)}
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	start, err := c.bodyStart(r, m, resp, have)
	if err != nil {
		return err
	}
	if start < 0 {
		f.Truncate(0) // the next attempt starts over without a Range
		return &interruptedError{at: 0, err: fmt.Errorf("server could not resume at byte %d (HTTP %d); restarting", have, resp.StatusCode)}
	}
	limit := m.size
	if m.size < 0 {
		limit = c.unknownSizeCap(m)
		// A Content-Length past the cap is refused before any byte is read.
		if resp.ContentLength >= 0 && start+resp.ContentLength > limit {
			return c.tooBig(r, m, limit, fmt.Sprintf("the server announced %d bytes, more than", start+resp.ContentLength))
		}
	}
	err = copyBody(ctx, f, start, limit, m.size >= 0, &idleReader{r: resp.Body, timer: watchdog}, meter)
	if err == errOverLimit {
		return c.tooBig(r, m, limit, "its body went past")
	}
	return err
}

// errOverLimit is copyBody's report that a body of unknown size passed the cap.
var errOverLimit = errors.New("body longer than the cap")

// tooBigError is a download of unknown size that passed its cap; fetchBlob
// deletes its partial file.
type tooBigError struct{ msg string }

func (e *tooBigError) Error() string { return e.msg }

func (c *Client) tooBig(r repo, m fileMeta, limit int64, how string) error {
	return &tooBigError{fmt.Sprintf("download of %s %q file %q stopped: the hub did not state its size, and %s the %s cap for files of unknown size; the partial file was deleted: if the file is really that big, raise HF_HUB_MAX_UNKNOWN_SIZE (e.g. 100GiB), else check HF_ENDPOINT and any proxy",
		r.kind, r.ref, m.file, how, capString(limit))}
}

// bodyStart says at which offset the response body belongs: have for a
// matching 206, 0 when the server ignored the Range and sent everything, -1
// when it cannot resume. Server-side hiccups (5xx, 429) are retried.
func (c *Client) bodyStart(r repo, m fileMeta, resp *http.Response, have int64) (int64, error) {
	switch code := resp.StatusCode; {
	case code == http.StatusOK:
		return 0, nil
	case code == http.StatusPartialContent && contentRangeStart(resp.Header.Get("Content-Range")) == have:
		return have, nil
	case code == http.StatusPartialContent || code == http.StatusRequestedRangeNotSatisfiable:
		return -1, nil
	case code >= 500 || code == http.StatusTooManyRequests:
		return 0, &interruptedError{at: have, err: fmt.Errorf("HTTP %d from %s", code, resp.Request.URL.Host)}
	}
	return 0, c.statusErr(r, fmt.Sprintf("file %q", m.file), resp)
}

// copyBody writes body into f from offset start, reading at most limit+1 bytes
// in all, so that neither a file longer than its stated size nor a runaway
// body of unknown size can fill the disk. limit is the file's size when known:
// (sized) a shorter body is an interruption, a longer one is left for verify
// to report. For a file of unknown size limit is the cap, and passing it
// returns errOverLimit.
func copyBody(ctx context.Context, f *os.File, start, limit int64, sized bool, body io.Reader, meter *meter) error {
	if err := f.Truncate(start); err != nil {
		return cacheErr(err)
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return cacheErr(err)
	}
	meter.at(start)
	n, err := io.Copy(f, io.TeeReader(io.LimitReader(body, max(limit-start+1, 0)), meter))
	got := start + n
	if err != nil {
		if _, isPath := errorsAs[*os.PathError](err); isPath {
			return cacheErr(err) // the disk, not the network
		}
		return &interruptedError{at: got, err: stalled(ctx, err)}
	}
	if !sized && got > limit {
		return errOverLimit
	}
	if sized && got < limit {
		return &interruptedError{at: got, err: fmt.Errorf("connection closed at %d of %d bytes", got, limit)}
	}
	return nil
}

// stalled names the watchdog as the cause when it cancelled the request.
func stalled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("no data for %v", idleTimeout)
	}
	return err
}

// contentRangeStart parses "bytes 100-199/200" to 100 (-1 if malformed).
func contentRangeStart(h string) int64 {
	rest, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes ")
	if !ok {
		return -1
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// verify checks the finished file against the size and, for LFS files whose
// etag is the content's sha256, the hash.
func verify(r repo, m fileMeta, inc string) error {
	fi, err := os.Stat(inc)
	if err != nil {
		return cacheErr(err)
	}
	if m.size >= 0 && fi.Size() != m.size {
		return corruptErr(r, m, fmt.Sprintf("%d bytes", m.size), fmt.Sprintf("%d bytes", fi.Size()))
	}
	if !isSHA256(m.etag) {
		return nil // git sha1 etags hash a "blob <n>\0" header; mirrors may differ, so size must do
	}
	sum, err := sha256File(inc)
	if err != nil {
		return cacheErr(err)
	}
	if sum != m.etag {
		return corruptErr(r, m, "sha256 "+m.etag, "sha256 "+sum)
	}
	return nil
}

func corruptErr(r repo, m fileMeta, want, got string) error {
	return fmt.Errorf("download of %s %q file %q is corrupt: expected %s, got %s; the partial file was deleted: run again, and if it recurs check HF_ENDPOINT and any proxy",
		r.kind, r.ref, m.file, want, got)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func isSHA256(s string) bool { return len(s) == 64 && isLowerHex(s) }

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// idleReader pushes the watchdog back on every read, so only a stall (not a
// long download) cancels the request.
type idleReader struct {
	r     io.Reader
	timer *time.Timer
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	ir.timer.Reset(idleTimeout)
	return n, err
}

// meter reports progress in 10% steps as plain lines, since the harness's
// output usually ends up in log files where carriage returns make a mess.
// Files under meterMin get just the "downloading" line.
type meter struct {
	w     io.Writer
	label string
	total int64 // -1 if unknown
	done  int64
	next  int64 // next percentage to report
}

const meterMin = 10 << 20

func (m *meter) start() {
	fmt.Fprintf(m.w, "hub: downloading %s (%s)\n", m.label, byteSize(m.total))
}

func (m *meter) verbose() bool { return m.total >= meterMin }

// at moves the meter to off when a request (re)starts there.
func (m *meter) at(off int64) {
	m.done = off
	if m.total > 0 {
		m.next = off*100/m.total/10*10 + 10
	}
}

func (m *meter) Write(p []byte) (int, error) {
	m.done += int64(len(p))
	if !m.verbose() {
		return len(p), nil
	}
	if pct := m.done * 100 / m.total; pct >= m.next && pct < 100 {
		fmt.Fprintf(m.w, "hub: %s %d%% (%s of %s)\n", m.label, pct, byteSize(m.done), byteSize(m.total))
		m.next = pct/10*10 + 10
	}
	return len(p), nil
}

func (m *meter) finish() {
	if m.verbose() {
		fmt.Fprintf(m.w, "hub: downloaded %s\n", m.label)
	}
}

// byteSize renders n as "1.5 MB"; "unknown size" for -1.
func byteSize(n int64) string {
	if n < 0 {
		return "unknown size"
	}
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
