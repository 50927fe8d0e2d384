package disk

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootbank"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/mkfat"
)

// File is one file to place on a FAT volume.
type File struct {
	Name string // absolute path, e.g. "/b.b00" or "/EFI/BOOT/BOOTX64.EFI"
	Data []byte
}

// BankSpec is the content of one bootbank.
type BankSpec struct {
	// Files in write order: modules, state.tgz, onetime.tgz, markers.
	Files []File
	// BootCfg is written as /boot.cfg after every other file, so a bank
	// interrupted mid-write has no boot.cfg and safeboot skips it. Nil
	// leaves the bank without one (an empty altbootbank).
	BootCfg *bootcfg.Config
}

// Spec describes a whole installed disk.
type Spec struct {
	Family  Family  // Family7 for 7.0 and 8.0
	Options Options // layout sizing; see Plan
	// Seed makes GUIDs, FAT serials and bank UUIDs deterministic (for
	// fixtures); nil draws them from crypto/rand as the installer does.
	Seed []byte
	// MBRBootCode is written to bytes 0-439 (ESXi uses syslinux gptmbr.bin);
	// nil leaves them zero.
	MBRBootCode []byte
	Boot        []File    // partition 1 (safeboot, mboot, EFI/BOOT/BOOTX64.EFI ...)
	Bank1       BankSpec  // partition 5
	Bank2       *BankSpec // partition 6; nil = formatted, stamped, empty
	// ModTime stamps every file written; zero uses the current time, or a
	// fixed date when Seed is set (so the same spec gives the same bytes).
	ModTime time.Time
}

// ErrVerify is returned when the written disk does not read back as
// specified.
var ErrVerify = errors.New("installed disk failed verification")

// Install writes an ESXi-shaped installed disk onto f (a regular file of
// the final size, or a block device), in pure Go. Order, after
// coreos-installer: the first MiB and the backup GPT are wiped first, so
// an interrupted install never looks like a disk; partitions are
// formatted and filled; everything is synced; the GPT goes on last; the
// result is read back and checked.
func Install(f *os.File, spec Spec) (Layout, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return Layout{}, fmt.Errorf("install: disk size: %w", err)
	}
	if len(spec.MBRBootCode) > 440 {
		return Layout{}, fmt.Errorf("install: MBR boot code is %d bytes, want at most 440", len(spec.MBRBootCode))
	}
	l, err := Plan(spec.Family, size, spec.Options)
	if err != nil {
		return Layout{}, fmt.Errorf("install: %w", err)
	}
	ids := newIDs(spec.Seed)
	mtime := spec.ModTime
	if mtime.IsZero() && spec.Seed != nil {
		mtime = time.Date(2024, 6, 25, 0, 0, 0, 0, time.UTC)
	}

	// 1. Wipe the first MiB and the last 33 sectors (backup GPT).
	if _, err := f.WriteAt(make([]byte, mib), 0); err != nil {
		return Layout{}, fmt.Errorf("install: wipe first MiB: %w", err)
	}
	if _, err := f.WriteAt(make([]byte, 33*sector), size-33*sector); err != nil {
		return Layout{}, fmt.Errorf("install: wipe backup GPT: %w", err)
	}

	// 2. Format and fill each partition.
	bankUUIDs := map[int]bootbank.UUID{}
	for _, p := range l.Partitions {
		if !p.IsFAT() {
			// VMFS-L/VMFS/diagnostic: wipe the start so no stale signature
			// survives; ESXi formats them on first boot.
			if _, err := f.WriteAt(make([]byte, min(mib, p.Size())), p.Offset()); err != nil {
				return Layout{}, fmt.Errorf("install: wipe partition %d: %w", p.Number, err)
			}
			continue
		}
		label := map[Role]string{RoleBoot: "BOOT", RoleBootbank1: "BOOTBANK1", RoleBootbank2: "BOOTBANK2", RoleStore: "STORE"}[p.Role]
		if _, err := mkfat.Format(f, p.Offset(), p.Size(), mkfat.Options{Label: label, VolumeID: ids.u32(), HiddenSectors: uint32(p.FirstLBA)}); err != nil {
			return Layout{}, fmt.Errorf("install: format partition %d: %w", p.Number, err)
		}
		if p.Role == RoleBootbank1 || p.Role == RoleBootbank2 {
			u := bootbank.UUID(ids.uuid())
			bankUUIDs[p.Number] = u
			if err := bootbank.WriteMagic(f, p.Offset(), u); err != nil {
				return Layout{}, fmt.Errorf("install: partition %d: %w", p.Number, err)
			}
		}
	}
	fill := func(n int, files []File, cfg *bootcfg.Config, long bool) error {
		p, _ := l.Part(n)
		v, err := bootbank.Open(f, p.Offset(), p.Size(), true, fmt.Sprintf("partition %d", n))
		if err != nil {
			return err
		}
		if long {
			v.AllowLongNames()
		}
		v.SetModTime(mtime)
		for _, file := range files {
			if err := v.WriteFile(file.Name, file.Data); err != nil {
				return err
			}
		}
		if cfg != nil {
			return v.WriteBootCfg(cfg)
		}
		return nil
	}
	if err := fill(1, spec.Boot, nil, true); err != nil {
		return Layout{}, fmt.Errorf("install: %w", err)
	}
	if err := fill(5, spec.Bank1.Files, spec.Bank1.BootCfg, false); err != nil {
		return Layout{}, fmt.Errorf("install: %w", err)
	}
	if spec.Bank2 != nil {
		if err := fill(6, spec.Bank2.Files, spec.Bank2.BootCfg, false); err != nil {
			return Layout{}, fmt.Errorf("install: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return Layout{}, fmt.Errorf("install: sync: %w", err)
	}

	// 3. The partition table last.
	t := &gpt.Table{LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true, GUID: ids.guid()}
	for _, p := range l.Partitions {
		t.Partitions = append(t.Partitions, &gpt.Partition{Index: p.Number, Start: p.FirstLBA, End: p.LastLBA, Type: gpt.Type(p.Type), Name: p.Name, GUID: ids.guid()})
	}
	w, err := file.New(f, false).Writable()
	if err != nil {
		return Layout{}, fmt.Errorf("install: %w", err)
	}
	if err := t.Write(w, size); err != nil {
		return Layout{}, fmt.Errorf("install: write GPT: %w", err)
	}
	if len(spec.MBRBootCode) > 0 {
		if _, err := f.WriteAt(spec.MBRBootCode, 0); err != nil {
			return Layout{}, fmt.Errorf("install: write MBR boot code: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return Layout{}, fmt.Errorf("install: sync: %w", err)
	}

	// 4. Read back.
	if err := verify(f, size, l, spec, bankUUIDs); err != nil {
		return Layout{}, fmt.Errorf("install: %w: %v", ErrVerify, err)
	}
	return l, nil
}

func verify(f *os.File, size int64, want Layout, spec Spec, uuids map[int]bootbank.UUID) error {
	d, err := FromFile(f, "disk", false)
	if err != nil {
		return err
	}
	if len(d.Layout.Partitions) != len(want.Partitions) {
		return fmt.Errorf("read back %d partitions, wrote %d", len(d.Layout.Partitions), len(want.Partitions))
	}
	for _, p := range want.Partitions {
		got, ok := d.Layout.Part(p.Number)
		if !ok || got.FirstLBA != p.FirstLBA || got.LastLBA != p.LastLBA || got.Type != p.Type {
			return fmt.Errorf("partition %d reads back as %+v, wrote %+v", p.Number, got, p)
		}
	}
	for n, u := range uuids {
		v, err := d.Volume(n)
		if err != nil {
			return err
		}
		if got, err := v.UUID(); err != nil || got != u {
			return fmt.Errorf("bank %d uuid %v %v", n, got, err)
		}
	}
	if spec.Bank1.BootCfg != nil {
		v, err := d.Volume(5)
		if err != nil {
			return err
		}
		got, err := v.ReadFile("/boot.cfg")
		if err != nil {
			return err
		}
		if !bytes.Equal(got, spec.Bank1.BootCfg.Bytes()) {
			return fmt.Errorf("bank 5 boot.cfg differs from what was written")
		}
	}
	return nil
}

// ids hands out GUIDs and serials: from a hash chain of the seed when
// one is given, else random.
type ids struct {
	seed []byte
	n    uint64
}

func newIDs(seed []byte) *ids { return &ids{seed: seed} }

func (g *ids) next() [16]byte {
	var out [16]byte
	if g.seed == nil {
		_, _ = rand.Read(out[:])
		return out
	}
	g.n++
	h := sha256.New()
	h.Write(g.seed)
	_ = binary.Write(h, binary.LittleEndian, g.n)
	copy(out[:], h.Sum(nil))
	return out
}

func (g *ids) uuid() [16]byte { return g.next() }

func (g *ids) u32() uint32 {
	b := g.next()
	return binary.LittleEndian.Uint32(b[:])
}

// guid returns a random (version 4) GUID string.
func (g *ids) guid() string {
	b := g.next()
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// CreateImage creates (or truncates) a sparse image file of size bytes
// and installs onto it.
func CreateImage(path string, size int64, spec Spec) (Layout, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return Layout{}, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return Layout{}, err
	}
	l, err := Install(f, spec)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return Layout{}, err
	}
	return l, nil
}
