package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HTTP is an object on an HTTP(S) server, read by Range requests.
type HTTP struct {
	url       string
	redacted  string
	client    *http.Client
	o         Options
	size      int64
	etag      string // strong ETag, used for If-Range
	modified  string // Last-Modified, used for If-Range when no strong ETag
	anyETag   string // any ETag (weak ones too) to detect a change
	noRanges  bool   // the server answered 200 to a Range request
	noRangeMu sync.Mutex
}

// transientStatus lists the statuses retried, as curl and coreos-installer
// do: a busy or restarting server, not a wrong request.
func transientStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// statusError is a non-2xx answer.
type statusError struct {
	code       int
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	return "http status " + strconv.Itoa(e.code) + " " + http.StatusText(e.code)
}

// NewHTTP probes rawURL with a one-byte Range request to learn the size, the
// validator and whether ranges are honoured.
func NewHTTP(ctx context.Context, rawURL string, o Options) (*HTTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("image url: %w", err)
	}
	h := &HTTP{url: rawURL, redacted: u.Redacted(), o: o.withDefaults()}
	h.client = &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   30 * time.Second,
		ResponseHeaderTimeout: h.o.Stall,
		// Ranges must refer to the bytes as stored; Go's transparent gunzip
		// would shift them (and hide a .gz behind Content-Encoding).
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
		ForceAttemptHTTP2:   true,
	}}
	for attempt := 1; ; attempt++ {
		err = h.probe(ctx)
		if err == nil {
			return h, nil
		}
		if !retryable(err) || ctx.Err() != nil {
			return nil, &Error{fmt.Errorf("%s: %w", h.redacted, err)}
		}
		if (h.o.MaxAttempts > 0 && attempt >= h.o.MaxAttempts) || h.o.expired() {
			return nil, &Error{fmt.Errorf("%s after %d attempts: %w: %w", h.redacted, attempt, ErrGaveUp, err)}
		}
		h.o.OnRetry(0, attempt, err)
		if serr := sleep(ctx, h.wait(attempt, err)); serr != nil {
			return nil, &Error{fmt.Errorf("%s: %w (%w)", h.redacted, ErrGaveUp, err)}
		}
	}
}

func (h *HTTP) wait(attempt int, err error) time.Duration {
	var se *statusError
	if errors.As(err, &se) && se.retryAfter > 0 {
		return min(se.retryAfter, h.o.BackoffMax)
	}
	return h.o.backoff(attempt)
}

func (h *HTTP) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.o.Stall)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Range", "bytes=0-0")
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, _, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || first != 0 || total < 0 {
			return fmt.Errorf("bad Content-Range %q in probe: %v", resp.Header.Get("Content-Range"), err)
		}
		h.size = total
	case http.StatusOK:
		if resp.ContentLength < 0 {
			return errors.New("server neither honours Range nor sends Content-Length; cannot verify completeness")
		}
		h.size = resp.ContentLength
		h.noRanges = true
	case http.StatusRequestedRangeNotSatisfiable:
		// An empty object.
		h.size = 0
	default:
		return statusOf(resp)
	}
	h.anyETag = resp.Header.Get("ETag")
	if et := h.anyETag; et != "" && !strings.HasPrefix(et, "W/") {
		h.etag = et
	}
	h.modified = resp.Header.Get("Last-Modified")
	return nil
}

func statusOf(resp *http.Response) error {
	se := &statusError{code: resp.StatusCode}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		se.retryAfter = time.Duration(s) * time.Second
	}
	return se
}

func (h *HTTP) Size() int64    { return h.size }
func (h *HTTP) String() string { return h.redacted }

// RangesIgnored reports whether the server answered a Range request with
// the whole object (each resume then re-reads and discards the prefix).
func (h *HTTP) RangesIgnored() bool {
	h.noRangeMu.Lock()
	defer h.noRangeMu.Unlock()
	return h.noRanges
}

// retryable picks the failures worth another attempt: transport errors,
// short bodies, stalls and transient statuses. A changed object, a
// cancelled context and other statuses are final.
func retryable(err error) bool {
	var se *statusError
	switch {
	case errors.Is(err, ErrObjectChanged), errors.Is(err, context.Canceled) && !errors.Is(err, errStall):
		return false
	case errors.As(err, &se):
		return transientStatus(se.code)
	}
	return true
}

var errStall = errors.New("no data received within the stall timeout")

func parseContentRange(s string) (first, last, total int64, err error) {
	// "bytes 0-0/1234" or "bytes 0-0/*"
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, 0, fmt.Errorf("no bytes unit")
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, 0, fmt.Errorf("no total")
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, 0, fmt.Errorf("no range")
	}
	if first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return
	}
	if last, err = strconv.ParseInt(b, 10, 64); err != nil {
		return
	}
	total = -1
	if tot != "*" {
		total, err = strconv.ParseInt(tot, 10, 64)
	}
	return
}

// Open returns a reader of [off, end) that reconnects on failure.
func (h *HTTP) Open(ctx context.Context, off, end int64) io.ReadCloser {
	return &rangeReader{h: h, ctx: ctx, off: off, end: end}
}

type rangeReader struct {
	h        *HTTP
	ctx      context.Context
	off, end int64
	body     io.ReadCloser
	cancel   context.CancelFunc
	timer    *time.Timer
	stalled  chan struct{}
	attempt  int
	err      error // sticky final error
}

// Read delivers bytes of the range, reconnecting as needed.
func (r *rangeReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.off >= r.end {
		return 0, io.EOF
	}
	if int64(len(p)) > r.end-r.off {
		p = p[:r.end-r.off]
	}
	for {
		if r.body == nil {
			if err := r.connect(); err != nil {
				if rerr := r.retry(err); rerr != nil {
					return 0, rerr
				}
				continue
			}
		}
		n, err := r.body.Read(p)
		if n > 0 {
			r.timer.Reset(r.h.o.Stall)
			r.off += int64(n)
			r.attempt = 0
			r.h.o.OnBytes(n)
			if r.off == r.end {
				r.closeBody()
			}
			return n, nil
		}
		if err == nil {
			continue
		}
		select {
		case <-r.stalled:
			err = fmt.Errorf("%w (%s)", errStall, r.h.o.Stall)
		default:
		}
		if err == io.EOF {
			err = fmt.Errorf("body ended at byte %d, want %d: %w", r.off, r.end, io.ErrUnexpectedEOF)
		}
		r.closeBody()
		if rerr := r.retry(err); rerr != nil {
			return 0, rerr
		}
	}
}

// retry decides whether err is worth another attempt and waits the
// backoff; it returns the final error otherwise.
func (r *rangeReader) retry(err error) error {
	r.attempt++
	if r.ctx.Err() != nil {
		r.err = &Error{fmt.Errorf("%s at byte %d: %w (last error: %v)", r.h.redacted, r.off, ErrGaveUp, err)}
		return r.err
	}
	if !retryable(err) || (r.h.o.MaxAttempts > 0 && r.attempt >= r.h.o.MaxAttempts) || r.h.o.expired() {
		r.err = &Error{fmt.Errorf("%s at byte %d: %w", r.h.redacted, r.off, err)}
		if retryable(err) {
			r.err = &Error{fmt.Errorf("%s at byte %d after %d attempts: %w: %w", r.h.redacted, r.off, r.attempt, ErrGaveUp, err)}
		}
		return r.err
	}
	r.h.o.OnRetry(r.off, r.attempt, err)
	if serr := sleep(r.ctx, r.h.wait(r.attempt, err)); serr != nil {
		r.err = &Error{fmt.Errorf("%s at byte %d: %w (last error: %v)", r.h.redacted, r.off, ErrGaveUp, err)}
		return r.err
	}
	return nil
}

func (r *rangeReader) connect() error {
	ctx, cancel := context.WithCancel(r.ctx)
	stalled := make(chan struct{})
	var once sync.Once
	// Reset re-arms a fired timer, so the callback may run more than once.
	timer := time.AfterFunc(r.h.o.Stall, func() { once.Do(func() { close(stalled) }); cancel() })
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.h.url, nil)
	if err != nil {
		timer.Stop()
		cancel()
		return err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", r.off, r.end-1))
	switch {
	case r.h.etag != "":
		req.Header.Set("If-Range", r.h.etag)
	case r.h.modified != "":
		req.Header.Set("If-Range", r.h.modified)
	}
	resp, err := r.h.client.Do(req)
	if err != nil {
		timer.Stop()
		cancel()
		select {
		case <-stalled:
			return fmt.Errorf("%w (%s)", errStall, r.h.o.Stall)
		default:
		}
		return err
	}
	fail := func(err error) error {
		resp.Body.Close()
		timer.Stop()
		cancel()
		select {
		case <-stalled:
			// The watchdog cut the request (e.g. while skipping a prefix
			// the server re-sent): a stall, retried like any other.
			return fmt.Errorf("%w (%s): %w", errStall, r.h.o.Stall, err)
		default:
		}
		return err
	}
	if et := resp.Header.Get("ETag"); r.h.anyETag != "" && et != "" && et != r.h.anyETag {
		return fail(fmt.Errorf("%w: etag %s, was %s", ErrObjectChanged, et, r.h.anyETag))
	}
	if lm := resp.Header.Get("Last-Modified"); r.h.anyETag == "" && r.h.modified != "" && lm != "" && lm != r.h.modified {
		return fail(fmt.Errorf("%w: last-modified %s, was %s", ErrObjectChanged, lm, r.h.modified))
	}
	body := io.Reader(resp.Body)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		first, last, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil {
			return fail(fmt.Errorf("bad Content-Range %q: %w", resp.Header.Get("Content-Range"), err))
		}
		if total >= 0 && total != r.h.size {
			return fail(fmt.Errorf("%w: size %d, was %d", ErrObjectChanged, total, r.h.size))
		}
		if first != r.off || last >= r.h.size || last < first {
			return fail(fmt.Errorf("server sent bytes %d-%d for requested %d-%d", first, last, r.off, r.end-1))
		}
	case http.StatusOK:
		// The whole object: either ranges are ignored, or If-Range failed
		// because the object changed (the validator check above catches a
		// changed one that says so; the length catches the rest).
		if resp.ContentLength >= 0 && resp.ContentLength != r.h.size {
			return fail(fmt.Errorf("%w: size %d, was %d", ErrObjectChanged, resp.ContentLength, r.h.size))
		}
		if r.h.anyETag == "" && r.h.modified == "" && r.off > 0 {
			return fail(fmt.Errorf("%w: server ignores Range and gives no validator, so a resumed read cannot be proven to be the same object", ErrObjectChanged))
		}
		r.h.noRangeMu.Lock()
		r.h.noRanges = true
		r.h.noRangeMu.Unlock()
		if r.off > 0 {
			// Skip what is already written; the bytes still count as fetched.
			n, err := io.CopyN(io.Discard, &countingReader{r: resp.Body, timer: timer, stall: r.h.o.Stall, on: r.h.o.OnBytes}, r.off)
			if err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return fail(fmt.Errorf("skipping to byte %d of a full response (range ignored), got %d: %w", r.off, n, err))
			}
		}
	case http.StatusRequestedRangeNotSatisfiable:
		return fail(fmt.Errorf("%w: range %d-%d not satisfiable", ErrObjectChanged, r.off, r.end-1))
	default:
		return fail(statusOf(resp))
	}
	r.body = struct {
		io.Reader
		io.Closer
	}{body, resp.Body}
	r.cancel, r.timer, r.stalled = cancel, timer, stalled
	return nil
}

type countingReader struct {
	r     io.Reader
	timer *time.Timer
	stall time.Duration
	on    func(int)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.timer.Reset(c.stall)
		c.on(n)
	}
	return n, err
}

func (r *rangeReader) closeBody() {
	if r.body == nil {
		return
	}
	r.body.Close()
	r.timer.Stop()
	r.cancel()
	r.body = nil
}

// Close releases the connection.
func (r *rangeReader) Close() error {
	r.closeBody()
	return nil
}
