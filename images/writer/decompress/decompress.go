// Package decompress recognises a compressed image by its first bytes, not
// by its URL (a pre-signed URL's query string hides the suffix), and
// returns a decoder that reports a truncated stream as an error.
package decompress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Format is a container the writer can decode.
type Format string

const (
	Raw   Format = "raw"
	Gzip  Format = "gzip"
	Zstd  Format = "zstd"
	XZ    Format = "xz"
	Bzip2 Format = "bzip2"
)

// ErrNotCompressed means compression was required but no known magic was found.
var ErrNotCompressed = errors.New("no gzip, zstd, xz or bzip2 magic")

var magics = []struct {
	f Format
	m []byte
}{
	{Gzip, []byte{0x1f, 0x8b}},
	{Zstd, []byte{0x28, 0xb5, 0x2f, 0xfd}},
	{XZ, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}},
	{Bzip2, []byte("BZh")},
}

// Detect names the format of a stream starting with head. A zstd
// skippable frame (magic 0x184D2A5?) in front of the data also means zstd.
func Detect(head []byte) Format {
	for _, m := range magics {
		if bytes.HasPrefix(head, m.m) {
			return m.f
		}
	}
	if len(head) >= 4 && head[0]&0xf0 == 0x50 && bytes.Equal(head[1:4], []byte{0x2a, 0x4d, 0x18}) {
		return Zstd
	}
	return Raw
}

// Mode says what the caller knows: Auto detects, Never writes the bytes as
// they are, Always requires a known compression magic.
type Mode int

const (
	Auto Mode = iota
	Never
	Always
)

// Reader wraps r in the decoder its first bytes call for.
func Reader(r io.Reader, mode Mode) (io.ReadCloser, Format, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	if mode == Never {
		return io.NopCloser(br), Raw, nil
	}
	head, err := br.Peek(6)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, "", fmt.Errorf("read image header: %w", err)
	}
	f := Detect(head)
	if f == Raw && mode == Always {
		return nil, "", fmt.Errorf("first bytes % x: %w", head, ErrNotCompressed)
	}
	rc, err := open(br, f)
	if err != nil {
		return nil, f, fmt.Errorf("%s header: %w", f, err)
	}
	return rc, f, nil
}

func open(br *bufio.Reader, f Format) (io.ReadCloser, error) {
	switch f {
	case Gzip:
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return z, nil
	case Zstd:
		// Images made with --long=31 need the larger window.
		z, err := zstd.NewReader(br, zstd.WithDecoderMaxWindow(1<<31), zstd.WithDecoderConcurrency(0))
		if err != nil {
			return nil, err
		}
		return z.IOReadCloser(), nil
	case XZ:
		z, err := xz.NewReader(br)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(z), nil
	case Bzip2:
		return io.NopCloser(bzip2.NewReader(br)), nil
	}
	return io.NopCloser(br), nil
}
