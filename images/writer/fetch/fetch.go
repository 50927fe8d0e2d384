// Package fetch reads an image from where it is published, an HTTP(S) URL
// or a local file, as byte ranges that survive a bad network: a dropped
// connection resumes at the byte it stopped (Range + If-Range), a stalled
// one is cut by a watchdog and resumed, 408/429/5xx and transport errors
// are retried with capped exponential backoff, and a changed object stops
// the read with ErrObjectChanged instead of splicing two versions together.
// A short body is never taken for the end of the object.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"
)

// Sentinel errors callers branch on.
var (
	// ErrObjectChanged means the object's validator or size changed between
	// requests; the caller must start over rather than mix versions.
	ErrObjectChanged = errors.New("object changed on the server")
	// ErrGaveUp means the retry budget or deadline ran out.
	ErrGaveUp = errors.New("gave up retrying")
)

// Source is a published object read by byte ranges.
type Source interface {
	// Size is the object's length in bytes.
	Size() int64
	// Open returns a reader of bytes [off, end) that resumes by itself after
	// transient failures. It fails with io.ErrUnexpectedEOF (wrapped), never
	// io.EOF, when the range cannot be completed.
	Open(ctx context.Context, off, end int64) io.ReadCloser
	// String names the source for logs (URL without credentials).
	String() string
}

// Options tune retries and the watchdog. Zero values take the defaults.
type Options struct {
	// Stall cancels a request that delivers no byte for this long (60 s).
	Stall time.Duration
	// BackoffMin and BackoffMax bound the exponential backoff (250 ms, 15 s).
	BackoffMin, BackoffMax time.Duration
	// MaxAttempts caps consecutive failed attempts without progress for one
	// range (0 = unlimited; the caller's context deadline still applies).
	MaxAttempts int
	// RetryUntil, when set, stops retrying after that instant (a transfer
	// that is making progress is never cut by it; the stall watchdog and
	// the caller's context handle hung ones). image2disk's
	// RETRY_DURATION_MINUTES has the same meaning.
	RetryUntil time.Time
	// OnBytes is called with the byte count of every successful read, for
	// progress accounting. It must be cheap and safe for concurrent use.
	OnBytes func(n int)
	// OnRetry is called before each retry with the reason.
	OnRetry func(off int64, attempt int, err error)
}

func (o Options) withDefaults() Options {
	if o.Stall <= 0 {
		o.Stall = 60 * time.Second
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = 250 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 15 * time.Second
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = o.BackoffMin
	}
	if o.OnBytes == nil {
		o.OnBytes = func(int) {}
	}
	if o.OnRetry == nil {
		o.OnRetry = func(int64, int, error) {}
	}
	return o
}

// backoff returns the wait before attempt (1-based), doubling from min.
func (o Options) backoff(attempt int) time.Duration {
	d := o.BackoffMin
	for i := 1; i < attempt && d < o.BackoffMax; i++ {
		d *= 2
	}
	return min(d, o.BackoffMax)
}

// expired reports whether the retry window has closed.
func (o Options) expired() bool { return !o.RetryUntil.IsZero() && time.Now().After(o.RetryUntil) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Open returns an HTTP source for http(s) URLs and a file source otherwise.
// It makes the first request (or stat) so that a wrong location fails here.
func Open(ctx context.Context, loc string, o Options) (Source, error) {
	if strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://") {
		return NewHTTP(ctx, loc, o)
	}
	if strings.HasPrefix(loc, "file://") {
		u, err := url.Parse(loc)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", loc, err)
		}
		loc = u.Path
	}
	f, err := OpenFile(loc)
	if err != nil {
		return nil, err
	}
	f.onBytes = o.withDefaults().OnBytes
	return f, nil
}

// ReadAll fetches a whole small object (a manifest, a signature) of at most
// limit bytes.
func ReadAll(ctx context.Context, loc string, limit int64, o Options) ([]byte, error) {
	src, err := Open(ctx, loc, o)
	if err != nil {
		return nil, err
	}
	if src.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, limit %d", src, src.Size(), limit)
	}
	r := src.Open(ctx, 0, src.Size())
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", src, err)
	}
	return b, nil
}

// File is a local file source.
type File struct {
	f       *os.File
	size    int64
	onBytes func(int)
}

// OpenFile opens a local file source.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open source: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat source: %w", err)
	}
	return &File{f: f, size: fi.Size()}, nil
}

func (s *File) Size() int64    { return s.size }
func (s *File) String() string { return s.f.Name() }

// Open reads [off, end) of the file; a file that shrinks underneath yields
// io.ErrUnexpectedEOF.
func (s *File) Open(_ context.Context, off, end int64) io.ReadCloser {
	return io.NopCloser(&exact{r: io.NewSectionReader(s.f, off, end-off), left: end - off, on: s.onBytes})
}

// Close closes the file.
func (s *File) Close() error { return s.f.Close() }

// exact turns an early io.EOF into io.ErrUnexpectedEOF.
type exact struct {
	r    io.Reader
	left int64
	on   func(int)
}

func (e *exact) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if n > 0 && e.on != nil {
		e.on(n)
	}
	if err != nil && err != io.EOF {
		err = &Error{fmt.Errorf("read source: %w", err)}
	}
	if err == io.EOF && e.left > 0 {
		err = &Error{fmt.Errorf("source ended %d bytes early: %w", e.left, io.ErrUnexpectedEOF)}
	}
	if err == io.EOF || (err == nil && e.left == 0) {
		return n, nil
	}
	return n, err
}

// Error marks a failure to fetch (as opposed to bad content), so callers
// can classify errors that crossed a decoder.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// IsFetchError reports whether err came from a source.
func IsFetchError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

// ReaderAt adapts a Source to io.ReaderAt (one ranged read per call), for
// parsers that seek, like the seek-table reader.
func ReaderAt(ctx context.Context, src Source) io.ReaderAt { return readerAt{ctx, src} }

type readerAt struct {
	ctx context.Context
	src Source
}

func (r readerAt) ReadAt(p []byte, off int64) (int, error) {
	size := r.src.Size()
	if off < 0 || off >= size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), size)
	rc := r.src.Open(r.ctx, off, end)
	defer rc.Close()
	n, err := io.ReadFull(rc, p[:end-off])
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}
