package format

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"
)

// ErrChunk is wrapped when a chunk's bytes do not match the manifest.
var ErrChunk = errors.New("chunk does not match the manifest")

// zeroBlock is compared against to find all-zero data; memequal runs at
// tens of GB/s, far above any disk.
var zeroBlock = make([]byte, 1<<20)

// IsZero reports whether b is all zero bytes.
func IsZero(b []byte) bool {
	for len(b) > 0 {
		n := min(len(b), len(zeroBlock))
		if !bytes.Equal(b[:n], zeroBlock[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// Level is a compression level name accepted by ParseLevel.
type Level = zstd.EncoderLevel

// ParseLevel maps "fastest", "default" (≈ zstd -3), "better" (≈ zstd -7)
// and "best" (≈ zstd -11) to encoder levels.
func ParseLevel(s string) (Level, error) {
	ok, l := zstd.EncoderLevelFromString(s)
	if !ok {
		return 0, fmt.Errorf("compression level %q: want fastest, default, better or best", s)
	}
	return l, nil
}

// Encoded is one chunk compressed as an independent zstd frame.
type Encoded struct {
	Frame []byte
	Zero  bool
	// SHA256 is the raw chunk's digest; zero for zero chunks.
	SHA256 Digest
	// Checksum is the seek-table checksum (low 32 bits of XXH64).
	Checksum uint32
}

type zeroFrame struct {
	frame    []byte
	checksum uint32
}

// Encoder compresses chunks into independent frames. It is safe for
// concurrent use by up to the concurrency given to NewEncoder.
type Encoder struct {
	enc *zstd.Encoder

	mu    sync.Mutex
	zeros map[int]zeroFrame // by raw size: full chunks and the tail
}

// NewEncoder returns an encoder at level for up to concurrency
// simultaneous Encode calls. Frames carry zstd's content checksum, so
// `zstd -d` checks every frame too.
func NewEncoder(level Level, concurrency int) (*Encoder, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(max(1, concurrency)),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true))
	if err != nil {
		return nil, fmt.Errorf("zstd encoder: %w", err)
	}
	return &Encoder{enc: enc, zeros: map[int]zeroFrame{}}, nil
}

// Close releases the encoder's resources.
func (e *Encoder) Close() error { return e.enc.Close() }

// Encode compresses raw into a frame appended to dst[:0]. An all-zero raw
// is not compressed: it gets the shared zero frame (dst is not used).
func (e *Encoder) Encode(dst, raw []byte) Encoded {
	if IsZero(raw) {
		return e.ZeroChunk(len(raw))
	}
	return Encoded{
		Frame:    e.enc.EncodeAll(raw, dst[:0]),
		SHA256:   sha256.Sum256(raw),
		Checksum: frameChecksum(raw),
	}
}

// ZeroChunk returns the frame for size zero bytes without reading or
// compressing anything: the frame is built once per size (at the best
// level, a 4 MiB zero chunk is ~140 bytes) and shared. Callers must not
// modify the returned Frame.
func (e *Encoder) ZeroChunk(size int) Encoded {
	e.mu.Lock()
	defer e.mu.Unlock()
	z, ok := e.zeros[size]
	if !ok {
		raw := make([]byte, size)
		best, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression),
			zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true), zstd.WithZeroFrames(true))
		if err != nil {
			// Options are constants; NewWriter cannot fail on them.
			panic(err)
		}
		z = zeroFrame{frame: best.EncodeAll(raw, nil), checksum: frameChecksum(raw)}
		best.Close()
		e.zeros[size] = z
	}
	return Encoded{Frame: z.frame, Zero: true, Checksum: z.checksum}
}

// NewDecoder returns a zstd decoder for chunks of at most chunkSize raw
// bytes, usable by up to concurrency goroutines calling DecodeChunk at
// once. Its memory limit refuses frames that claim more than a chunk.
func NewDecoder(chunkSize int64, concurrency int) (*zstd.Decoder, error) {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(max(1, concurrency)),
		zstd.WithDecoderMaxMemory(uint64(chunkSize)),
		zstd.WithDecoderMaxWindow(uint64(max(chunkSize, 1<<20))))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return d, nil
}

// DecodeChunk decodes the frame of span s into dst[:0] and checks it
// against the manifest: size, zero-ness and sha256. On a mismatch it
// returns an error wrapping ErrChunk that names the chunk.
func DecodeChunk(dec *zstd.Decoder, s Span, frame, dst []byte) ([]byte, error) {
	if int64(len(frame)) != s.Length {
		return nil, fmt.Errorf("chunk %d at raw offset %d: %w: frame is %d bytes, manifest says %d", s.Index, s.RawOffset, ErrChunk, len(frame), s.Length)
	}
	raw, err := dec.DecodeAll(frame, dst[:0])
	if err != nil {
		return nil, fmt.Errorf("chunk %d at raw offset %d: %w: zstd: %w", s.Index, s.RawOffset, ErrChunk, err)
	}
	return raw, VerifyChunk(s, raw)
}

// VerifyChunk checks raw bytes against span s.
func VerifyChunk(s Span, raw []byte) error {
	if int64(len(raw)) != s.RawSize {
		return fmt.Errorf("chunk %d at raw offset %d: %w: %d bytes, manifest says %d", s.Index, s.RawOffset, ErrChunk, len(raw), s.RawSize)
	}
	if s.Zero {
		if !IsZero(raw) {
			return fmt.Errorf("chunk %d at raw offset %d: %w: marked zero but holds data", s.Index, s.RawOffset, ErrChunk)
		}
		return nil
	}
	if got := Digest(sha256.Sum256(raw)); got != s.SHA256 {
		return fmt.Errorf("chunk %d at raw offset %d: %w: sha256 %s, manifest says %s", s.Index, s.RawOffset, ErrChunk, got, s.SHA256)
	}
	return nil
}

func frameChecksum(raw []byte) uint32 { return uint32(xxhash.Sum64(raw)) }

// MaxEncodedSize is the largest frame Encode can return for size raw
// bytes, for sizing reusable buffers.
func (e *Encoder) MaxEncodedSize(size int) int { return e.enc.MaxEncodedSize(size) }
