// Package bootbank reads and writes ESXi bootbanks: the FAT16 partitions
// (5 and 6 on 7.0/8.0) that hold boot.cfg and the modules, marked by the
// "VMWARE FAT16    " magic and a UUID in the volume's second sector.
package bootbank

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// MagicOffset is where the magic sits: byte 512 of the partition (reserved
// sector 1), as esx-boot safeboot/vmfat.c and u-root read it.
const MagicOffset = 512

// Magic marks a FAT volume as an ESXi bootbank; safeboot and u-root skip a
// bank without it.
var Magic = [16]byte{'V', 'M', 'W', 'A', 'R', 'E', ' ', 'F', 'A', 'T', '1', '6', ' ', ' ', ' ', ' '}

// ErrNoMagic means the volume lacks the bootbank magic.
var ErrNoMagic = errors.New("no VMware FAT16 bootbank magic")

// UUID is the 16-byte bank UUID stored after the magic.
type UUID [16]byte

// BootUUID renders the UUID as the bootUUID= kernel option: 32 hex digits
// in stored byte order (esx-boot safeboot/chainload.c).
func (u UUID) BootUUID() string { return hex.EncodeToString(u[:]) }

// VolumeID renders the UUID as ESXi names the volume under /vmfs/volumes:
// %08x-%08x-%04x-%012x from little-endian u32, u32, u16 and 6 raw bytes.
func (u UUID) VolumeID() string {
	le := binary.LittleEndian
	return fmt.Sprintf("%08x-%08x-%04x-%s", le.Uint32(u[0:]), le.Uint32(u[4:]), le.Uint16(u[8:]), hex.EncodeToString(u[10:16]))
}

func (u UUID) String() string { return u.BootUUID() }

// ParseMagic checks the 32 bytes at MagicOffset and returns the UUID.
func ParseMagic(b []byte) (UUID, error) {
	if len(b) < 32 {
		return UUID{}, fmt.Errorf("bootbank magic: %d bytes at byte %d, want 32: %w", len(b), MagicOffset, ErrNoMagic)
	}
	if !bytes.Equal(b[:16], Magic[:]) {
		return UUID{}, fmt.Errorf("bad magic %q at byte %d, want %q: %w", printable(b[:16]), MagicOffset, Magic[:], ErrNoMagic)
	}
	var u UUID
	copy(u[:], b[16:32])
	return u, nil
}

// ReadMagic reads the magic of the volume starting at byte off of r.
func ReadMagic(r io.ReaderAt, off int64) (UUID, error) {
	b := make([]byte, 32)
	if _, err := r.ReadAt(b, off+MagicOffset); err != nil {
		return UUID{}, fmt.Errorf("read bootbank magic at byte %d: %w", off+MagicOffset, err)
	}
	return ParseMagic(b)
}

// WriteMagic stamps the magic and UUID onto the volume at off. The volume
// must have at least two reserved sectors (mkfat guarantees it).
func WriteMagic(w io.WriterAt, off int64, u UUID) error {
	b := make([]byte, 32)
	copy(b, Magic[:])
	copy(b[16:], u[:])
	if _, err := w.WriteAt(b, off+MagicOffset); err != nil {
		return fmt.Errorf("write bootbank magic at byte %d: %w", off+MagicOffset, err)
	}
	return nil
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}
