package writer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer/fetch"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/progress"
)

// Chunk is one fixed-size piece of the raw image and where its independent
// zstd frame lies in the published file. It is the writer's work item,
// filled from the verified manifest (see plan.go), not a format of its own.
type Chunk struct {
	Offset, Size         int64 // raw image bytes [Offset, Offset+Size)
	CompOffset, CompSize int64 // its zstd frame in the published file
	Zero                 bool  // all zero: never fetched nor decoded
	SHA256               [32]byte
}

// Plan is the list of chunks covering the image.
type Plan struct {
	ImageSize int64
	Chunks    []Chunk
	// Unverified plans come from an unsigned seek table (compat mode on a
	// seekable .zst): chunks carry no sha256 and no zero flag, so every
	// frame is fetched, in order, on one connection, and its integrity
	// rests on the frame checksums and the optional whole-file sha256.
	Unverified bool
	// FileSHA256, if set, is checked over every byte of the file, read
	// front to back (Unverified plans only).
	FileSHA256 []byte
	// ArchiveSize, if set, is the file's size the plan was made for.
	ArchiveSize int64
}

// check proves the plan tiles [0, ImageSize) and stays inside the source,
// so no manifest (even a signed one) can make the writer skip or overlap
// a range, or read past the object.
func (p *Plan) check(srcSize int64) error {
	if p.ArchiveSize > 0 && p.ArchiveSize != srcSize {
		return verifyErr("image file is %d bytes, the manifest says %d", srcSize, p.ArchiveSize)
	}
	var next int64
	for i, c := range p.Chunks {
		if c.Offset != next || c.Size <= 0 {
			return verifyErr("chunk %d covers bytes %d+%d, want offset %d", i, c.Offset, c.Size, next)
		}
		if !c.Zero && (c.CompSize <= 0 || c.CompOffset < 0 || c.CompOffset+c.CompSize > srcSize) {
			return verifyErr("chunk %d frame at %d+%d lies outside the %d-byte image file", i, c.CompOffset, c.CompSize, srcSize)
		}
		next += c.Size
	}
	if next != p.ImageSize {
		return verifyErr("chunks cover %d bytes, image size is %d", next, p.ImageSize)
	}
	return nil
}

// span is a run of non-zero chunks whose frames are contiguous in the
// file: one Range request fetches them all.
type span struct {
	first, last int // chunk indexes, inclusive
	off, end    int64
}

// spans groups the non-zero chunks into Range requests of at most maxBytes,
// enough of them to keep every connection busy to the end. With bridge
// (a server that ignores Range, so every request re-sends the file from
// byte 0) everything is one span read front to back, gaps discarded.
func (p *Plan) spans(maxBytes int64, bridge bool) []span {
	var out []span
	for i, c := range p.Chunks {
		if c.Zero {
			continue
		}
		if n := len(out); n > 0 {
			s := &out[n-1]
			if bridge && c.CompOffset >= s.end {
				s.last, s.end = i, c.CompOffset+c.CompSize
				continue
			}
			if s.last == i-1 && s.end == c.CompOffset && s.end-s.off+c.CompSize <= maxBytes {
				s.last, s.end = i, c.CompOffset+c.CompSize
				continue
			}
		}
		out = append(out, span{first: i, last: i, off: c.CompOffset, end: c.CompOffset + c.CompSize})
	}
	return out
}

// zeroFrames remembers the compressed bytes of frames that decoded to all
// zeros. Decoding is deterministic, so an identical frame decodes to the
// same zeros and is zeroed on the target without decoding: an encoder
// emits the same few bytes for every empty chunk of a size.
type zeroFrames struct {
	mu     sync.Mutex
	frames [][]byte
	sizes  []int64
}

func (z *zeroFrames) known(comp []byte, size int64) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	for i, f := range z.frames {
		if z.sizes[i] == size && bytes.Equal(f, comp) {
			return true
		}
	}
	return false
}

func (z *zeroFrames) add(comp []byte, size int64) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if len(z.frames) < 8 && len(comp) <= 64<<10 {
		z.frames = append(z.frames, bytes.Clone(comp))
		z.sizes = append(z.sizes, size)
	}
}

// frame is a fetched compressed chunk on its way to a decoder.
type frame struct {
	idx int
	buf []byte
}

// writeChunks is the fast path: conns fetchers Range-read spans of frames,
// GOMAXPROCS+ workers decode each frame with DecodeAll into a pooled
// aligned buffer, hash it, compare with the manifest and pwrite it (so
// several writes are in flight while other frames decode); zero chunks are
// coalesced and zeroed on the target by one goroutine, never decoded.
func writeChunks(ctx context.Context, src fetch.Source, plan *Plan, s *session, req *Request) error {
	if err := plan.check(src.Size()); err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	fe := &firstErr{cancel: cancel}

	var maxRaw, maxComp int64
	for _, c := range plan.Chunks {
		maxRaw = max(maxRaw, c.Size)
		if !c.Zero {
			maxComp = max(maxComp, c.CompSize)
		}
	}
	workers := req.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0) + max(2, req.Writers)
	}
	conns := max(1, req.Conns)
	var fileHash hash.Hash
	if plan.Unverified {
		conns = 1
		if plan.FileSHA256 != nil {
			fileHash = sha256.New()
		}
	}
	zf := &zeroFrames{}
	// A verified plan checks each chunk's sha256, which makes the frame's
	// own xxhash redundant; an unverified one relies on it.
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(workers), zstd.WithDecoderMaxWindow(1<<31),
		zstd.WithDecoderMaxMemory(uint64(maxRaw)+1<<20), zstd.IgnoreChecksum(!plan.Unverified))
	if err != nil {
		return err
	}
	defer dec.Close()
	rawPool := newBufPool(int(maxRaw), workers)
	compPool := newBufPool(int(maxComp), workers+2*conns)
	frames := make(chan frame, workers)

	var wg sync.WaitGroup
	// Zero chunks, coalesced into runs.
	wg.Add(1)
	go func() {
		defer wg.Done()
		var off, n int64
		for _, c := range plan.Chunks {
			if ctx.Err() != nil {
				return
			}
			if !c.Zero {
				continue
			}
			if n > 0 && off+n == c.Offset {
				n += c.Size
				continue
			}
			if n > 0 {
				if err := s.zero(off, n); err != nil {
					fe.set(err)
					return
				}
			}
			off, n = c.Offset, c.Size
		}
		if n > 0 {
			fe.set(s.zero(off, n))
		}
	}()

	// Fetchers.
	spans := make(chan span)
	var fwg sync.WaitGroup
	for range conns {
		fwg.Add(1)
		go func() {
			defer fwg.Done()
			for sp := range spans {
				if err := fetchSpan(ctx, src, plan, sp, compPool, frames, s.prog, fileHash); err != nil {
					fe.set(sourceOrVerify(err))
					return
				}
			}
		}()
	}
	go func() {
		defer close(spans)
		// Spans of ~16 frames: small enough that connections share the
		// tail of the work, large enough that request overhead vanishes.
		sps := plan.spans(16*maxComp, rangesIgnored(src) || plan.Unverified)
		if fileHash != nil && len(sps) == 1 {
			sps[0].off, sps[0].end = 0, src.Size() // hash every byte
		}
		for _, sp := range sps {
			select {
			case spans <- sp:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		fwg.Wait()
		close(frames)
	}()

	// Decode, verify, write.
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for fr := range frames {
				if ctx.Err() == nil {
					fe.set(decodeChunk(ctx, dec, plan, fr, rawPool, s, zf))
				}
				compPool.put(fr.buf)
			}
		}()
	}
	wg.Wait()
	if fe.err != nil {
		return fe.err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if fileHash != nil {
		if got := fileHash.Sum(nil); !bytes.Equal(got, plan.FileSHA256) {
			return verifyErr("sha256 of %s is %x, want %x", src, got, plan.FileSHA256)
		}
		s.log.Info("sha256 verified", "sha256", hex.EncodeToString(plan.FileSHA256))
	}
	return nil
}

func fetchSpan(ctx context.Context, src fetch.Source, plan *Plan, sp span, pool *bufPool, out chan<- frame, prog *progress.Counters, h hash.Hash) error {
	var r io.Reader
	rc := src.Open(ctx, sp.off, sp.end)
	defer rc.Close()
	r = rc
	if h != nil {
		r = io.TeeReader(rc, h)
	}
	pos := sp.off
	for i := sp.first; i <= sp.last; i++ {
		c := &plan.Chunks[i]
		if c.Zero {
			continue
		}
		if gap := c.CompOffset - pos; gap > 0 {
			if _, err := io.CopyN(io.Discard, r, gap); err != nil {
				return fmt.Errorf("skip to chunk %d at file byte %d: %w", i, c.CompOffset, err)
			}
		}
		pos = c.CompOffset + c.CompSize
		buf, err := pool.get(ctx)
		if err != nil {
			return err
		}
		buf = buf[:c.CompSize]
		start := time.Now()
		_, err = io.ReadFull(r, buf)
		prog.Add(progress.Fetch, 0, time.Since(start))
		if err != nil {
			pool.put(buf)
			return fmt.Errorf("chunk %d (file bytes %d+%d): %w", i, c.CompOffset, c.CompSize, err)
		}
		select {
		case out <- frame{idx: i, buf: buf}:
		case <-ctx.Done():
			pool.put(buf)
			return context.Cause(ctx)
		}
	}
	if h != nil {
		// The rest of the file (the seek table) belongs to the digest.
		if _, err := io.CopyN(io.Discard, r, sp.end-pos); err != nil {
			return fmt.Errorf("read file bytes %d-%d: %w", pos, sp.end-1, err)
		}
	}
	return nil
}

func decodeChunk(ctx context.Context, dec *zstd.Decoder, plan *Plan, fr frame, pool *bufPool, s *session, zf *zeroFrames) error {
	c := &plan.Chunks[fr.idx]
	if plan.Unverified && zf.known(fr.buf, c.Size) {
		s.prog.Add(progress.Decode, c.Size, 0)
		return s.zero(c.Offset, c.Size)
	}
	raw, err := pool.get(ctx)
	if err != nil {
		return err
	}
	defer pool.put(raw)
	start := time.Now()
	out, err := dec.DecodeAll(fr.buf, raw[:0])
	if err != nil {
		return verifyErr("chunk %d (image bytes %d+%d): decode: %v", fr.idx, c.Offset, c.Size, err)
	}
	if int64(len(out)) != c.Size {
		return verifyErr("chunk %d decodes to %d bytes, manifest says %d", fr.idx, len(out), c.Size)
	}
	if &out[0] != &raw[0] {
		return verifyErr("chunk %d decodes past its %d-byte buffer", fr.idx, cap(raw))
	}
	if !plan.Unverified {
		if sum := sha256.Sum256(out); sum != c.SHA256 {
			return verifyErr("chunk %d (image bytes %d+%d): sha256 %x, manifest says %x", fr.idx, c.Offset, c.Size, sum, c.SHA256)
		}
	}
	s.prog.Add(progress.Decode, c.Size, time.Since(start))
	if allZero(out) {
		// Zero data the manifest did not flag (or an unverified plan):
		// a zero range is cheaper than a write.
		if plan.Unverified {
			zf.add(fr.buf, c.Size)
		}
		return s.zero(c.Offset, c.Size)
	}
	return s.writeAt(out, c.Offset)
}

// rangesIgnored reports whether src is a server known to ignore Range.
func rangesIgnored(src fetch.Source) bool {
	h, ok := src.(*fetch.HTTP)
	return ok && h.RangesIgnored()
}
