package format

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The seek table is written by hand rather than with
// github.com/SaveTheRbtz/zstd-seekable-format-go, after measuring both
// (see FORMAT.md, "Why not a seekable-zstd library"): the table is 12 bytes
// a frame plus a 9-byte footer, our manifest needs the same offsets and a
// sha256 per chunk computed in the same parallel pass, all-zero chunks must
// reuse one precomputed frame, and the library's current release needs
// Go 1.25 (our module is pinned to 1.24) while its Go 1.24 release pulls in
// zap and btree. Compression itself is klauspost/compress either way.

// Magic numbers of the zstd seekable format (facebook/zstd
// contrib/seekable_format/zstd_seekable_compression_format.md, v0.1.0).
const (
	// SkippableMagic opens the skippable frame that carries the seek table.
	// zstd decoders skip any frame whose magic is 0x184D2A50..0x184D2A5F;
	// the seekable format uses this one.
	SkippableMagic uint32 = 0x184D2A5E
	// SeekableMagic is the last four bytes of a seekable archive.
	SeekableMagic uint32 = 0x8F92EAB1

	// MaxFrames is the reference implementation's limit on the number of
	// frames (ZSTD_SEEKABLE_MAXFRAMES).
	MaxFrames = 0x8000000
	// MaxFrameRawSize is the reference implementation's limit on the
	// decompressed size of one frame (ZSTD_SEEKABLE_MAX_FRAME_DECOMPRESSED_SIZE).
	MaxFrameRawSize = 0x40000000

	seekFooterSize      = 9
	skippableHeaderSize = 8
	checksumFlag        = 0x80
	reservedBits        = 0x7c
)

// ErrSeekTable is wrapped by every error about a missing or malformed seek
// table, so callers can tell "not a seekable archive" from an I/O error.
var ErrSeekTable = errors.New("seek table")

// SeekEntry describes one frame of a seekable archive.
type SeekEntry struct {
	CompressedSize   uint32
	DecompressedSize uint32
	// Checksum is the low 32 bits of the XXH64 of the decompressed frame;
	// meaningful only when SeekTable.Checksums is set.
	Checksum uint32
}

// SeekTable is the parsed seek table: one entry per frame, in file order.
type SeekTable struct {
	Entries   []SeekEntry
	Checksums bool
}

// Frame is a seek-table entry with its positions resolved.
type Frame struct {
	Index     int
	Offset    int64 // of the frame in the archive
	Size      int64 // compressed
	RawOffset int64 // of its data in the decompressed stream
	RawSize   int64
	Checksum  uint32
}

func (t *SeekTable) entrySize() int {
	if t.Checksums {
		return 12
	}
	return 8
}

// FrameSize is the size in bytes of the skippable frame holding t.
func (t *SeekTable) FrameSize() int64 {
	return skippableHeaderSize + int64(len(t.Entries))*int64(t.entrySize()) + seekFooterSize
}

// Frames resolves every entry's compressed and decompressed offsets.
func (t *SeekTable) Frames() []Frame {
	out := make([]Frame, len(t.Entries))
	var off, raw int64
	for i, e := range t.Entries {
		out[i] = Frame{Index: i, Offset: off, Size: int64(e.CompressedSize),
			RawOffset: raw, RawSize: int64(e.DecompressedSize), Checksum: e.Checksum}
		off += int64(e.CompressedSize)
		raw += int64(e.DecompressedSize)
	}
	return out
}

// CompressedSize is the sum of all frames' compressed sizes: the offset at
// which the seek table's own frame starts.
func (t *SeekTable) CompressedSize() int64 {
	var n int64
	for _, e := range t.Entries {
		n += int64(e.CompressedSize)
	}
	return n
}

// RawSize is the size of the decompressed stream.
func (t *SeekTable) RawSize() int64 {
	var n int64
	for _, e := range t.Entries {
		n += int64(e.DecompressedSize)
	}
	return n
}

// AppendBinary appends the seek table's skippable frame to b.
func (t *SeekTable) AppendBinary(b []byte) ([]byte, error) {
	if len(t.Entries) > MaxFrames {
		return b, fmt.Errorf("%w: %d frames, the format allows at most %d", ErrSeekTable, len(t.Entries), MaxFrames)
	}
	payload := t.FrameSize() - skippableHeaderSize
	b = binary.LittleEndian.AppendUint32(b, SkippableMagic)
	b = binary.LittleEndian.AppendUint32(b, uint32(payload))
	for _, e := range t.Entries {
		b = binary.LittleEndian.AppendUint32(b, e.CompressedSize)
		b = binary.LittleEndian.AppendUint32(b, e.DecompressedSize)
		if t.Checksums {
			b = binary.LittleEndian.AppendUint32(b, e.Checksum)
		}
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(t.Entries)))
	var desc byte
	if t.Checksums {
		desc |= checksumFlag
	}
	b = append(b, desc)
	return binary.LittleEndian.AppendUint32(b, SeekableMagic), nil
}

// footer decodes the 9-byte footer: frame count and checksum flag.
func parseFooter(f []byte) (n uint32, checksums bool, err error) {
	if magic := binary.LittleEndian.Uint32(f[5:]); magic != SeekableMagic {
		return 0, false, fmt.Errorf("%w: footer magic %#08x, want %#08x (not a seekable zstd archive, or truncated)", ErrSeekTable, magic, SeekableMagic)
	}
	desc := f[4]
	if desc&reservedBits != 0 {
		return 0, false, fmt.Errorf("%w: descriptor %#02x has reserved bits set", ErrSeekTable, desc)
	}
	n = binary.LittleEndian.Uint32(f[:4])
	if n > MaxFrames {
		return 0, false, fmt.Errorf("%w: %d frames, the format allows at most %d", ErrSeekTable, n, MaxFrames)
	}
	return n, desc&checksumFlag != 0, nil
}

// ParseSeekTable parses one complete seek-table skippable frame (header,
// entries and footer, nothing else).
func ParseSeekTable(frame []byte) (*SeekTable, error) {
	if len(frame) < skippableHeaderSize+seekFooterSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte minimum", ErrSeekTable, len(frame), skippableHeaderSize+seekFooterSize)
	}
	n, checksums, err := parseFooter(frame[len(frame)-seekFooterSize:])
	if err != nil {
		return nil, err
	}
	t := &SeekTable{Checksums: checksums}
	if want := int64(skippableHeaderSize) + int64(n)*int64(t.entrySize()) + seekFooterSize; int64(len(frame)) != want {
		return nil, fmt.Errorf("%w: frame is %d bytes, but %d entries need %d", ErrSeekTable, len(frame), n, want)
	}
	if magic := binary.LittleEndian.Uint32(frame); magic != SkippableMagic {
		return nil, fmt.Errorf("%w: skippable frame magic %#08x, want %#08x", ErrSeekTable, magic, SkippableMagic)
	}
	if size := binary.LittleEndian.Uint32(frame[4:]); int64(size) != int64(len(frame))-skippableHeaderSize {
		return nil, fmt.Errorf("%w: skippable frame size field %d, want %d", ErrSeekTable, size, len(frame)-skippableHeaderSize)
	}
	t.Entries = make([]SeekEntry, n)
	es := t.entrySize()
	p := frame[skippableHeaderSize:]
	for i := range t.Entries {
		e := p[i*es:]
		t.Entries[i] = SeekEntry{
			CompressedSize:   binary.LittleEndian.Uint32(e),
			DecompressedSize: binary.LittleEndian.Uint32(e[4:]),
		}
		if checksums {
			t.Entries[i].Checksum = binary.LittleEndian.Uint32(e[8:])
		}
		if t.Entries[i].DecompressedSize > MaxFrameRawSize {
			return nil, fmt.Errorf("%w: frame %d decompresses to %d bytes, the format allows at most %d", ErrSeekTable, i, t.Entries[i].DecompressedSize, MaxFrameRawSize)
		}
	}
	return t, nil
}

// ReadSeekTable reads the seek table from the end of an archive of size
// bytes and checks that its frames exactly fill the archive before it, so a
// truncated or padded archive is refused here. It returns the table and the
// offset at which the table's frame starts.
func ReadSeekTable(r io.ReaderAt, size int64) (*SeekTable, int64, error) {
	t, off, err := readSeekTable(r, size)
	if err != nil {
		return nil, 0, err
	}
	if c := t.CompressedSize(); c != off {
		return nil, 0, fmt.Errorf("%w: its frames add up to %d compressed bytes, but it starts at byte %d (archive truncated or padded)", ErrSeekTable, c, off)
	}
	return t, off, nil
}

// readSeekTable parses the table at the end of the archive without
// checking it against the frames before it.
func readSeekTable(r io.ReaderAt, size int64) (*SeekTable, int64, error) {
	if size < skippableHeaderSize+seekFooterSize {
		return nil, 0, fmt.Errorf("%w: archive is %d bytes, too short to hold one", ErrSeekTable, size)
	}
	var f [seekFooterSize]byte
	if _, err := r.ReadAt(f[:], size-seekFooterSize); err != nil {
		return nil, 0, fmt.Errorf("%w: read footer at byte %d: %w", ErrSeekTable, size-seekFooterSize, err)
	}
	n, checksums, err := parseFooter(f[:])
	if err != nil {
		return nil, 0, err
	}
	t := SeekTable{Checksums: checksums, Entries: nil}
	frameSize := int64(skippableHeaderSize) + int64(n)*int64(t.entrySize()) + seekFooterSize
	if frameSize > size {
		return nil, 0, fmt.Errorf("%w: footer announces %d frames (%d bytes of table), but the archive is only %d bytes", ErrSeekTable, n, frameSize, size)
	}
	buf := make([]byte, frameSize)
	off := size - frameSize
	if _, err := r.ReadAt(buf, off); err != nil {
		return nil, 0, fmt.Errorf("%w: read %d bytes at byte %d: %w", ErrSeekTable, frameSize, off, err)
	}
	tp, err := ParseSeekTable(buf)
	if err != nil {
		return nil, 0, err
	}
	return tp, off, nil
}
