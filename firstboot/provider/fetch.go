// Package provider fetches metadata from one of the supported services
// and parses it into model.Metadata. Providers never change the host.
// All waiting is bounded by one deadline; retries back off from 200 ms to
// 5 s and only retry what can heal (transport errors, timeouts, truncated
// bodies, 408/429/5xx).
package provider

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/httpc"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

// Sentinel errors callers branch on.
var (
	// ErrNotFound: a required document answered 404.
	ErrNotFound = errors.New("metadata not found")
	// ErrDeadline: retries ran out of time; wraps the last failure.
	ErrDeadline = errors.New("metadata deadline exceeded")
	// ErrAbsent: this provider does not exist here (no seed, no guestinfo).
	ErrAbsent = errors.New("provider not present")
	// ErrWrongInstance: the service answered for another instance.
	ErrWrongInstance = errors.New("metadata is for another instance")
	// ErrRejected: a permanent HTTP error (4xx other than 404/408/429).
	ErrRejected = errors.New("metadata request rejected")
)

// Fetcher does bounded, retrying HTTP GETs for providers.
type Fetcher struct {
	Client   *httpc.Client
	Deadline time.Time
	Log      *slog.Logger
	// Backoff bounds; zero means 200 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
}

func (f *Fetcher) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}

// Get fetches url. A 404 returns (nil, ErrNotFound) at once: callers
// decide per endpoint whether that means "empty" (userdata) or "fail"
// (the metadata document). Retryable failures are retried until the
// deadline.
func (f *Fetcher) Get(url string, header http.Header) ([]byte, error) {
	return f.Do("GET", url, header)
}

// Do is Get for any method (the IMDSv2 token is a PUT).
func (f *Fetcher) Do(method, url string, header http.Header) ([]byte, error) {
	backoff := f.MinBackoff
	if backoff <= 0 {
		backoff = 200 * time.Millisecond
	}
	max := f.MaxBackoff
	if max <= 0 {
		max = 5 * time.Second
	}
	c := f.Client
	if c == nil {
		c = &httpc.Client{}
	}
	for attempt := 1; ; attempt++ {
		resp, err := c.Do(method, url, header, nil, f.Deadline)
		var retryErr error
		switch {
		case err != nil && permanent(err):
			return nil, fmt.Errorf("%s %s: %w: %w", method, url, ErrRejected, err)
		case err != nil:
			retryErr = err
		case resp.StatusCode == http.StatusOK:
			return resp.Body, nil
		case resp.StatusCode == http.StatusNotFound:
			return nil, fmt.Errorf("%s %s: %w (404)", method, url, ErrNotFound)
		case resp.StatusCode == 408 || resp.StatusCode == 429 || resp.StatusCode >= 500:
			retryErr = fmt.Errorf("%s %s: status %d", method, url, resp.StatusCode)
		default:
			return nil, fmt.Errorf("%s %s: %w: status %d", method, url, ErrRejected, resp.StatusCode)
		}
		// The last wait is cut short so one more attempt fits before the
		// deadline; below 250 ms left there is no point.
		left := time.Until(f.Deadline) - 250*time.Millisecond
		if left <= 0 {
			return nil, fmt.Errorf("%w after %d attempts: %w", ErrDeadline, attempt, retryErr)
		}
		wait := min(backoff, left)
		f.log().Warn("metadata fetch failed, retrying", "url", url, "attempt", attempt, "in", wait.String(), "err", retryErr.Error())
		nopoll.Sleep(wait)
		if backoff *= 2; backoff > max {
			backoff = max
		}
	}
}

// permanent reports transport errors no retry can heal: a certificate
// that does not verify, https where TLS cannot run, a malformed URL.
func permanent(err error) bool {
	var cv *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var hn x509.HostnameError
	var ci x509.CertificateInvalidError
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &ci) ||
		errors.Is(err, httpc.ErrTLSUnavailable) || errors.Is(err, httpc.ErrBadURL)
}

// optional turns a 404 into an empty document.
func optional(b []byte, err error) ([]byte, error) {
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return b, err
}
