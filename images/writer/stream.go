package writer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer/decompress"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/fetch"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/progress"
)

// streamBuf is the unit the stream engine reads, zero-checks and writes.
const streamBuf = 4 << 20

// timedReader counts the source's bytes, hashes them when asked and
// charges its time to the fetch stage.
type timedReader struct {
	r    io.Reader
	h    hash.Hash
	n    int64
	prog *progress.Counters
}

func (t *timedReader) Read(p []byte) (int, error) {
	start := time.Now()
	n, err := t.r.Read(p)
	if n > 0 && t.h != nil {
		t.h.Write(p[:n])
	}
	t.n += int64(n)
	t.prog.Add(progress.Fetch, 0, time.Since(start))
	return n, err
}

// writeStream is the image2disk-compatible engine: one (possibly
// compressed) stream, decoded by one decoder, cut into 4 MiB aligned
// buffers; all-zero buffers become zero ranges, the rest go to several
// concurrent writers. The last two buffers are held back until the end of
// the stream (its size is unknown until then) so the image's tail, where
// a backup GPT lives, is written by commit like the head.
func writeStream(ctx context.Context, src fetch.Source, s *session, req *Request) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fe := &firstErr{cancel: cancel}

	body := src.Open(ctx, 0, src.Size())
	defer body.Close()
	tr := &timedReader{r: body, prog: s.prog}
	var want []byte
	if req.SHA256 != "" {
		var err error
		if want, err = parseSHA256(req.SHA256); err != nil {
			return err
		}
		tr.h = sha256.New()
	}
	dec, format, err := decompress.Reader(tr, req.Compression)
	if err != nil {
		return sourceOrVerify(err)
	}
	defer dec.Close()
	s.log.Info("stream", "source", src.String(), "format", string(format), "compressed_bytes", src.Size())

	workers := max(1, req.Writers)
	pool := newBufPool(streamBuf, workers+4)
	type job struct {
		buf []byte
		off int64
	}
	jobs := make(chan job, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() == nil {
					fe.set(s.writeAt(j.buf, j.off))
				}
				pool.put(j.buf)
			}
		}()
	}

	var zeroOff, zeroLen int64
	flushZero := func() error {
		if zeroLen == 0 {
			return nil
		}
		err := s.zero(zeroOff, zeroLen)
		zeroLen = 0
		return err
	}
	// dispatch settles a full buffer that is no longer one of the last two.
	dispatch := func(buf []byte, off int64) error {
		if allZero(buf) {
			if zeroLen > 0 && zeroOff+zeroLen == off {
				zeroLen += int64(len(buf))
			} else {
				if err := flushZero(); err != nil {
					return err
				}
				zeroOff, zeroLen = off, int64(len(buf))
			}
			pool.put(buf)
			return nil
		}
		select {
		case jobs <- job{buf, off}:
			return nil
		case <-ctx.Done():
			pool.put(buf)
			return context.Cause(ctx)
		}
	}

	var (
		off     int64
		pending []job // at most two: the held-back tail candidates
		readErr error
	)
	for {
		buf, err := pool.get(ctx)
		if err != nil {
			readErr = err
			break
		}
		start := time.Now()
		n, err := fill(dec, buf)
		s.prog.Add(progress.Decode, int64(n), time.Since(start))
		if n > 0 {
			pending = append(pending, job{buf[:n], off})
			off += int64(n)
		} else {
			pool.put(buf)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
		if len(pending) > 2 {
			if err := dispatch(pending[0].buf, pending[0].off); err != nil {
				readErr = err
				break
			}
			pending = pending[1:]
		}
	}
	if readErr == nil {
		readErr = flushZero()
	}
	close(jobs)
	wg.Wait()
	if fe.err != nil {
		return fe.err
	}
	if readErr != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
			readErr = cause
		}
		return sourceOrVerify(readErr)
	}
	// The decoder stopped; whatever the source still holds must be nothing.
	if rest, err := io.Copy(io.Discard, tr); err != nil {
		return sourceOrVerify(err)
	} else if rest > 0 && format != decompress.Raw {
		return verifyErr("%d bytes after the end of the %s stream", rest, format)
	}
	if tr.n != src.Size() {
		return &Error{Kind: KindSource, Err: fmt.Errorf("read %d of %d bytes: %w", tr.n, src.Size(), io.ErrUnexpectedEOF)}
	}
	if want != nil {
		if got := tr.h.Sum(nil); string(got) != string(want) {
			return verifyErr("sha256 of %s is %x, want %x", src, got, want)
		}
		s.log.Info("sha256 verified", "sha256", hex.EncodeToString(want))
	}
	// The held tail: the last (up to two) buffers, in one region.
	tailOff := off
	var tail []byte
	if len(pending) > 0 {
		tailOff = pending[0].off
		tail = make([]byte, 0, off-tailOff)
		for _, p := range pending {
			tail = append(tail, p.buf...)
			pool.put(p.buf)
		}
	}
	return s.setTail(tail, tailOff)
}

// fill reads into buf until it is full, the stream ends (io.EOF, with
// whatever was read) or fails. Unlike io.ReadFull it never turns a clean
// end into io.ErrUnexpectedEOF, so a decoder's own ErrUnexpectedEOF (a
// truncated stream) stays distinguishable.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// sourceOrVerify classifies a stream failure: a decoder rejecting its
// input (corrupt or truncated data) is a verification failure, a fetch
// that could not complete is a source failure.
func sourceOrVerify(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, fetch.ErrGaveUp) || errors.Is(err, fetch.ErrObjectChanged) || fetch.IsFetchError(err) {
		return &Error{Kind: KindSource, Err: err}
	}
	return &Error{Kind: KindVerify, Err: fmt.Errorf("decode image: %w", err)}
}
