package disk

import (
	"encoding/binary"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootbank"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
)

// Disk is an opened ESXi disk image or block device.
type Disk struct {
	f        *os.File
	name     string
	writable bool
	Layout   Layout
}

// Open opens an image or block device read-only and identifies its layout.
func Open(path string) (*Disk, error) { return open(path, false) }

// OpenWritable opens it for offline edits of the bootbanks.
func OpenWritable(path string) (*Disk, error) { return open(path, true) }

func open(path string, writable bool) (*Disk, error) {
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		return nil, err
	}
	d, err := FromFile(f, path, writable)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

// FromFile identifies the layout of an already open file; name labels
// errors. Close closes f.
func FromFile(f *os.File, name string, writable bool) (*Disk, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("%s: size: %w", name, err)
	}
	parts, err := ReadTable(f, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l, err := Identify(parts, size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &Disk{f: f, name: name, writable: writable, Layout: l}, nil
}

// ReadTable reads the GPT (primary, or backup if the primary is damaged)
// with go-diskfs. A disk without a GPT is ErrNotESXi.
func ReadTable(r io.ReaderAt, size int64) (parts []TablePartition, err error) {
	if size < 34*sector {
		return nil, fmt.Errorf("%w: %d bytes is too small to hold a GPT", ErrNotESXi, size)
	}
	// go-diskfs parses untrusted bytes; a panic there must not take the
	// caller down (the fuzz target feeds it arbitrary tables).
	defer func() {
		if p := recover(); p != nil {
			parts, err = nil, fmt.Errorf("%w: malformed GPT (go-diskfs panicked: %v)", ErrNotESXi, p)
		}
	}()
	if err := checkHeaders(r, size); err != nil {
		return nil, err
	}
	t, err := gpt.Read(&readerFile{r: r, size: size}, sector, sector)
	if err != nil {
		return nil, fmt.Errorf("%w: no valid GPT partition table (%s)", ErrNotESXi, oneLine(err))
	}
	for _, p := range t.Partitions {
		if p == nil || p.Type == gpt.Unused {
			continue
		}
		parts = append(parts, TablePartition{Number: p.Index, Name: p.Name, Type: strings.ToUpper(string(p.Type)), FirstLBA: p.Start, LastLBA: p.End})
	}
	return parts, nil
}

// checkHeaders bounds the GPT header fields go-diskfs v1.9.4 trusts when
// it allocates the entry array (a crafted header made it allocate
// gigabytes): at least one of the primary (LBA 1) and backup (last LBA)
// headers must carry the signature, and any that does must describe at
// most 1024 entries of 128 bytes.
func checkHeaders(r io.ReaderAt, size int64) error {
	found := false
	for _, lba := range []int64{1, size/sector - 1} {
		h := make([]byte, 92)
		if _, err := r.ReadAt(h, lba*sector); err != nil {
			continue
		}
		if string(h[:8]) != "EFI PART" {
			continue
		}
		found = true
		n, esz := binary.LittleEndian.Uint32(h[80:]), binary.LittleEndian.Uint32(h[84:])
		if n > 1024 || esz != 128 {
			return fmt.Errorf("%w: GPT header at LBA %d lists %d entries of %d bytes, want at most 1024 of 128", ErrNotESXi, lba, n, esz)
		}
	}
	if !found {
		return fmt.Errorf("%w: no valid GPT partition table (no \"EFI PART\" header at LBA 1 or at the last LBA)", ErrNotESXi)
	}
	return nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

// readerFile adapts an io.ReaderAt to go-diskfs's backend.File.
type readerFile struct {
	r    io.ReaderAt
	size int64
	pos  int64
}

func (f *readerFile) ReadAt(p []byte, off int64) (int, error) { return f.r.ReadAt(p, off) }
func (f *readerFile) Read(p []byte) (int, error) {
	n, err := f.r.ReadAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}
func (f *readerFile) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		f.pos = off
	case io.SeekCurrent:
		f.pos += off
	case io.SeekEnd:
		f.pos = f.size + off
	}
	return f.pos, nil
}
func (f *readerFile) Close() error                 { return nil }
func (f *readerFile) Stat() (iofs.FileInfo, error) { return sizeInfo(f.size), nil }

type sizeInfo int64

func (s sizeInfo) Name() string        { return "disk" }
func (s sizeInfo) Size() int64         { return int64(s) }
func (s sizeInfo) Mode() iofs.FileMode { return 0o600 }
func (s sizeInfo) ModTime() time.Time  { return time.Time{} }
func (s sizeInfo) IsDir() bool         { return false }
func (s sizeInfo) Sys() any            { return nil }

var _ backend.File = (*readerFile)(nil)

// Close closes the underlying file.
func (d *Disk) Close() error { return d.f.Close() }

// File is the underlying file (for callers that stream the image).
func (d *Disk) File() *os.File { return d.f }

// Volume opens the FAT16 volume of partition n (1, 5, 6; 8 on 6.x). Banks
// (5, 6) keep the 8.3 name rule; partition 1 allows long names.
func (d *Disk) Volume(n int) (*bootbank.Bank, error) {
	p, ok := d.Layout.Part(n)
	if !ok {
		return nil, fmt.Errorf("%s: no partition %d", d.name, n)
	}
	if !p.IsFAT() {
		return nil, fmt.Errorf("%s: partition %d is %s, not a FAT volume", d.name, n, p.Role)
	}
	label := fmt.Sprintf("%s: partition %d", d.name, n)
	if p.Role == RoleBootbank1 || p.Role == RoleBootbank2 {
		label = fmt.Sprintf("%s: bootbank %d", d.name, n)
	}
	v, err := bootbank.Open(d.f, p.Offset(), p.Size(), d.writable, label)
	if err != nil {
		return nil, err
	}
	if p.Role == RoleBoot {
		v.AllowLongNames()
	}
	return v, nil
}

// ReadFile reads a file from partition n's FAT volume.
func (d *Disk) ReadFile(n int, name string) ([]byte, error) {
	v, err := d.Volume(n)
	if err != nil {
		return nil, err
	}
	return v.ReadFile(name)
}

// Candidates gathers what safeboot looks at for each bank.
func (d *Disk) Candidates() []bootbank.Candidate {
	var out []bootbank.Candidate
	for _, p := range d.Layout.Banks() {
		c := bootbank.Candidate{Partition: p.Number}
		v, err := d.Volume(p.Number)
		if err != nil {
			c.Err = err
			out = append(out, c)
			continue
		}
		if u, err := v.UUID(); err == nil {
			c.UUID, c.HasMagic = u, true
		}
		c.Config, c.Err = v.BootCfg()
		out = append(out, c)
	}
	return out
}

// Active returns the bank safeboot would boot.
func (d *Disk) Active() (bootbank.Candidate, error) {
	c, err := bootbank.Select(d.Candidates())
	if err != nil {
		return c, fmt.Errorf("%s: %w", d.name, err)
	}
	return c, nil
}

// BankInfo is one bank as inspect reports it.
type BankInfo struct {
	Partition int                 `json:"partition"`
	UUID      string              `json:"uuid,omitempty"`
	BootUUID  string              `json:"boot_uuid,omitempty"`
	State     string              `json:"state"`
	Updated   uint64              `json:"updated"`
	Build     string              `json:"build,omitempty"`
	KernelOpt string              `json:"kernelopt,omitempty"`
	Modules   []string            `json:"modules,omitempty"`
	Files     []bootbank.FileInfo `json:"files,omitempty"`
	Active    bool                `json:"active"`
	Skipped   string              `json:"skipped,omitempty"` // why safeboot would not boot it
}

// Info is the whole disk as inspect reports it.
type Info struct {
	Kind       string      `json:"kind"` // "disk"
	Family     Family      `json:"family"`
	Version    string      `json:"version,omitempty"` // e.g. 8.0.3 from the active bank's build
	Build      string      `json:"build,omitempty"`
	DiskBytes  int64       `json:"disk_bytes"`
	Partitions []Partition `json:"partitions"`
	Banks      []BankInfo  `json:"banks"`
	Error      string      `json:"error,omitempty"` // no bootable bank
}

// Inspect describes the disk: layout, banks, the active bank's build.
func (d *Disk) Inspect() Info {
	info := Info{Kind: "disk", Family: d.Layout.Family, DiskBytes: d.Layout.DiskBytes, Partitions: d.Layout.Partitions}
	cands := d.Candidates()
	active, err := bootbank.Select(cands)
	if err != nil {
		info.Error = err.Error()
	}
	for _, c := range cands {
		b := BankInfo{Partition: c.Partition, Skipped: c.Reason(), State: "no boot.cfg"}
		if c.HasMagic {
			b.UUID, b.BootUUID = c.UUID.VolumeID(), c.UUID.BootUUID()
		}
		if c.Config != nil {
			b.State = c.Config.BootState().String()
			b.Updated, _ = c.Config.Updated()
			b.Build = c.Config.Build()
			b.KernelOpt = c.Config.KernelOpt().String()
			for _, m := range c.Config.Modules() {
				b.Modules = append(b.Modules, m.Path)
			}
		}
		if v, err := d.Volume(c.Partition); err == nil {
			b.Files, _ = v.List()
		}
		if err == nil && c.Partition == active.Partition {
			b.Active = true
			info.Build = b.Build
			info.Version = VersionOf(b.Build)
		}
		info.Banks = append(info.Banks, b)
	}
	return info
}

// VersionOf extracts "8.0.3" from a build string "8.0.3-0.0.24022510".
func VersionOf(build string) string {
	v, _, _ := strings.Cut(build, "-")
	return v
}

// BootCfg reads /boot.cfg of bank n.
func (d *Disk) BootCfg(n int) (*bootcfg.Config, error) {
	v, err := d.Volume(n)
	if err != nil {
		return nil, err
	}
	return v.BootCfg()
}
