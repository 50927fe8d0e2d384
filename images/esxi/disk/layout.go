// Package disk models the GPT layout of an installed ESXi disk (6.x and
// 7.0/8.0), identifies it in a raw image or block device, reads and
// writes its bootbanks offline, and writes a complete ESXi-shaped disk
// (Install) in pure Go, so the installer simulator can run it from a
// static /init.
package disk

import (
	"errors"
	"fmt"
)

// Partition type GUIDs ESXi uses (util-linux GPT types, esx-boot).
const (
	TypeESP        = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
	TypeBasicData  = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" // bootbanks, 6.x store and scratch
	TypeVMFSL      = "4EB2EA39-7855-4790-A79E-FAE495E21F8D" // OSDATA / LOCKER (7.0+)
	TypeVMFS       = "AA31E02A-400F-11DB-9590-000C2911D1B8" // datastore
	TypeVMKDiag    = "9D275380-40AD-11DB-BF97-000C2911D1B8" // 6.x core dump
	TypeVMReserved = "9198EFFC-31C0-11DB-8F78-000C2911D1B8"
	TypeVSAN       = "381CFCCC-7288-11E0-92EE-000C2911D0B2"
)

// Family is the layout generation.
type Family string

const (
	Family6 Family = "6.x"   // partitions 1,5,6,7,8,9,2,3 (4 MiB boot, 250 MiB banks)
	Family7 Family = "7.0+"  // partitions 1,5,6,7 and optional 8 (7.0 and 8.0)
	sector         = 512     // ESXi layouts are in 512-byte LBAs
	mib            = 1 << 20 // alignment and gap unit
	gib            = 1 << 30 //
	gb             = 1_000_000_000
)

// Role says what a partition is for.
type Role string

// Partition roles.
const (
	RoleBoot       Role = "boot"      // 1: ESP with safeboot/mboot
	RoleBootbank1  Role = "bootbank1" // 5
	RoleBootbank2  Role = "bootbank2" // 6
	RoleOSData     Role = "osdata"    // 7 on 7.0+ (VMFS-L)
	RoleDatastore  Role = "datastore" // 8 on 7.0+, 3 on 6.x (VMFS)
	RoleDiagnostic Role = "diagnostic"
	RoleStore      Role = "store"   // 6.x partition 8 (FAT16 locker)
	RoleScratch    Role = "scratch" // 6.x partition 2
)

// Partition is one GPT entry of the layout. LBAs are inclusive.
type Partition struct {
	Number   int    `json:"number"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Role     Role   `json:"role"`
	FirstLBA uint64 `json:"first_lba"`
	LastLBA  uint64 `json:"last_lba"`
}

// Offset is the partition's first byte.
func (p Partition) Offset() int64 { return int64(p.FirstLBA) * sector }

// Size is the partition's length in bytes.
func (p Partition) Size() int64 { return int64(p.LastLBA-p.FirstLBA+1) * sector }

// IsFAT says whether the partition holds a FAT16 volume.
func (p Partition) IsFAT() bool {
	switch p.Role {
	case RoleBoot, RoleBootbank1, RoleBootbank2, RoleStore:
		return true
	}
	return false
}

// Layout is a whole disk's partitioning.
type Layout struct {
	Family     Family      `json:"family"`
	DiskBytes  int64       `json:"disk_bytes"`
	Partitions []Partition `json:"partitions"`
}

// Part returns partition number n.
func (l Layout) Part(n int) (Partition, bool) {
	for _, p := range l.Partitions {
		if p.Number == n {
			return p, true
		}
	}
	return Partition{}, false
}

// ByRole returns the first partition with role r.
func (l Layout) ByRole(r Role) (Partition, bool) {
	for _, p := range l.Partitions {
		if p.Role == r {
			return p, true
		}
	}
	return Partition{}, false
}

// Banks lists the bootbank partitions (5 and 6).
func (l Layout) Banks() []Partition {
	var out []Partition
	for _, r := range []Role{RoleBootbank1, RoleBootbank2} {
		if p, ok := l.ByRole(r); ok {
			out = append(out, p)
		}
	}
	return out
}

// Options tune Plan; the zero value follows ESXi's own rules.
type Options struct {
	// SystemMediaSize mirrors the boot option: "min", "small", "default"
	// (or "") and "max". It sets where OSDATA ends: 32, 64 or 128 GiB from
	// the disk start, or the disk end. Only "default" is confirmed by a
	// real partition table; min/small are inferred from VMware's 33/69 GB.
	SystemMediaSize string
	// BootbankSize overrides the bank size (a MiB multiple). Zero picks
	// ESXi's rule: 500 MiB below 10 GB media, 1 GiB below 32 GB, else
	// 4095 MiB. Small test fixtures set it.
	BootbankSize int64
	// OSDataSize overrides OSDATA's size (autoPartitionOSDataSize), a MiB
	// multiple.
	OSDataSize int64
	// NoDatastore leaves the rest of the disk unpartitioned (--novmfsondisk).
	NoDatastore bool
	// DatastoreName is partition 8's GPT name; "datastore1" if empty.
	DatastoreName string
	// OSDataName is partition 7's GPT name; "OSDATA" if empty (ESXi
	// names it LOCKER on some SD/USB installs).
	OSDataName string
	// MinDatastore is the least space worth a datastore; 4 GiB if zero
	// (ESXi: a datastore only on media over 142 GB with default sizing).
	MinDatastore int64
}

// ErrTooSmall is returned when the disk cannot hold the layout.
var ErrTooSmall = errors.New("disk too small for an ESXi layout")

// nextStart is where ESXi starts the partition after one ending at
// lastLBA: the next MiB boundary plus a 1 MiB gap (all real 7.0 tables).
func nextStart(lastLBA uint64) uint64 {
	const m = mib / sector
	return (lastLBA+1+m-1)/m*m + m
}

// Plan computes the layout for a disk of diskBytes.
func Plan(fam Family, diskBytes int64, opt Options) (Layout, error) {
	if diskBytes%sector != 0 {
		return Layout{}, fmt.Errorf("disk size %d is not a multiple of %d", diskBytes, sector)
	}
	total := uint64(diskBytes / sector)
	if total < 2048+68 {
		return Layout{}, fmt.Errorf("%d-byte disk: %w", diskBytes, ErrTooSmall)
	}
	lastUsable := total - 34
	minDS := opt.MinDatastore
	if minDS == 0 {
		minDS = 4 * gib
	}
	dsName := opt.DatastoreName
	if dsName == "" {
		dsName = "datastore1"
	}
	l := Layout{Family: fam, DiskBytes: diskBytes}
	add := func(n int, name, typ string, role Role, first, last uint64) error {
		if last > lastUsable || first > last {
			return fmt.Errorf("partition %d (%s) would end at LBA %d, last usable is %d: %w", n, role, last, lastUsable, ErrTooSmall)
		}
		l.Partitions = append(l.Partitions, Partition{Number: n, Name: name, Type: typ, Role: role, FirstLBA: first, LastLBA: last})
		return nil
	}
	switch fam {
	case Family6:
		// 6.0 on 16 GiB (partedUtil getptbl): fixed offsets, VMFS gets the rest.
		fixed := []Partition{
			{1, "", TypeESP, RoleBoot, 64, 8191},
			{5, "", TypeBasicData, RoleBootbank1, 8224, 520191},
			{6, "", TypeBasicData, RoleBootbank2, 520224, 1032191},
			{7, "", TypeVMKDiag, RoleDiagnostic, 1032224, 1257471},
			{8, "", TypeBasicData, RoleStore, 1257504, 1843199},
			{9, "", TypeVMKDiag, RoleDiagnostic, 1843200, 7086079},
			{2, "", TypeBasicData, RoleScratch, 7086080, 15472639},
		}
		for _, p := range fixed {
			if err := add(p.Number, p.Name, p.Type, p.Role, p.FirstLBA, p.LastLBA); err != nil {
				return Layout{}, err
			}
		}
		if first := uint64(15472640); !opt.NoDatastore && first <= lastUsable && int64(lastUsable-first+1)*sector >= minDS {
			_ = add(3, "", TypeVMFS, RoleDatastore, first, lastUsable)
		}
		return l, nil
	case Family7:
	default:
		return Layout{}, fmt.Errorf("unknown layout family %q, want %q or %q", fam, Family6, Family7)
	}

	if err := add(1, "BOOT", TypeESP, RoleBoot, 64, 204863); err != nil {
		return Layout{}, err
	}
	bank := opt.BootbankSize
	if bank == 0 {
		switch {
		case diskBytes < 8*gb:
			return Layout{}, fmt.Errorf("%d-byte disk is below ESXi's 8 GB minimum (set Options.BootbankSize for a test fixture): %w", diskBytes, ErrTooSmall)
		case diskBytes < 10*gb:
			bank = 500 * mib
		case diskBytes < 32*gb:
			bank = 1024 * mib
		default:
			bank = 4095 * mib
		}
	}
	if bank%mib != 0 || bank <= 0 {
		return Layout{}, fmt.Errorf("bootbank size %d: want a positive multiple of 1 MiB", bank)
	}
	s5 := nextStart(204863)
	e5 := s5 + uint64(bank/sector) - 1
	if err := add(5, "BOOTBANK1", TypeBasicData, RoleBootbank1, s5, e5); err != nil {
		return Layout{}, err
	}
	s6 := nextStart(e5)
	e6 := s6 + uint64(bank/sector) - 1
	if err := add(6, "BOOTBANK2", TypeBasicData, RoleBootbank2, s6, e6); err != nil {
		return Layout{}, err
	}
	s7 := nextStart(e6)
	var e7 uint64
	switch {
	case opt.OSDataSize > 0:
		if opt.OSDataSize%mib != 0 {
			return Layout{}, fmt.Errorf("OSDATA size %d: want a multiple of 1 MiB", opt.OSDataSize)
		}
		e7 = s7 + uint64(opt.OSDataSize/sector) - 1
	default:
		var end int64
		switch opt.SystemMediaSize {
		case "min":
			end = 32 * gib
		case "small":
			end = 64 * gib
		case "", "default":
			end = 128 * gib
		case "max":
			end = 0
		default:
			return Layout{}, fmt.Errorf("systemMediaSize %q: want min, small, default or max", opt.SystemMediaSize)
		}
		e7 = lastUsable
		if end > 0 && uint64(end/sector)-1 < lastUsable {
			e7 = uint64(end/sector) - 1
		}
	}
	osName := opt.OSDataName
	if osName == "" {
		osName = "OSDATA"
	}
	if err := add(7, osName, TypeVMFSL, RoleOSData, s7, e7); err != nil {
		return Layout{}, err
	}
	if s8 := nextStart(e7); !opt.NoDatastore && s8 <= lastUsable && int64(lastUsable-s8+1)*sector >= minDS {
		_ = add(8, dsName, TypeVMFS, RoleDatastore, s8, lastUsable)
	}
	return l, nil
}
