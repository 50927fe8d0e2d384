package format

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"maps"
	"time"
)

// Meta is what a manifest records beyond the archive itself.
type Meta struct {
	Name    string
	Created time.Time // zero means now; stored in UTC to the second
	ESXi    ESXi
	Agent   Agent
	Builder Builder
}

// ArchiveWriter assembles a seekable archive from chunks appended in
// order, hashing the archive and the raw image as it goes, and builds the
// manifest. It does no compression itself, so callers can compress in
// parallel and append in order (images/publish does).
type ArchiveWriter struct {
	w         io.Writer
	size      int64
	chunkSize int64
	n         int

	archive, image hash.Hash
	table          SeekTable
	chunks         []Chunk
	off            int64
	data           int
	err            error
}

// NewArchiveWriter starts an archive for a raw image of size bytes cut
// into chunks of chunkSize.
func NewArchiveWriter(w io.Writer, size, chunkSize int64) (*ArchiveWriter, error) {
	if chunkSize < MinChunkSize || chunkSize > MaxChunkSize || chunkSize%BlockAlign != 0 {
		return nil, fmt.Errorf("chunk size %d: want a multiple of %d between %d and %d", chunkSize, BlockAlign, MinChunkSize, MaxChunkSize)
	}
	if size <= 0 {
		return nil, fmt.Errorf("image size %d: want more than 0 bytes", size)
	}
	n := NumChunks(size, chunkSize)
	if n > MaxFrames {
		return nil, fmt.Errorf("image of %d bytes in chunks of %d is %d chunks, the format allows at most %d", size, chunkSize, n, MaxFrames)
	}
	return &ArchiveWriter{
		w: w, size: size, chunkSize: chunkSize, n: n,
		archive: sha256.New(), image: sha256.New(),
		table:  SeekTable{Checksums: true, Entries: make([]SeekEntry, 0, n)},
		chunks: make([]Chunk, 0, n),
	}, nil
}

// RawSize is the raw size of chunk i.
func (a *ArchiveWriter) RawSize(i int) int64 {
	return min(a.chunkSize, a.size-int64(i)*a.chunkSize)
}

// Chunks is the number of chunks the image has.
func (a *ArchiveWriter) Chunks() int { return a.n }

// Append writes the next chunk's frame. raw is the chunk's raw bytes; it
// is ignored (and may be nil) for a zero chunk. After an error the writer
// is unusable.
func (a *ArchiveWriter) Append(e Encoded, raw []byte) error {
	if a.err != nil {
		return a.err
	}
	i := len(a.chunks)
	if i >= a.n {
		a.err = fmt.Errorf("chunk %d: the image has only %d chunks", i, a.n)
		return a.err
	}
	rs := a.RawSize(i)
	if !e.Zero && int64(len(raw)) != rs {
		a.err = fmt.Errorf("chunk %d: %d raw bytes, want %d", i, len(raw), rs)
		return a.err
	}
	if _, err := a.w.Write(e.Frame); err != nil {
		a.err = fmt.Errorf("chunk %d: write frame: %w", i, err)
		return a.err
	}
	a.archive.Write(e.Frame)
	if e.Zero {
		for left := rs; left > 0; {
			k := min(left, int64(len(zeroBlock)))
			a.image.Write(zeroBlock[:k])
			left -= k
		}
	} else {
		a.image.Write(raw)
		a.data++
	}
	a.table.Entries = append(a.table.Entries, SeekEntry{CompressedSize: uint32(len(e.Frame)), DecompressedSize: uint32(rs), Checksum: e.Checksum})
	a.chunks = append(a.chunks, Chunk{Offset: a.off, Length: int64(len(e.Frame)), SHA256: e.SHA256, Zero: e.Zero})
	a.off += int64(len(e.Frame))
	return nil
}

// Finish writes the seek table and returns the manifest. All chunks must
// have been appended.
func (a *ArchiveWriter) Finish(meta Meta) (*Manifest, error) {
	if a.err != nil {
		return nil, a.err
	}
	if len(a.chunks) != a.n {
		return nil, fmt.Errorf("archive incomplete: %d of %d chunks appended", len(a.chunks), a.n)
	}
	st, err := a.table.AppendBinary(nil)
	if err != nil {
		return nil, err
	}
	if _, err := a.w.Write(st); err != nil {
		return nil, fmt.Errorf("write seek table: %w", err)
	}
	a.archive.Write(st)
	created := meta.Created
	if created.IsZero() {
		created = time.Now()
	}
	m := &Manifest{
		Kind:    ManifestKind,
		Version: ManifestVersion,
		Name:    meta.Name,
		Created: created.UTC().Truncate(time.Second),
		Image: Image{Size: a.size, ChunkSize: a.chunkSize, SHA256: Digest(a.image.Sum(nil)),
			DataChunks: a.data},
		Archive: Archive{File: meta.Name + ArchiveSuffix, Compression: Compression,
			Size: a.off + int64(len(st)), SHA256: Digest(a.archive.Sum(nil)),
			SeekTable: Extent{Offset: a.off, Length: int64(len(st))}},
		ESXi:    meta.ESXi,
		Agent:   meta.Agent,
		Builder: meta.Builder,
		Chunks:  a.chunks,
	}
	if meta.Builder.Labels != nil {
		m.Builder.Labels = maps.Clone(meta.Builder.Labels)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
