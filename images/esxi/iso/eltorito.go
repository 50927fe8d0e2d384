package iso

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const blockSize = 2048

// ErrNoElTorito means the ISO has no El Torito boot record.
var ErrNoElTorito = errors.New("no El Torito boot record")

// BootEntry is one El Torito boot catalog entry.
type BootEntry struct {
	Platform    string `json:"platform"` // "bios", "efi" or hex id
	Bootable    bool   `json:"bootable"`
	Emulation   string `json:"emulation"` // "none", "floppy-1.2", ...
	LoadSegment uint16 `json:"load_segment,omitempty"`
	LoadSectors uint16 `json:"load_sectors"` // 512-byte sectors
	LBA         uint32 `json:"lba"`          // 2048-byte block of the image
	File        string `json:"file,omitempty"`
	BootTable   bool   `json:"boot_info_table"` // a boot-info-table is patched into the image
}

func platformName(id byte) string {
	switch id {
	case 0x00:
		return "bios"
	case 0xEF:
		return "efi"
	}
	return fmt.Sprintf("0x%02x", id)
}

func emulationName(m byte) string {
	switch m & 0x0F {
	case 0:
		return "none"
	case 1:
		return "floppy-1.2"
	case 2:
		return "floppy-1.44"
	case 3:
		return "floppy-2.88"
	case 4:
		return "hard-disk"
	}
	return fmt.Sprintf("0x%02x", m)
}

// ReadElTorito reads the boot record volume descriptor (block 17 onwards)
// and the boot catalog it points to.
func ReadElTorito(r io.ReaderAt, size int64) ([]BootEntry, error) {
	for blk := int64(17); blk < 32; blk++ {
		vd := make([]byte, blockSize)
		if _, err := r.ReadAt(vd, blk*blockSize); err != nil {
			return nil, fmt.Errorf("read volume descriptor at block %d: %w", blk, err)
		}
		if string(vd[1:6]) != "CD001" {
			return nil, fmt.Errorf("volume descriptor at block %d: identifier %q, want \"CD001\"", blk, vd[1:6])
		}
		switch vd[0] {
		case 255:
			return nil, ErrNoElTorito
		case 0:
			if string(vd[7:30]) != "EL TORITO SPECIFICATION" {
				continue
			}
			lba := binary.LittleEndian.Uint32(vd[71:])
			if int64(lba+1)*blockSize > size {
				return nil, fmt.Errorf("el torito boot catalog at block %d is beyond the %d-byte image", lba, size)
			}
			cat := make([]byte, blockSize)
			if _, err := r.ReadAt(cat, int64(lba)*blockSize); err != nil {
				return nil, fmt.Errorf("read boot catalog at block %d: %w", lba, err)
			}
			return ParseBootCatalog(cat)
		}
	}
	return nil, ErrNoElTorito
}

// ParseBootCatalog parses a 2048-byte El Torito boot catalog: the
// validation entry, the initial/default entry, then section headers
// (0x90, last 0x91) each followed by their entries.
func ParseBootCatalog(b []byte) ([]BootEntry, error) {
	if len(b) < 64 {
		return nil, fmt.Errorf("boot catalog: %d bytes, want at least 64", len(b))
	}
	v := b[:32]
	if v[0] != 0x01 || v[30] != 0x55 || v[31] != 0xAA {
		return nil, fmt.Errorf("boot catalog validation entry: header %#02x key %#02x%02x, want 0x01 and 0x55aa", v[0], v[30], v[31])
	}
	var sum uint16
	for i := 0; i < 32; i += 2 {
		sum += binary.LittleEndian.Uint16(v[i:])
	}
	if sum != 0 {
		return nil, fmt.Errorf("boot catalog validation entry: checksum %#04x, want 0", sum)
	}
	entry := func(e []byte, platform byte) BootEntry {
		return BootEntry{
			Platform:    platformName(platform),
			Bootable:    e[0] == 0x88,
			Emulation:   emulationName(e[1]),
			LoadSegment: binary.LittleEndian.Uint16(e[2:]),
			LoadSectors: binary.LittleEndian.Uint16(e[6:]),
			LBA:         binary.LittleEndian.Uint32(e[8:]),
		}
	}
	out := []BootEntry{entry(b[32:64], v[1])}
	for off := 64; off+32 <= len(b); {
		h := b[off : off+32]
		if h[0] != 0x90 && h[0] != 0x91 {
			break
		}
		n := int(binary.LittleEndian.Uint16(h[2:]))
		off += 32
		for i := 0; i < n; i++ {
			if off+32 > len(b) {
				return nil, fmt.Errorf("boot catalog: section of %d entries runs past the catalog", n)
			}
			e := b[off : off+32]
			if e[0] == 0x44 { // extension entry, not a boot entry
				off += 32
				i--
				continue
			}
			out = append(out, entry(e, h[1]))
			off += 32
		}
		if h[0] == 0x91 {
			break
		}
	}
	return out, nil
}
