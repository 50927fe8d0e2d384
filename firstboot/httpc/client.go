// Package httpc is an HTTP/1.1 client on blocking sockets for programs that
// must not use Go's network poller (ESXi's userworld lacks epoll_pwait; see
// package nopoll). It does one request per connection, reads bounded
// bodies, speaks TLS through crypto/tls over its own net.Conn, and
// resolves names from /etc/hosts and /etc/resolv.conf itself, because the
// net package's resolver and dialer both use the poller.
package httpc

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
	"github.com/esxi-golden/packer-plugin-esxi/internal/version"
)

var errEOF = io.EOF

// ErrTLSUnavailable: https cannot work on this kernel (ESXi): crypto/tls
// needs crypto randomness, whose first use arms a Go runtime timer, which
// starts the network poller, which needs epoll_pwait.
var ErrTLSUnavailable = errors.New("https is unavailable on this kernel (no epoll_pwait for the timer crypto randomness arms in Go); serve metadata over http")

// ErrBadURL: the URL cannot be requested at all.
var ErrBadURL = errors.New("bad URL")

// ErrBodyTooLarge is returned when a response body exceeds Client.MaxBody.
var ErrBodyTooLarge = errors.New("response body too large")

// Client does requests. The zero value is usable.
type Client struct {
	// Timeout bounds one request (connect, send, headers and body).
	// Zero means 10 s.
	Timeout time.Duration
	// MaxBody bounds a response body; zero means 4 MiB.
	MaxBody int64
	// RootCAs verifies https servers; nil means the roots in RootsFile.
	RootCAs *x509.CertPool
	// Resolver looks names up; nil means the system files.
	Resolver *Resolver
}

// Response is a complete response: the body has been read in full.
type Response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
}

// Do sends one request and reads the whole response, finishing by deadline
// (or Timeout from now, whichever is earlier).
func (c *Client) Do(method, rawURL string, header http.Header, body []byte, deadline time.Time) (*Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%w: %s: scheme %q, want http or https", ErrBadURL, redactURL(u), u.Scheme)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	if d := time.Now().Add(timeout); deadline.IsZero() || d.Before(deadline) {
		deadline = d
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: bad port %q", ErrBadURL, redactURL(u), port)
	}
	res := c.Resolver
	if res == nil {
		res = &Resolver{}
	}
	addrs, err := res.Lookup(u.Hostname(), deadline)
	if err != nil {
		return nil, err
	}
	var cn *conn
	var dialErrs []error
	for _, a := range addrs {
		cn, err = dial(netip.AddrPortFrom(a, uint16(p)), deadline)
		if err == nil {
			break
		}
		dialErrs = append(dialErrs, err)
	}
	if cn == nil {
		return nil, errors.Join(dialErrs...)
	}
	var rw net.Conn = cn
	defer rw.Close()
	if u.Scheme == "https" {
		if !nopoll.PollerWorks() {
			return nil, fmt.Errorf("%s %s: %w", method, redactURL(u), ErrTLSUnavailable)
		}
		roots := c.RootCAs
		if roots == nil {
			if roots, err = SystemRoots(); err != nil {
				return nil, err
			}
		}
		tc := tls.Client(cn, &tls.Config{ServerName: u.Hostname(), RootCAs: roots, MinVersion: tls.VersionTLS12})
		if err := tc.Handshake(); err != nil {
			return nil, fmt.Errorf("%s %s: tls: %w", method, redactURL(u), err)
		}
		rw = tc
	}
	req, err := http.NewRequest(method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "esxi-firstboot/"+version.String())
	}
	req.Close = true
	bw := bufio.NewWriter(rw)
	if err := req.Write(bw); err != nil {
		return nil, fmt.Errorf("%s %s: send: %w", method, redactURL(u), err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("%s %s: send: %w", method, redactURL(u), err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(rw), req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, redactURL(u), err)
	}
	defer resp.Body.Close()
	max := c.MaxBody
	if max <= 0 {
		max = 4 << 20
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		// A body shorter than its Content-Length ends in
		// io.ErrUnexpectedEOF: a truncated document, never parsed.
		return nil, fmt.Errorf("%s %s: read body: %w", method, redactURL(u), err)
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s %s: %w (limit %d bytes)", method, redactURL(u), ErrBodyTooLarge, max)
	}
	return &Response{StatusCode: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// redactURL drops userinfo and query, which may carry tokens.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	if c.RawQuery != "" {
		c.RawQuery = "redacted"
	}
	return c.String()
}

// IsTimeout reports whether err is a timeout.
func IsTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}
