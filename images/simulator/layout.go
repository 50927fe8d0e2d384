package simulator

import "fmt"

// Partition is one GPT entry of an installed ESXi 7/8 disk.
type Partition struct {
	Index      int    // GPT slot (ESXi uses 1, 5, 6, 7, 8)
	Start, End uint64 // LBAs (512 bytes), inclusive
	Type       string // GPT type GUID
	Name       string // GPT name
	FAT        string // FAT16 label when the installer formats it FAT16
}

// GPT type GUIDs ESXi uses (research/esxi-formats.md §4).
const (
	TypeESP      = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	TypeBootbank = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
	TypeVMFSL    = "4EB2EA39-7855-4790-A79E-FAE495E21F8D"
	TypeVMFS     = "AA31E02A-400F-11DB-9590-000C2911D1B8"
)

const (
	mib       = 2048 // sectors
	gib       = 1024 * mib
	minDisk   = 8 * gib
	osdataMax = 128 * gib // OSDATA ends at most at this LBA
)

// Layout returns the partitions ESXi 7.0/8.0 creates on a disk of size
// bytes: partition 1 BOOT (100 MiB ESP at LBA 64), bootbanks 5 and 6
// (500 MiB, 1 GiB or 4095 MiB for media of 8-10, 10-32 or >= 32 GiB), 7
// OSDATA (the rest, up to LBA 128 GiB) and 8 a VMFS datastore on what is
// left beyond that; partitions 1 MiB-aligned with 1 MiB gaps.
func Layout(size int64) ([]Partition, error) {
	sectors := uint64(size / 512)
	if sectors < minDisk {
		return nil, fmt.Errorf("disk of %d bytes is smaller than the 8 GiB ESXi needs", size)
	}
	lastUsable := sectors - 34 // the backup GPT takes the last 33 sectors
	bank := uint64(4095 * mib)
	switch {
	case sectors < 10*gib:
		bank = 500 * mib
	case sectors < 32*gib:
		bank = 1024 * mib
	}
	p := []Partition{{Index: 1, Start: 64, End: 204863, Type: TypeESP, Name: "BOOT", FAT: "BOOT"}}
	start := uint64(208896)
	p = append(p, Partition{Index: 5, Start: start, End: start + bank - 1, Type: TypeBootbank, Name: "BOOTBANK1", FAT: "BOOTBANK1"})
	start += bank + mib
	p = append(p, Partition{Index: 6, Start: start, End: start + bank - 1, Type: TypeBootbank, Name: "BOOTBANK2", FAT: "BOOTBANK2"})
	start += bank + mib
	end := lastUsable
	if end >= osdataMax {
		end = osdataMax - 1
	}
	p = append(p, Partition{Index: 7, Start: start, End: end, Type: TypeVMFSL, Name: "OSDATA"})
	if ds := end + 1 + mib; ds+gib <= lastUsable {
		p = append(p, Partition{Index: 8, Start: ds, End: lastUsable, Type: TypeVMFS, Name: "datastore1"})
	}
	return p, nil
}
