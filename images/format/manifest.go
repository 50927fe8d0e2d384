package format

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"time"
	"unicode"
)

// Manifest identification. A reader refuses any other Kind and any
// Version above the one it knows; optional fields may be added without a
// version bump, and readers ignore fields they do not know.
const (
	ManifestKind    = "esxi-golden-image"
	ManifestVersion = 1
	// Compression names the archive encoding in Archive.Compression.
	Compression = "zstd-seekable"

	// DefaultChunkSize is 4 MiB: big enough for large aligned writes and
	// good compression, small enough that a 40 GiB image has ~10k chunks
	// and a retried or resumed chunk is cheap.
	DefaultChunkSize = 4 << 20
	// MinChunkSize and MaxChunkSize bound Image.ChunkSize; it must also be
	// a multiple of BlockAlign. The upper bound is MaxFrameRawSize.
	MinChunkSize = 64 << 10
	MaxChunkSize = MaxFrameRawSize
	// BlockAlign keeps every chunk boundary on a 4 KiB block so a writer
	// can use O_DIRECT and the bmap can use 4 KiB blocks.
	BlockAlign = 4096

	// MaxManifestSize bounds what DecodeManifest reads (a 16 TiB image in
	// 4 MiB chunks is ~500 MB of JSON; nothing real comes near this).
	MaxManifestSize = 1 << 30
)

// Sentinel errors, wrapped with the field or chunk they concern.
var (
	ErrManifest           = errors.New("manifest")
	ErrUnsupportedVersion = errors.New("unsupported manifest version")
)

// Digest is a SHA-256 digest, lowercase hex in JSON.
type Digest [32]byte

func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// IsZero reports whether d is unset.
func (d Digest) IsZero() bool { return d == Digest{} }

func (d Digest) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Digest) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("sha256 %q: %d characters, want 64 hex digits", truncate(b), len(b))
	}
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("sha256 %q: want 64 lowercase hex digits", truncate(b))
		}
	}
	_, err := hex.Decode(d[:], b)
	return err
}

func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// Manifest describes one published image: the raw disk image, its
// seekable .zst archive chunk by chunk, and where it came from. It is the
// document that is signed; everything else is trusted through it.
type Manifest struct {
	Kind    string    `json:"kind"`
	Version int       `json:"version"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Image   Image     `json:"image"`
	Archive Archive   `json:"archive"`
	ESXi    ESXi      `json:"esxi,omitzero"`
	Agent   Agent     `json:"agent,omitzero"`
	Builder Builder   `json:"builder"`
	// Chunks has one entry per ChunkSize slice of the raw image, in order;
	// chunk i covers raw bytes [i*ChunkSize, min((i+1)*ChunkSize, Size)).
	Chunks []Chunk `json:"chunks"`
}

// Image is the raw disk image.
type Image struct {
	Size      int64  `json:"size"`
	ChunkSize int64  `json:"chunk_size"`
	SHA256    Digest `json:"sha256"`
	// DataChunks is how many chunks are not all-zero (informational).
	DataChunks int `json:"data_chunks"`
}

// Archive is the seekable zstd file holding the image.
type Archive struct {
	File        string `json:"file"`
	Compression string `json:"compression"`
	Size        int64  `json:"size"`
	SHA256      Digest `json:"sha256"`
	// SeekTable locates the trailing skippable frame; it starts right
	// after the last chunk's frame and ends the file.
	SeekTable Extent `json:"seek_table"`
}

// Extent is a byte range of a file.
type Extent struct {
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
}

// ESXi identifies the installed system in the image, when known.
type ESXi struct {
	Version string `json:"version,omitempty"`
	Build   string `json:"build,omitempty"`
}

// Agent identifies the first-boot agent injected into the image, if any.
type Agent struct {
	Version string `json:"version,omitempty"`
}

// Builder records what produced the archive.
type Builder struct {
	Tool    string `json:"tool"`
	Version string `json:"version"`
	// Labels are free-form provenance (packer_build_name, host, ...).
	Labels map[string]string `json:"labels,omitempty"`
}

// Chunk is one zstd frame of the archive.
type Chunk struct {
	// Offset and Length locate the frame in the archive.
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
	// SHA256 is the digest of the raw chunk; absent for zero chunks.
	SHA256 Digest `json:"sha256,omitzero"`
	// Zero marks an all-zero chunk: its frame decodes to zeros and a
	// writer need not fetch or decode it.
	Zero bool `json:"zero,omitempty"`
}

// Span is a chunk with the raw-image range it covers: the unit a writer
// schedules.
type Span struct {
	Index     int
	RawOffset int64
	RawSize   int64
	Chunk
}

// NumChunks is how many chunks an image of size bytes has.
func NumChunks(size, chunkSize int64) int {
	if chunkSize <= 0 {
		return 0
	}
	return int((size + chunkSize - 1) / chunkSize)
}

// Span returns chunk i with its raw range. It panics if i is out of range.
func (m *Manifest) Span(i int) Span {
	off := int64(i) * m.Image.ChunkSize
	return Span{Index: i, RawOffset: off, RawSize: min(m.Image.ChunkSize, m.Image.Size-off), Chunk: m.Chunks[i]}
}

// Spans returns every chunk with its raw range.
func (m *Manifest) Spans() []Span {
	out := make([]Span, len(m.Chunks))
	for i := range m.Chunks {
		out[i] = m.Span(i)
	}
	return out
}

// SeekTableSize is the size of the seek table frame of an archive of n
// chunks. Our archives always carry the per-frame checksums.
func SeekTableSize(n int) int64 {
	return skippableHeaderSize + int64(n)*12 + seekFooterSize
}

// CheckSeekTable reports the first disagreement between the archive's
// seek table and the manifest.
func (m *Manifest) CheckSeekTable(t *SeekTable) error {
	if len(t.Entries) != len(m.Chunks) {
		return fmt.Errorf("%w: archive has %d frames, manifest lists %d chunks", ErrSeekTable, len(t.Entries), len(m.Chunks))
	}
	for i, e := range t.Entries {
		s := m.Span(i)
		if int64(e.CompressedSize) != s.Length {
			return fmt.Errorf("%w: chunk %d: frame is %d bytes, manifest says %d", ErrSeekTable, i, e.CompressedSize, s.Length)
		}
		if int64(e.DecompressedSize) != s.RawSize {
			return fmt.Errorf("%w: chunk %d: frame decompresses to %d bytes, manifest says %d", ErrSeekTable, i, e.DecompressedSize, s.RawSize)
		}
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$`)

// ValidName reports whether name is usable as the base of published file
// names: no path separators, no leading dot or dash, at most 128 bytes.
func ValidName(name string) bool { return nameRE.MatchString(name) }

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrManifest, field, fmt.Sprintf(format, args...))
}

// maxFrameLength bounds a chunk's compressed length: zstd's worst case is
// a few bytes of header per 128 KiB block over the raw size.
func maxFrameLength(raw int64) int64 { return raw + raw>>7 + 1<<10 }

func checkText(field, s string) error {
	if len(s) > 256 {
		return fieldErr(field, "%d bytes, at most 256 allowed", len(s))
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return fieldErr(field, "contains control character %q", r)
		}
	}
	return nil
}

// Validate checks the manifest's internal consistency: identification,
// sizes, that chunks tile the raw image and the archive exactly, and that
// every data chunk has a digest. It says nothing about whether the files
// match; Verify and DecodeChunk check that.
func (m *Manifest) Validate() error {
	if m.Kind != ManifestKind {
		return fieldErr("kind", "%q, want %q", m.Kind, ManifestKind)
	}
	if m.Version != ManifestVersion {
		return fmt.Errorf("%w: %w: version %d, this reader knows %d", ErrManifest, ErrUnsupportedVersion, m.Version, ManifestVersion)
	}
	if !ValidName(m.Name) {
		return fieldErr("name", "%q is not a valid file name base (letters, digits, . _ + -; at most 128)", m.Name)
	}
	if m.Created.IsZero() {
		return fieldErr("created", "missing")
	}
	im := m.Image
	if im.Size <= 0 || im.Size > 1<<50 {
		return fieldErr("image.size", "%d, want 1..2^50", im.Size)
	}
	if im.ChunkSize < MinChunkSize || im.ChunkSize > MaxChunkSize || im.ChunkSize%BlockAlign != 0 {
		return fieldErr("image.chunk_size", "%d, want a multiple of %d between %d and %d", im.ChunkSize, BlockAlign, MinChunkSize, MaxChunkSize)
	}
	if im.SHA256.IsZero() {
		return fieldErr("image.sha256", "missing")
	}
	n := NumChunks(im.Size, im.ChunkSize)
	if n > MaxFrames {
		return fieldErr("image.size", "%d bytes in chunks of %d is %d chunks, the format allows at most %d", im.Size, im.ChunkSize, n, MaxFrames)
	}
	if len(m.Chunks) != n {
		return fieldErr("chunks", "%d entries, but %d bytes in chunks of %d need %d", len(m.Chunks), im.Size, im.ChunkSize, n)
	}
	a := m.Archive
	if a.File != m.Name+ArchiveSuffix {
		return fieldErr("archive.file", "%q, want %q", a.File, m.Name+ArchiveSuffix)
	}
	if a.Compression != Compression {
		return fieldErr("archive.compression", "%q, want %q", a.Compression, Compression)
	}
	if a.SHA256.IsZero() {
		return fieldErr("archive.sha256", "missing")
	}
	var off int64
	data := 0
	for i := range m.Chunks {
		s := m.Span(i)
		f := func(name string) string { return fmt.Sprintf("chunks[%d].%s", i, name) }
		if s.Offset != off {
			return fieldErr(f("offset"), "%d, want %d (where chunk %d ends)", s.Offset, off, i-1)
		}
		if s.Length <= 0 || s.Length > maxFrameLength(s.RawSize) {
			return fieldErr(f("length"), "%d, want 1..%d for %d raw bytes", s.Length, maxFrameLength(s.RawSize), s.RawSize)
		}
		if s.Zero && !s.SHA256.IsZero() {
			return fieldErr(f("sha256"), "set on a zero chunk")
		}
		if !s.Zero {
			if s.SHA256.IsZero() {
				return fieldErr(f("sha256"), "missing on a data chunk")
			}
			data++
		}
		off += s.Length
	}
	if im.DataChunks != data {
		return fieldErr("image.data_chunks", "%d, but %d chunks are not zero", im.DataChunks, data)
	}
	want := SeekTableSize(len(m.Chunks))
	if a.SeekTable.Offset != off || a.SeekTable.Length != want {
		return fieldErr("archive.seek_table", "{offset %d, length %d}, want {offset %d, length %d}", a.SeekTable.Offset, a.SeekTable.Length, off, want)
	}
	if a.Size != off+want {
		return fieldErr("archive.size", "%d, want %d (chunks and seek table)", a.Size, off+want)
	}
	texts := [][2]string{{"esxi.version", m.ESXi.Version}, {"esxi.build", m.ESXi.Build},
		{"agent.version", m.Agent.Version}, {"builder.tool", m.Builder.Tool}, {"builder.version", m.Builder.Version}}
	for _, k := range slices.Sorted(maps.Keys(m.Builder.Labels)) {
		texts = append(texts, [2]string{"builder.labels key", k}, [2]string{"builder.labels." + k, m.Builder.Labels[k]})
	}
	for _, t := range texts {
		if err := checkText(t[0], t[1]); err != nil {
			return err
		}
	}
	return nil
}

// File name suffixes of a published image.
const (
	ArchiveSuffix   = ".img.zst"
	ManifestSuffix  = ".manifest.json"
	SignatureSuffix = ".minisig"
)

// DecodeManifest reads, parses and validates a manifest. Unknown fields
// are ignored (newer writers may add optional ones); a newer Version is
// refused with ErrUnsupportedVersion.
func DecodeManifest(r io.Reader) (*Manifest, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: read: %w", ErrManifest, err)
	}
	if len(b) > MaxManifestSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrManifest, MaxManifestSize)
	}
	return ParseManifest(b)
}

// ParseManifest is DecodeManifest on bytes already read (for example the
// exact bytes whose signature was just checked).
func ParseManifest(b []byte) (*Manifest, error) {
	// Peek at kind and version first so a future format gets a clear
	// "unsupported version" instead of a confusing field error.
	var head struct {
		Kind    string `json:"kind"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, jsonErr(b, err))
	}
	if head.Kind != ManifestKind {
		return nil, fieldErr("kind", "%q, want %q", head.Kind, ManifestKind)
	}
	if head.Version != ManifestVersion {
		return nil, fmt.Errorf("%w: %w: version %d, this reader knows %d", ErrManifest, ErrUnsupportedVersion, head.Version, ManifestVersion)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifest, jsonErr(b, err))
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// jsonErr adds the line of a syntax error to the message.
func jsonErr(b []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset <= int64(len(b)) {
		line := bytes.Count(b[:se.Offset], []byte("\n")) + 1
		return fmt.Errorf("line %d: %w", line, err)
	}
	return err
}

// Marshal validates m and returns its canonical JSON encoding (indented,
// newline-terminated): the exact bytes to write and sign.
func (m *Manifest) Marshal() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %w", ErrManifest, err)
	}
	return append(b, '\n'), nil
}
