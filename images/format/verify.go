package format

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"runtime"
	"sync"

	"github.com/esxi-golden/packer-plugin-esxi/internal/ordered"
)

// ErrArchive is wrapped when the archive as a whole (its size, digest or
// seek table) does not match the manifest.
var ErrArchive = errors.New("archive does not match the manifest")

// Verify checks an archive of size bytes against m completely: its size,
// seek table, every frame (zero frames included, since `zstd -d` and
// bmaptool decode them), the archive's sha256 and the whole raw image's
// sha256. Chunks are decoded on workers goroutines (0 means GOMAXPROCS);
// memory stays at about 2×workers chunks.
func Verify(ctx context.Context, r io.ReaderAt, size int64, m *Manifest, workers int) error {
	if size != m.Archive.Size {
		return fmt.Errorf("%w: %s is %d bytes, manifest archive.size says %d", ErrArchive, m.Archive.File, size, m.Archive.Size)
	}
	// Compare entry by entry with the manifest before the totals, so a
	// damaged entry is reported by chunk.
	t, off, err := readSeekTable(r, size)
	if err != nil {
		return fmt.Errorf("%s: %w", m.Archive.File, err)
	}
	if off != m.Archive.SeekTable.Offset {
		return fmt.Errorf("%w: seek table at byte %d, manifest archive.seek_table.offset says %d", ErrArchive, off, m.Archive.SeekTable.Offset)
	}
	if err := m.CheckSeekTable(t); err != nil {
		return fmt.Errorf("%s: %w", m.Archive.File, err)
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	dec, err := NewDecoder(m.Image.ChunkSize, workers)
	if err != nil {
		return err
	}
	defer dec.Close()

	type result struct {
		frame, raw *[]byte
	}
	pool := sync.Pool{New: func() any { b := make([]byte, 0, m.Image.ChunkSize); return &b }}
	archive, image := sha256.New(), sha256.New()
	work := func(ctx context.Context, i int) (result, error) {
		s := m.Span(i)
		fb, rb := pool.Get().(*[]byte), pool.Get().(*[]byte)
		frame := (*fb)[:0]
		if int64(cap(frame)) < s.Length {
			frame = make([]byte, s.Length)
		}
		frame = frame[:s.Length]
		if _, err := r.ReadAt(frame, s.Offset); err != nil {
			pool.Put(fb)
			pool.Put(rb)
			return result{}, fmt.Errorf("chunk %d: read %d bytes at archive offset %d: %w", i, s.Length, s.Offset, err)
		}
		raw, err := DecodeChunk(dec, s, frame, (*rb)[:0])
		*fb, *rb = frame, raw
		if err != nil {
			pool.Put(fb)
			pool.Put(rb)
			return result{}, err
		}
		if t.Checksums {
			if err := checkFrameChecksum(t, i, raw); err != nil {
				pool.Put(fb)
				pool.Put(rb)
				return result{}, err
			}
		}
		return result{fb, rb}, nil
	}
	sink := func(i int, v result) error {
		archive.Write(*v.frame)
		image.Write(*v.raw)
		pool.Put(v.frame)
		pool.Put(v.raw)
		return nil
	}
	discard := func(v result) { pool.Put(v.frame); pool.Put(v.raw) }
	if err := ordered.Run(ctx, len(m.Chunks), workers, 2*workers, work, sink, discard); err != nil {
		return fmt.Errorf("%s: %w", m.Archive.File, err)
	}
	if err := hashRange(archive, r, off, m.Archive.SeekTable.Length); err != nil {
		return fmt.Errorf("%s: seek table: %w", m.Archive.File, err)
	}
	if got := Digest(archive.Sum(nil)); got != m.Archive.SHA256 {
		return fmt.Errorf("%w: %s sha256 %s, manifest archive.sha256 says %s", ErrArchive, m.Archive.File, got, m.Archive.SHA256)
	}
	if got := Digest(image.Sum(nil)); got != m.Image.SHA256 {
		return fmt.Errorf("%w: decoded image sha256 %s, manifest image.sha256 says %s", ErrArchive, got, m.Image.SHA256)
	}
	return nil
}

func checkFrameChecksum(t *SeekTable, i int, raw []byte) error {
	if got, want := frameChecksum(raw), t.Entries[i].Checksum; got != want {
		return fmt.Errorf("chunk %d: %w: XXH64 low bits %#08x, seek table says %#08x", i, ErrChunk, got, want)
	}
	return nil
}

func hashRange(h hash.Hash, r io.ReaderAt, off, n int64) error {
	_, err := io.Copy(h, io.NewSectionReader(r, off, n))
	return err
}
