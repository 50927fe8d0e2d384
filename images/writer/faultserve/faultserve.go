// Package faultserve is an HTTP server on 127.0.0.1 that serves files the
// way a real one does (http.ServeContent: Range, If-Range, ETag) and
// injects the faults a writer meets in the field: connections cut at a
// random byte, stalls, bursts of 503, Range ignored, the object replaced
// mid-way, bodies shorter than their Content-Length.
package faultserve

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Faults are per-request probabilities and switches.
type Faults struct {
	Cut         float64 // probability a response is cut after a random byte count
	Stall       float64 // probability a response stops sending (until the client gives up)
	Short       float64 // probability a response declares more bytes than it sends
	Burst503    int     // the first N requests get 503 (with Retry-After: 0)
	Rate503     float64 // probability of a 503 on any request
	IgnoreRange bool    // answer every request with 200 and the whole object
	// ChangeAfter > 0 replaces the object's ETag after that many requests
	// (the content stays the same; the server says it is a new version).
	ChangeAfter int
	// Replace, if set with ChangeAfter, is the new content served.
	Replace []byte
	NoETag  bool // send neither ETag nor Last-Modified
}

// Server serves named files with faults.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	faults   map[string]Faults
	rng      *rand.Rand
	requests map[string]int
	version  map[string]int
	Log      []string // one line per request: path, range, fault
	injected int
}

// Injected counts the requests that met a fault.
func (s *Server) Injected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.injected
}

// New starts a server on 127.0.0.1 with the given seed for its faults.
func New(seed uint64) *Server {
	s := &Server{
		files: map[string][]byte{}, faults: map[string]Faults{}, requests: map[string]int{},
		version: map[string]int{}, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// Add serves content at path with faults.
// path may carry a query string (kept in the URL, ignored for matching).
func (s *Server) Add(path string, content []byte, f Faults) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, _, _ := strings.Cut(path, "?")
	s.files[key] = content
	s.faults[key] = f
	return s.URL + path
}

// Requests returns how many requests path received.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

type plan struct {
	status  int
	cutAt   int64 // -1 none
	stall   bool
	short   bool
	content []byte
	etag    string
	full    bool
}

func (s *Server) decide(r *http.Request) (plan, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	content, ok := s.files[r.URL.Path]
	if !ok {
		return plan{}, false
	}
	f := s.faults[r.URL.Path]
	s.requests[r.URL.Path]++
	n := s.requests[r.URL.Path]
	p := plan{cutAt: -1, content: content}
	if f.ChangeAfter > 0 && n > f.ChangeAfter {
		if s.version[r.URL.Path] == 0 && f.Replace != nil {
			s.files[r.URL.Path] = f.Replace
			p.content = f.Replace
		}
		s.version[r.URL.Path] = 1
	}
	p.etag = fmt.Sprintf(`"v%d-%d"`, s.version[r.URL.Path], len(p.content))
	p.full = f.IgnoreRange
	switch {
	case n <= f.Burst503 || s.rng.Float64() < f.Rate503:
		p.status = http.StatusServiceUnavailable
	case s.rng.Float64() < f.Cut:
		p.cutAt = s.rng.Int64N(int64(len(content)) + 1)
	case s.rng.Float64() < f.Stall:
		p.cutAt = s.rng.Int64N(int64(len(content)) + 1)
		p.stall = true
	case s.rng.Float64() < f.Short:
		p.short = true
	}
	if p.status != 0 || p.cutAt >= 0 || p.short || (f.IgnoreRange && r.Header.Get("Range") != "") || s.version[r.URL.Path] != 0 {
		s.injected++
	}
	s.Log = append(s.Log, fmt.Sprintf("%s range=%q status=%d cut=%d stall=%v short=%v etag=%s",
		r.URL.Path, r.Header.Get("Range"), p.status, p.cutAt, p.stall, p.short, p.etag))
	return p, true
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p, ok := s.decide(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if p.status != 0 {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "busy", p.status)
		return
	}
	f := s.faults[r.URL.Path]
	if !f.NoETag {
		w.Header().Set("ETag", p.etag)
	}
	if p.full {
		r.Header.Del("Range")
	}
	if p.cutAt >= 0 {
		// Cut inside this response's body, so every injected fault bites.
		p.cutAt %= max(1, bodyLen(r.Header.Get("Range"), int64(len(p.content))))
	}
	fw := &faultWriter{ResponseWriter: w, left: p.cutAt, stall: p.stall, ctx: r}
	if p.short {
		// Declare the full length, send a random prefix, then return: the
		// server closes the connection, the client sees a short body.
		w.Header().Set("Content-Length", strconv.Itoa(len(p.content)))
		w.WriteHeader(http.StatusOK)
		s.mu.Lock()
		k := s.rng.IntN(len(p.content) + 1)
		s.mu.Unlock()
		w.Write(p.content[:k])
		return
	}
	http.ServeContent(fw, r, "", time.Time{}, bytes.NewReader(p.content))
}

// faultWriter cuts or stalls a response after `left` body bytes.
type faultWriter struct {
	http.ResponseWriter
	left  int64
	stall bool
	ctx   *http.Request
}

func (f *faultWriter) Write(p []byte) (int, error) {
	if f.left < 0 {
		return f.ResponseWriter.Write(p)
	}
	if int64(len(p)) <= f.left {
		f.left -= int64(len(p))
		return f.ResponseWriter.Write(p)
	}
	n, _ := f.ResponseWriter.Write(p[:f.left])
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	if f.stall {
		select {
		case <-f.ctx.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}
	_ = n
	panic(http.ErrAbortHandler)
}

// bodyLen is the length of the body ServeContent sends for a simple
// "bytes=a-b" or "bytes=a-" range.
func bodyLen(rng string, size int64) int64 {
	spec, ok := strings.CutPrefix(rng, "bytes=")
	if !ok {
		return size
	}
	a, b, _ := strings.Cut(spec, "-")
	first, err := strconv.ParseInt(a, 10, 64)
	if err != nil {
		return size
	}
	last := size - 1
	if l, err := strconv.ParseInt(b, 10, 64); err == nil && l < last {
		last = l
	}
	return max(0, last-first+1)
}
