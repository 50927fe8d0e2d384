package writer

import (
	"bytes"
	"context"
	"sync"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer/target"
)

// bufPool hands out aligned buffers of one size; a bounded channel rather
// than sync.Pool so memory stays capped at count×size and a stage blocks
// (backpressure) instead of allocating when writers fall behind.
type bufPool struct {
	size int
	ch   chan []byte
}

func newBufPool(size, count int) *bufPool {
	p := &bufPool{size: size, ch: make(chan []byte, count)}
	for range count {
		p.ch <- target.AlignedBuffer(size)
	}
	return p
}

func (p *bufPool) get(ctx context.Context) ([]byte, error) {
	select {
	case b := <-p.ch:
		return b[:p.size], nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (p *bufPool) put(b []byte) { p.ch <- b[:cap(b)] }

var zeros = make([]byte, 4<<20)

// allZero reports whether b holds only zero bytes (bytes.Equal compiles to
// a vectorised compare, ≈77 GB/s measured, far cheaper than writing).
func allZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeros))
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// firstErr keeps the first error and cancels the run's context with it.
type firstErr struct {
	once   sync.Once
	err    error
	cancel context.CancelCauseFunc
}

func (f *firstErr) set(err error) {
	if err == nil {
		return
	}
	f.once.Do(func() {
		f.err = err
		f.cancel(err)
	})
}
