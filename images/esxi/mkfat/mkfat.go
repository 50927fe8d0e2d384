// Package mkfat creates empty FAT16 file systems in pure Go.
//
// It exists because go-diskfs v1.9.4 refuses FAT16 volumes over 2047 MiB
// (it never uses 64 KiB clusters), yet ESXi bootbanks are 4095 MiB FAT16,
// and the installer simulator must format a disk from a static /init with
// no mkfs.fat on hand. The layout matches `mkfs.fat -F 16 -s 128 -S 512
// -h <startLBA>` for a 4095 MiB bank (64 KiB clusters, 128 reserved
// sectors, 2048 root entries, hidden sectors = start LBA), and scales the
// cluster size down for smaller volumes. Files are then written with
// go-diskfs.
package mkfat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const sectorSize = 512

// Limits of FAT16 by cluster count (Microsoft FAT spec); outside them the
// volume would be FAT12 or FAT32 to every reader.
const (
	minClusters = 4085
	maxClusters = 65524
)

// Options describe the volume. Zero values pick the defaults noted.
type Options struct {
	Label         string // up to 11 characters, upper-cased; "NO NAME" if empty
	VolumeID      uint32 // serial number; set it for reproducible images
	HiddenSectors uint32 // the partition's start LBA, as mkfs.fat -h records it
	OEMName       string // 8 characters; "ESXIGOLD" if empty
}

// Geometry is the layout Format chose; bootbank uses it for free-space
// accounting.
type Geometry struct {
	TotalSectors      uint32
	SectorsPerCluster uint32
	ReservedSectors   uint32
	SectorsPerFAT     uint32
	RootEntries       uint32
	Clusters          uint32
}

// ClusterBytes is the allocation unit in bytes.
func (g Geometry) ClusterBytes() int64 { return int64(g.SectorsPerCluster) * sectorSize }

// DataStart is the byte offset of cluster 2 from the volume start.
func (g Geometry) DataStart() int64 {
	return int64(g.ReservedSectors+2*g.SectorsPerFAT+g.RootEntries*32/sectorSize) * sectorSize
}

// ErrSize is returned for sizes FAT16 cannot hold.
var ErrSize = errors.New("size out of FAT16 range")

// Plan computes the geometry for a volume of size bytes.
func Plan(size int64) (Geometry, error) {
	total := size / sectorSize
	if total > 0xFFFFFFFF || total < 8 {
		return Geometry{}, fmt.Errorf("fat16 volume of %d bytes: %w", size, ErrSize)
	}
	for spc := uint32(1); spc <= 128; spc *= 2 {
		g := Geometry{TotalSectors: uint32(total), SectorsPerCluster: spc}
		// Reserved sectors: a whole cluster keeps the data area aligned (as
		// mkfs.fat does), and at least 2 because sector 1 holds ESXi's
		// "VMWARE FAT16" magic.
		g.ReservedSectors = max(spc, 2)
		rootSectors := max(uint32(32), spc) // 512 entries, or a whole cluster
		g.RootEntries = rootSectors * sectorSize / 32
		fat := uint32(1)
		for range 16 {
			meta := g.ReservedSectors + 2*fat + rootSectors
			if meta >= g.TotalSectors {
				break
			}
			clusters := (g.TotalSectors - meta) / spc
			need := ceilDiv((clusters+2)*2, sectorSize)
			need = ceilDiv(need, spc) * spc
			if need == fat {
				g.SectorsPerFAT = fat
				g.Clusters = clusters
				break
			}
			fat = need
		}
		if g.SectorsPerFAT == 0 {
			continue
		}
		if g.Clusters > maxClusters {
			continue
		}
		if g.Clusters < minClusters {
			return Geometry{}, fmt.Errorf("fat16 volume of %d bytes has %d clusters, want at least %d: %w", size, g.Clusters, minClusters, ErrSize)
		}
		return g, nil
	}
	return Geometry{}, fmt.Errorf("fat16 volume of %d bytes needs clusters over 64 KiB: %w", size, ErrSize)
}

func ceilDiv(a, b uint32) uint32 { return (a + b - 1) / b }

// Format writes an empty FAT16 file system of size bytes at byte offset off
// of w. It writes every metadata sector (reserved area, both FATs, root
// directory) so that old content on a block device cannot show through; the
// data area is left as is.
func Format(w io.WriterAt, off, size int64, opt Options) (Geometry, error) {
	g, err := Plan(size)
	if err != nil {
		return g, err
	}
	label := opt.Label
	if label == "" {
		label = "NO NAME"
	}
	if len(label) > 11 {
		return g, fmt.Errorf("fat16 label %q: longer than 11 characters", label)
	}
	lbl := pad(upper(label), 11)
	oem := opt.OEMName
	if oem == "" {
		oem = "ESXIGOLD"
	}

	meta := make([]byte, g.DataStart())
	bs := meta[:sectorSize]
	copy(bs[0:3], []byte{0xEB, 0x3C, 0x90})
	copy(bs[3:11], pad(oem, 8))
	le := binary.LittleEndian
	le.PutUint16(bs[11:], sectorSize)
	bs[13] = byte(g.SectorsPerCluster)
	le.PutUint16(bs[14:], uint16(g.ReservedSectors))
	bs[16] = 2 // FATs
	le.PutUint16(bs[17:], uint16(g.RootEntries))
	if g.TotalSectors < 0x10000 {
		le.PutUint16(bs[19:], uint16(g.TotalSectors))
	} else {
		le.PutUint32(bs[32:], g.TotalSectors)
	}
	bs[21] = 0xF8 // fixed disk
	le.PutUint16(bs[22:], uint16(g.SectorsPerFAT))
	le.PutUint16(bs[24:], 63)  // sectors per track, as mkfs.fat
	le.PutUint16(bs[26:], 255) // heads
	le.PutUint32(bs[28:], opt.HiddenSectors)
	bs[36] = 0x80 // drive number
	bs[38] = 0x29 // extended boot signature
	le.PutUint32(bs[39:], opt.VolumeID)
	copy(bs[43:54], lbl)
	copy(bs[54:62], "FAT16   ")
	// Boot code: not bootable; halt forever if a BIOS ever jumps here.
	copy(bs[62:], []byte{0xFA, 0xF4, 0xEB, 0xFD})
	bs[510], bs[511] = 0x55, 0xAA

	fatOff := int64(g.ReservedSectors) * sectorSize
	fatLen := int64(g.SectorsPerFAT) * sectorSize
	for i := range int64(2) {
		f := meta[fatOff+i*fatLen:]
		le.PutUint16(f[0:], 0xFFF8) // media descriptor entry
		le.PutUint16(f[2:], 0xFFFF) // clean-shutdown / no-error bits set
	}
	root := meta[fatOff+2*fatLen:]
	copy(root[0:11], lbl)
	root[11] = 0x08 // volume label attribute
	// Fixed timestamp (2020-01-01 00:00) keeps images reproducible.
	le.PutUint16(root[22:], 0)
	le.PutUint16(root[24:], (2020-1980)<<9|1<<5|1)

	if _, err := w.WriteAt(meta, off); err != nil {
		return g, fmt.Errorf("fat16: write metadata at offset %d: %w", off, err)
	}
	return g, nil
}

// ReadGeometry parses the boot sector of a FAT16 volume at off and checks
// that it describes one (sector size 512, two FATs, a FAT16 cluster count),
// so callers can trust the cluster count for free-space checks.
func ReadGeometry(r io.ReaderAt, off int64) (Geometry, error) {
	bs := make([]byte, sectorSize)
	if _, err := r.ReadAt(bs, off); err != nil {
		return Geometry{}, fmt.Errorf("fat16: read boot sector at offset %d: %w", off, err)
	}
	return ParseBootSector(bs)
}

// ParseBootSector is ReadGeometry over the 512 bytes of a boot sector.
func ParseBootSector(bs []byte) (Geometry, error) {
	if len(bs) < sectorSize {
		return Geometry{}, fmt.Errorf("fat16 boot sector: %d bytes, want %d", len(bs), sectorSize)
	}
	le := binary.LittleEndian
	if bs[510] != 0x55 || bs[511] != 0xAA {
		return Geometry{}, fmt.Errorf("fat16 boot sector: signature %02x%02x at byte 510, want 55aa", bs[510], bs[511])
	}
	if v := le.Uint16(bs[11:]); v != sectorSize {
		return Geometry{}, fmt.Errorf("fat16 boot sector: %d bytes per sector, want 512", v)
	}
	g := Geometry{
		SectorsPerCluster: uint32(bs[13]),
		ReservedSectors:   uint32(le.Uint16(bs[14:])),
		RootEntries:       uint32(le.Uint16(bs[17:])),
		SectorsPerFAT:     uint32(le.Uint16(bs[22:])),
		TotalSectors:      uint32(le.Uint16(bs[19:])),
	}
	if g.TotalSectors == 0 {
		g.TotalSectors = le.Uint32(bs[32:])
	}
	spc := g.SectorsPerCluster
	if spc == 0 || spc&(spc-1) != 0 || spc > 128 {
		return Geometry{}, fmt.Errorf("fat16 boot sector: %d sectors per cluster, want a power of two up to 128", spc)
	}
	if bs[16] != 2 {
		return Geometry{}, fmt.Errorf("fat16 boot sector: %d FATs, want 2", bs[16])
	}
	if g.ReservedSectors == 0 || g.SectorsPerFAT == 0 || g.RootEntries == 0 || g.RootEntries*32%sectorSize != 0 {
		return Geometry{}, fmt.Errorf("fat16 boot sector: reserved %d, sectors per FAT %d, root entries %d: want non-zero, whole root sectors", g.ReservedSectors, g.SectorsPerFAT, g.RootEntries)
	}
	meta := uint64(g.ReservedSectors) + 2*uint64(g.SectorsPerFAT) + uint64(g.RootEntries*32/sectorSize)
	if meta >= uint64(g.TotalSectors) {
		return Geometry{}, fmt.Errorf("fat16 boot sector: metadata %d sectors fills the %d-sector volume", meta, g.TotalSectors)
	}
	g.Clusters = (g.TotalSectors - uint32(meta)) / spc
	if g.Clusters < minClusters || g.Clusters > maxClusters {
		return Geometry{}, fmt.Errorf("fat16 boot sector: %d clusters, want %d..%d for FAT16", g.Clusters, minClusters, maxClusters)
	}
	if uint64(g.SectorsPerFAT)*sectorSize/2 < uint64(g.Clusters)+2 {
		return Geometry{}, fmt.Errorf("fat16 boot sector: FAT of %d sectors too small for %d clusters", g.SectorsPerFAT, g.Clusters)
	}
	return g, nil
}

// FreeClusters counts free entries of the first FAT among the volume's real
// clusters (2 .. Clusters+1). It ignores the FAT's slack entries beyond the
// last cluster, which go-diskfs v1.9.4 wrongly treats as free.
func FreeClusters(r io.ReaderAt, off int64, g Geometry) (uint32, error) {
	fat := make([]byte, int64(g.SectorsPerFAT)*sectorSize)
	if _, err := r.ReadAt(fat, off+int64(g.ReservedSectors)*sectorSize); err != nil {
		return 0, fmt.Errorf("fat16: read FAT: %w", err)
	}
	var free uint32
	for c := uint32(2); c < g.Clusters+2; c++ {
		if binary.LittleEndian.Uint16(fat[2*c:]) == 0 {
			free++
		}
	}
	return free, nil
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func pad(s string, n int) []byte {
	b := []byte(s)
	for len(b) < n {
		b = append(b, ' ')
	}
	return b[:n]
}

// FreeChain marks the given clusters free in both FATs. Clusters outside
// the volume are an error and nothing is written.
func FreeChain(rw interface {
	io.ReaderAt
	io.WriterAt
}, off int64, g Geometry, chain []uint32) error {
	if len(chain) == 0 {
		return nil
	}
	fatLen := int64(g.SectorsPerFAT) * sectorSize
	fat := make([]byte, fatLen)
	fatOff := off + int64(g.ReservedSectors)*sectorSize
	if _, err := rw.ReadAt(fat, fatOff); err != nil {
		return fmt.Errorf("fat16: read FAT: %w", err)
	}
	for _, c := range chain {
		if c < 2 || c >= g.Clusters+2 {
			return fmt.Errorf("fat16: cluster %d outside 2..%d", c, g.Clusters+1)
		}
		binary.LittleEndian.PutUint16(fat[2*c:], 0)
	}
	for i := range int64(2) {
		if _, err := rw.WriteAt(fat, fatOff+i*fatLen); err != nil {
			return fmt.Errorf("fat16: write FAT %d: %w", i+1, err)
		}
	}
	return nil
}
