// Package bmap writes block maps in bmaptool's format 2.0 (the XML that
// `bmaptool copy --bmap` reads), so the same published .img.zst can be
// flashed with bmaptool, which then writes only the mapped blocks and
// checks each range's sha256.
//
// Our map lists the image's data chunks: one range per chunk, whose
// checksum is the chunk's sha256 from the manifest. Zero chunks are
// unmapped, so bmaptool skips them like holes; as with any bmap, the
// target must already read as zeros there (a new file does; a reused disk
// needs zeroing, see bmaptool(1)).
package bmap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
)

// Version is the bmap format version we write.
const Version = "2.0"

// BlockSize is the block size of our maps; chunk sizes are multiples of it.
const BlockSize = format.BlockAlign

// Range is an inclusive run of mapped blocks with the sha256 of its bytes
// (up to the image end for the last block).
type Range struct {
	First, Last int64
	SHA256      [32]byte
}

// Map is a block map of an image.
type Map struct {
	ImageSize int64
	BlockSize int64
	Ranges    []Range
}

// FromManifest maps every data chunk of m.
func FromManifest(m *format.Manifest) *Map {
	bm := &Map{ImageSize: m.Image.Size, BlockSize: BlockSize}
	for _, s := range m.Spans() {
		if s.Zero {
			continue
		}
		bm.Ranges = append(bm.Ranges, Range{
			First:  s.RawOffset / BlockSize,
			Last:   (s.RawOffset + s.RawSize - 1) / BlockSize,
			SHA256: s.SHA256,
		})
	}
	return bm
}

func (m *Map) blocks() int64 { return (m.ImageSize + m.BlockSize - 1) / m.BlockSize }

func (m *Map) mapped() int64 {
	var n int64
	for _, r := range m.Ranges {
		n += r.Last - r.First + 1
	}
	return n
}

// humanSize prints sizes the way bmaptool's comments do.
func humanSize(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	u := 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	return fmt.Sprintf("%.1f %s", f, units[u])
}

// checksumPlaceholder stands for BmapFileChecksum while the file's own
// checksum is computed, as the format requires.
var checksumPlaceholder = strings.Repeat("0", 64)

// Marshal returns the bmap file. Ranges must be in increasing order,
// within the image and not overlapping.
func (m *Map) Marshal() ([]byte, error) {
	if m.ImageSize <= 0 || m.BlockSize <= 0 {
		return nil, fmt.Errorf("bmap: image size %d, block size %d: both must be positive", m.ImageSize, m.BlockSize)
	}
	next := int64(0)
	for i, r := range m.Ranges {
		if r.First < next || r.Last < r.First || r.Last >= m.blocks() {
			return nil, fmt.Errorf("bmap: range %d (blocks %d-%d) is out of order or outside the %d blocks of the image", i, r.First, r.Last, m.blocks())
		}
		next = r.Last + 1
	}
	mapped := m.mapped()
	var b bytes.Buffer
	fmt.Fprintf(&b, `<?xml version="1.0" ?>
<!-- Block map of an image: only the listed (mapped) blocks hold data and need
     to be written; see bmaptool(1). Written by packer-plugin-esxi from the
     image's signed manifest: one range per non-zero chunk. -->

<bmap version="%s">
    <!-- Image size in bytes: %s -->
    <ImageSize> %d </ImageSize>

    <!-- Size of a block in bytes -->
    <BlockSize> %d </BlockSize>

    <!-- Count of blocks in the image file -->
    <BlocksCount> %d </BlocksCount>

    <!-- Count of mapped blocks: %s or %.1f%% -->
    <MappedBlocksCount> %d </MappedBlocksCount>

    <!-- Type of checksum used in this file -->
    <ChecksumType> sha256 </ChecksumType>

    <!-- The checksum of this bmap file. When it is calculated, the value of
         the checksum has be zero (all ASCII "0" symbols).  -->
    <BmapFileChecksum> `, Version, humanSize(m.ImageSize), m.ImageSize, m.BlockSize, m.blocks(),
		humanSize(mapped*m.BlockSize), float64(mapped)*100/float64(m.blocks()), mapped)
	sumAt := b.Len()
	b.WriteString(checksumPlaceholder)
	b.WriteString(` </BmapFileChecksum>

    <!-- The block map which consists of elements which may either be a
         range of blocks or a single block. The 'chksum' attribute
         (if present) is the checksum of this blocks range. -->
    <BlockMap>
`)
	for _, r := range m.Ranges {
		if r.First == r.Last {
			fmt.Fprintf(&b, "        <Range chksum=\"%x\"> %d </Range>\n", r.SHA256, r.First)
		} else {
			fmt.Fprintf(&b, "        <Range chksum=\"%x\"> %d-%d </Range>\n", r.SHA256, r.First, r.Last)
		}
	}
	b.WriteString("    </BlockMap>\n</bmap>\n")
	out := b.Bytes()
	sum := sha256.Sum256(out)
	hex.Encode(out[sumAt:sumAt+64], sum[:])
	return out, nil
}
