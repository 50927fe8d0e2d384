// Package iso reads ESXi installer ISOs and writes remastered ones.
//
// ESXi's ISO is plain ISO9660 (no Joliet, no Rock Ridge: upper-case 8.3
// names) with two El Torito entries: BIOS ISOLINUX.BIN (no emulation, load
// size 4, boot-info-table) and EFI EFIBOOT.IMG. Names are matched
// case-insensitively, since Linux shows them lower-case and TFTP/HTTP
// clients ask for either. Reading and writing go through go-diskfs.
package iso

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
)

// ErrNotISO means the file is not a usable ISO9660 image.
var ErrNotISO = errors.New("not an ISO9660 image")

// ErrNotESXi means the ISO lacks what an ESXi installer has.
var ErrNotESXi = errors.New("not an ESXi installer ISO")

// Paths of the two boot.cfg files: BIOS (mboot.c32 -c boot.cfg) and EFI
// (mboot reads boot.cfg from its own directory).
const (
	BootCfgBIOS = "/BOOT.CFG"
	BootCfgEFI  = "/EFI/BOOT/BOOT.CFG"
)

// ISO is an opened installer ISO.
type ISO struct {
	f        *os.File
	fs       *iso9660.FileSystem
	name     string
	size     int64
	volumeID string
	files    []FileInfo // every file, sorted by path
}

// FileInfo is one file or directory of the ISO.
type FileInfo struct {
	Path string `json:"path"` // absolute, upper case, without ";1"
	Size int64  `json:"size"`
	Dir  bool   `json:"dir,omitempty"`
	LBA  uint32 `json:"-"`
	raw  string // the path as go-diskfs lists it (may carry ";1")
}

// Open opens an ISO read-only. A truncated or non-ISO file gives one line
// naming what was expected.
func Open(p string) (*ISO, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	i, err := open(f, p)
	if err != nil {
		f.Close()
		return nil, err
	}
	return i, nil
}

func open(f *os.File, name string) (*ISO, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	pvd := make([]byte, blockSize)
	if n, _ := f.ReadAt(pvd, 16*blockSize); n < blockSize || pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return nil, fmt.Errorf("%s: %w: no primary volume descriptor (\"CD001\") at block 16", name, ErrNotISO)
	}
	blocks := int64(binary.LittleEndian.Uint32(pvd[80:]))
	if lbs := binary.LittleEndian.Uint16(pvd[128:]); lbs != blockSize {
		return nil, fmt.Errorf("%s: %w: logical block size %d, want 2048", name, ErrNotISO, lbs)
	}
	if want := blocks * blockSize; want > size {
		return nil, fmt.Errorf("%s: %w: truncated: the volume descriptor says %d bytes, the file has %d", name, ErrNotISO, want, size)
	}
	fs, err := iso9660.Read(file.New(f, true), size, 0, blockSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", name, ErrNotISO, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	i := &ISO{f: f, fs: fs, name: name, size: size, volumeID: strings.TrimRight(string(pvd[40:72]), " \x00")}
	if err := i.walk("."); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", name, ErrNotISO, err)
	}
	sort.Slice(i.files, func(a, b int) bool { return i.files[a].Path < i.files[b].Path })
	return i, nil
}

// cleanName strips the ISO9660 version suffix and a trailing dot
// ("FILE.;1", "FILE;1").
func cleanName(n string) string {
	if k := strings.LastIndexByte(n, ';'); k >= 0 {
		n = n[:k]
	}
	return strings.TrimSuffix(n, ".")
}

func (i *ISO) walk(dir string) error {
	ents, err := i.fs.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := cleanName(e.Name())
		rel := path.Join(dir, name)
		info, err := e.Info()
		if err != nil {
			return err
		}
		raw := strings.TrimPrefix(path.Join(dir, e.Name()), "./")
		fi := FileInfo{Path: "/" + strings.TrimPrefix(rel, "./"), Size: info.Size(), Dir: e.IsDir(), raw: raw}
		if !e.IsDir() {
			if fl, err := i.fs.OpenFile(raw, os.O_RDONLY); err == nil {
				if loc, ok := fl.(interface{ Location() uint32 }); ok {
					fi.LBA = loc.Location()
				}
				fl.Close()
			}
		}
		i.files = append(i.files, fi)
		if e.IsDir() {
			if err := i.walk(path.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close closes the file.
func (i *ISO) Close() error { return i.f.Close() }

// VolumeID is the primary volume identifier.
func (i *ISO) VolumeID() string { return i.volumeID }

// Size is the image size in bytes.
func (i *ISO) Size() int64 { return i.size }

// Files lists every file and directory, sorted by path.
func (i *ISO) Files() []FileInfo { return i.files }

// Lookup finds a path case-insensitively.
func (i *ISO) Lookup(p string) (FileInfo, bool) {
	p = "/" + strings.TrimPrefix(path.Clean("/"+p), "/")
	for _, f := range i.files {
		if strings.EqualFold(f.Path, p) {
			return f, true
		}
	}
	return FileInfo{}, false
}

// Open returns a reader for a file (case-insensitive path).
func (i *ISO) Open(p string) (io.ReadCloser, int64, error) {
	fi, ok := i.Lookup(p)
	if !ok || fi.Dir {
		return nil, 0, fmt.Errorf("%s: %s: %w", i.name, p, os.ErrNotExist)
	}
	// The directory records give the data's block and size; read it
	// directly, as one section of the image.
	f, err := i.fs.OpenFile(fi.raw, os.O_RDONLY)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: open %s: %w", i.name, p, err)
	}
	return f, fi.Size, nil
}

// ReadFile reads a whole file (case-insensitive path).
func (i *ISO) ReadFile(p string) ([]byte, error) {
	r, size, err := i.Open(p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", i.name, p, err)
	}
	return b, nil
}

// BootCfg parses one of the boot.cfg files (BootCfgBIOS or BootCfgEFI).
func (i *ISO) BootCfg(p string) (*bootcfg.Config, error) {
	b, err := i.ReadFile(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w: no %s", i.name, ErrNotESXi, p)
		}
		return nil, err
	}
	c, err := bootcfg.ParseBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", i.name, p, err)
	}
	return c, nil
}

// ElTorito reads the boot catalog and names each entry's file.
func (i *ISO) ElTorito() ([]BootEntry, error) {
	ents, err := ReadElTorito(i.f, i.size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", i.name, err)
	}
	for k := range ents {
		for _, f := range i.files {
			if !f.Dir && f.LBA == ents[k].LBA && f.Size > 0 {
				ents[k].File = f.Path
				break
			}
		}
		// A boot-info-table holds the PVD block (16) and the file's own
		// block at bytes 8-15 of the boot image.
		bit := make([]byte, 8)
		if _, err := i.f.ReadAt(bit, int64(ents[k].LBA)*blockSize+8); err == nil {
			ents[k].BootTable = binary.LittleEndian.Uint32(bit) == 16 && binary.LittleEndian.Uint32(bit[4:]) == ents[k].LBA
		}
	}
	return ents, nil
}

// Info is what inspect reports about an installer ISO.
type Info struct {
	Kind       string      `json:"kind"` // "iso"
	VolumeID   string      `json:"volume_id"`
	Version    string      `json:"version"`
	Build      string      `json:"build"`
	Kernel     string      `json:"kernel"`
	KernelOpt  string      `json:"kernelopt"`
	EFIKernOpt string      `json:"efi_kernelopt"`
	Modules    int         `json:"modules"`
	ElTorito   []BootEntry `json:"el_torito"`
	Files      int         `json:"files"`
	Bytes      int64       `json:"bytes"`
}

// Inspect gathers Info; an ISO without /BOOT.CFG is ErrNotESXi.
func (i *ISO) Inspect() (Info, error) {
	c, err := i.BootCfg(BootCfgBIOS)
	if err != nil {
		return Info{}, err
	}
	info := Info{Kind: "iso", VolumeID: i.volumeID, Build: c.Build(), Kernel: c.Kernel(), KernelOpt: c.Value("kernelopt"),
		Modules: len(c.Modules()), Bytes: i.size}
	info.Version, _, _ = strings.Cut(info.Build, "-")
	if e, err := i.BootCfg(BootCfgEFI); err == nil {
		info.EFIKernOpt = e.Value("kernelopt")
	}
	for _, f := range i.files {
		if !f.Dir {
			info.Files++
		}
	}
	info.ElTorito, err = i.ElTorito()
	if err != nil && !errors.Is(err, ErrNoElTorito) {
		return info, err
	}
	return info, nil
}
