package bootbank

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat12"
	"github.com/diskfs/go-diskfs/filesystem/fat16"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/mkfat"
)

// ErrNoSpace is returned when a file does not fit in the bank.
var ErrNoSpace = errors.New("bootbank full")

// ErrReadOnly is returned by writes to a bank opened read-only.
var ErrReadOnly = errors.New("bootbank opened read-only")

// Bank is one FAT16 bank inside a disk image or block device.
type Bank struct {
	f        *os.File
	start    int64
	size     int64
	writable bool
	geo      mkfat.Geometry
	fs       *fat16.FileSystem
	name     string // for errors, e.g. "bootbank 5"
	long     bool   // allow names that are not 8.3 (partition 1 only)
	mtime    time.Time
}

// SetModTime makes every later WriteFile stamp the file (and directories
// it creates) with t instead of the current time, for reproducible images.
func (b *Bank) SetModTime(t time.Time) { b.mtime = t }

// AllowLongNames lifts the 8.3 rule, for partition 1 whose stock content
// includes EFI/VMware/safeboot64.efi.
func (b *Bank) AllowLongNames() { b.long = true }

// Open opens the FAT16 volume of size bytes at byte start of f. It does
// not require the bootbank magic, so it also opens partition 1 (the ESP);
// use UUID or RequireMagic for banks. Name labels errors ("bootbank 5").
func Open(f *os.File, start, size int64, writable bool, name string) (*Bank, error) {
	geo, err := mkfat.ReadGeometry(f, start)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(geo.TotalSectors)*512 > size {
		return nil, fmt.Errorf("%s: FAT16 volume of %d sectors is larger than the %d-byte partition", name, geo.TotalSectors, size)
	}
	fs, err := fat16.Read(file.New(f, !writable), size, start, 512)
	if err != nil {
		return nil, fmt.Errorf("%s: open FAT16: %w", name, err)
	}
	return &Bank{f: f, start: start, size: size, writable: writable, geo: geo, fs: fs, name: name}, nil
}

// Geometry is the FAT layout of the bank.
func (b *Bank) Geometry() mkfat.Geometry { return b.geo }

// UUID reads the bootbank magic; ErrNoMagic (wrapped, naming the bank)
// if it is missing.
func (b *Bank) UUID() (UUID, error) {
	u, err := ReadMagic(b.f, b.start)
	if err != nil {
		return u, fmt.Errorf("%s: %w", b.name, err)
	}
	return u, nil
}

// ReadFile returns a file's content; names match case-insensitively as
// on FAT.
func (b *Bank) ReadFile(name string) ([]byte, error) {
	fi, ok := b.lookup(abs(name))
	if !ok {
		return nil, fmt.Errorf("%s: open %s: %w", b.name, name, iofs.ErrNotExist)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("%s: read %s: is a directory", b.name, name)
	}
	// go-diskfs cannot open a file whose start cluster is 0, which is how
	// FAT stores empty files.
	if fi.Size() == 0 {
		return []byte{}, nil
	}
	f, err := b.fs.OpenFile(abs(name), os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("%s: open %s: %w", b.name, name, notExist(err))
	}
	defer f.Close()
	// One Read of the exact size: go-diskfs v1.9.4 File.Read, when it
	// resumes inside a cluster, returns the rest of that cluster even past
	// the end of the file (io.ReadAll got 1728 bytes of a 1700-byte file
	// on a 16 KiB-cluster volume).
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("%s: read %s: %w", b.name, name, err)
	}
	return data, nil
}

func notExist(err error) error {
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		return iofs.ErrNotExist
	}
	return err
}

// BootCfg reads and parses /boot.cfg.
func (b *Bank) BootCfg() (*bootcfg.Config, error) {
	data, err := b.ReadFile("/boot.cfg")
	if err != nil {
		return nil, err
	}
	c, err := bootcfg.ParseBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.name, err)
	}
	return c, nil
}

// FileInfo describes one file of a bank listing.
type FileInfo struct {
	Path string // absolute, as stored (short names are upper case)
	Size int64
	Dir  bool
}

// List walks the whole bank, sorted by path.
func (b *Bank) List() ([]FileInfo, error) {
	var out []FileInfo
	var walk func(dir string) error
	walk = func(dir string) error {
		ents, err := b.fs.ReadDir(rel(dir))
		if err != nil {
			return fmt.Errorf("%s: list %s: %w", b.name, dir, err)
		}
		for _, e := range ents {
			if e.Name() == "." || e.Name() == ".." {
				continue
			}
			p := path.Join(dir, e.Name())
			info, err := e.Info()
			if err != nil {
				return err
			}
			if info.Mode()&iofs.ModeType != 0 && !e.IsDir() {
				continue // volume label
			}
			out = append(out, FileInfo{Path: p, Size: info.Size(), Dir: e.IsDir()})
			if e.IsDir() {
				if err := walk(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("/"); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// FreeBytes is the space left, counted from the FAT over the volume's
// real clusters.
func (b *Bank) FreeBytes() (int64, error) {
	free, err := mkfat.FreeClusters(b.f, b.start, b.geo)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", b.name, err)
	}
	return int64(free) * b.geo.ClusterBytes(), nil
}

func (b *Bank) clusters(n int64) int64 {
	cb := b.geo.ClusterBytes()
	return (n + cb - 1) / cb
}

// WriteFile creates or replaces a file with data in one write (go-diskfs
// rewrites both FATs and the directory on every Write call, so one call
// per file keeps writes few and the volume consistent). Parent
// directories are created. Before touching the volume it checks that the
// data fits: go-diskfs v1.9.4 would otherwise allocate the FAT's slack
// entries beyond the last cluster and write past the partition end
// without an error.
func (b *Bank) WriteFile(name string, data []byte) error {
	if !b.writable {
		return fmt.Errorf("%s: write %s: %w", b.name, name, ErrReadOnly)
	}
	p := abs(name)
	if err := checkName(p); err != nil && !b.long {
		return fmt.Errorf("%s: %w", b.name, err)
	}
	var old int64 = -1
	if fi, ok := b.lookup(p); ok {
		if fi.IsDir() {
			return fmt.Errorf("%s: write %s: is a directory", b.name, name)
		}
		old = fi.Size()
	}
	free, err := mkfat.FreeClusters(b.f, b.start, b.geo)
	if err != nil {
		return fmt.Errorf("%s: %w", b.name, err)
	}
	avail := int64(free)
	if old > 0 {
		avail += b.clusters(old)
	}
	need := b.clusters(int64(len(data)))
	if path.Dir(p) != "/" {
		need++ // a subdirectory may have to grow by a cluster
	}
	if need > avail {
		return fmt.Errorf("%s: write %s: %d bytes need %d clusters of %d bytes, %d free: %w",
			b.name, name, len(data), need, b.geo.ClusterBytes(), avail, ErrNoSpace)
	}
	if dir := path.Dir(p); dir != "/" {
		var created []string
		for d := dir; d != "/"; d = path.Dir(d) {
			if _, ok := b.lookup(d); !ok {
				created = append(created, d)
			}
		}
		if err := b.fs.Mkdir(dir); err != nil {
			return fmt.Errorf("%s: mkdir %s: %w", b.name, dir, err)
		}
		for _, d := range created {
			if err := b.stamp(d); err != nil {
				return err
			}
			if err := b.stampDots(d); err != nil {
				return fmt.Errorf("%s: set time of %s: %w", b.name, d, err)
			}
		}
	}
	if old >= 0 {
		if err := b.remove(p); err != nil {
			return fmt.Errorf("%s: replace %s: %w", b.name, name, err)
		}
	}
	f, err := b.fs.OpenFile(p, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("%s: create %s: %w", b.name, name, err)
	}
	if len(data) > 0 {
		n, err := f.Write(data)
		if err == nil && n != len(data) {
			err = fmt.Errorf("short write %d of %d bytes", n, len(data))
		}
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: write %s: %w", b.name, name, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%s: close %s: %w", b.name, name, err)
	}
	if len(data) == 0 {
		if err := b.emptyFile(p); err != nil {
			return fmt.Errorf("%s: create empty %s: %w", b.name, name, err)
		}
	}
	return b.stamp(p)
}

// stampDots sets the times of a new directory's "." and ".." entries,
// which go-diskfs v1.9.4 always stamps with the current time.
func (b *Bank) stampDots(dir string) error {
	if b.mtime.IsZero() {
		return nil
	}
	d, err := b.fs.OpenFile(dir, os.O_RDONLY)
	if err != nil {
		return err
	}
	ff, ok := d.(*fat12.File)
	if !ok {
		d.Close()
		return fmt.Errorf("go-diskfs returned %T, want *fat12.File", d)
	}
	chain, err := ff.GetClusterChain()
	d.Close()
	if err != nil || len(chain) == 0 {
		return err
	}
	off := b.start + b.geo.DataStart() + int64(chain[0]-2)*b.geo.ClusterBytes()
	ents := make([]byte, 64)
	if _, err := b.f.ReadAt(ents, off); err != nil {
		return err
	}
	t := b.mtime
	date := uint16((t.Year()-1980)<<9 | int(t.Month())<<5 | t.Day())
	tm := uint16(t.Hour()<<11 | t.Minute()<<5 | t.Second()/2)
	le := binary.LittleEndian
	for i := 0; i < 2; i++ {
		e := ents[32*i : 32*i+32]
		if e[0] != '.' {
			return fmt.Errorf("entry %d of the new directory is %q, want a dot entry", i, e[:11])
		}
		e[13] = 0
		le.PutUint16(e[14:], tm)
		le.PutUint16(e[16:], date)
		le.PutUint16(e[18:], date)
		le.PutUint16(e[22:], tm)
		le.PutUint16(e[24:], date)
	}
	_, err = b.f.WriteAt(ents, off)
	return err
}

func (b *Bank) stamp(p string) error {
	if b.mtime.IsZero() {
		return nil
	}
	if err := b.fs.Chtimes(p, b.mtime, b.mtime, b.mtime); err != nil {
		return fmt.Errorf("%s: set time of %s: %w", b.name, p, err)
	}
	return nil
}

// emptyFile undoes go-diskfs v1.9.4 giving a new empty file a cluster
// (fsck.fat flags "file size is 0 bytes, cluster chain length is > 0"):
// it clears the entry's first-cluster field on disk and frees the chain.
func (b *Bank) emptyFile(p string) error {
	info, ok := b.lookup(p)
	fi, isFat := info.(fat12.FileInfo)
	if !ok || !isFat {
		return fmt.Errorf("entry not found after create")
	}
	f, err := b.fs.OpenFile(p, os.O_RDONLY)
	if err != nil {
		return err
	}
	chain, err := f.(*fat12.File).GetClusterChain()
	f.Close()
	if err != nil || len(chain) == 0 {
		return err
	}
	// Where the directory's entries live: the fixed root area or the
	// parent's clusters.
	var regions [][2]int64
	if dir := path.Dir(p); dir == "/" {
		rootOff := int64(b.geo.ReservedSectors+2*b.geo.SectorsPerFAT) * 512
		regions = append(regions, [2]int64{rootOff, int64(b.geo.RootEntries) * 32})
	} else {
		d, err := b.fs.OpenFile(dir, os.O_RDONLY)
		if err != nil {
			return err
		}
		dchain, err := d.(*fat12.File).GetClusterChain()
		d.Close()
		if err != nil {
			return err
		}
		for _, c := range dchain {
			regions = append(regions, [2]int64{b.geo.DataStart() + int64(c-2)*b.geo.ClusterBytes(), b.geo.ClusterBytes()})
		}
	}
	want := shortEntryName(fi.ShortName())
	for _, r := range regions {
		buf := make([]byte, r[1])
		if _, err := b.f.ReadAt(buf, b.start+r[0]); err != nil {
			return err
		}
		for i := 0; i+32 <= len(buf); i += 32 {
			e := buf[i : i+32]
			if e[11] == 0x0F || string(e[:11]) != want || binary.LittleEndian.Uint16(e[26:]) != uint16(chain[0]) {
				continue
			}
			binary.LittleEndian.PutUint16(e[26:], 0)
			if _, err := b.f.WriteAt(e, b.start+r[0]+int64(i)); err != nil {
				return err
			}
			return b.freeAndReload(chain)
		}
	}
	return fmt.Errorf("directory entry %q not found on disk", want)
}

// shortEntryName turns "EMPTY.TXT" into the on-disk "EMPTY   TXT".
func shortEntryName(short string) string {
	base, ext, _ := strings.Cut(strings.ToUpper(short), ".")
	return fmt.Sprintf("%-8s%-3s", base, ext)
}

func (b *Bank) freeAndReload(chain []uint32) error {
	if err := mkfat.FreeChain(b.f, b.start, b.geo, chain); err != nil {
		return err
	}
	fs, err := fat16.Read(file.New(b.f, !b.writable), b.size, b.start, 512)
	if err != nil {
		return fmt.Errorf("re-read FAT16: %w", err)
	}
	b.fs = fs
	return nil
}

// Remove deletes a file.
func (b *Bank) Remove(name string) error {
	if !b.writable {
		return fmt.Errorf("%s: remove %s: %w", b.name, name, ErrReadOnly)
	}
	p := abs(name)
	if _, ok := b.lookup(p); !ok {
		return fmt.Errorf("%s: remove %s: %w", b.name, name, iofs.ErrNotExist)
	}
	if err := b.remove(p); err != nil {
		return fmt.Errorf("%s: remove %s: %w", b.name, name, err)
	}
	return nil
}

// lookup finds a directory entry case-insensitively by long or short
// name (go-diskfs Stat compares case-sensitively).
func (b *Bank) lookup(p string) (iofs.FileInfo, bool) {
	ents, err := b.fs.ReadDir(rel(path.Dir(p)))
	if err != nil {
		return nil, false
	}
	base := path.Base(p)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue
		}
		short := ""
		if fi, ok := info.(fat12.FileInfo); ok {
			short = fi.ShortName()
		}
		if strings.EqualFold(e.Name(), base) || strings.EqualFold(short, base) {
			return info, true
		}
	}
	return nil, false
}

// remove deletes a file and frees its clusters. go-diskfs v1.9.4 Remove
// only drops the directory entry and leaks the cluster chain (fsck.fat
// then reclaims it), so the chain is read first and cleared in both FATs
// here, and the file system is re-read so go-diskfs's cached FAT agrees.
func (b *Bank) remove(p string) error {
	if fi, ok := b.lookup(p); ok && fi.Size() == 0 {
		return b.fs.Remove(p) // no clusters to free
	}
	f, err := b.fs.OpenFile(p, os.O_RDONLY)
	if err != nil {
		return err
	}
	var chain []uint32
	if ff, ok := f.(*fat12.File); ok {
		chain, err = ff.GetClusterChain()
		if err != nil {
			f.Close()
			return fmt.Errorf("cluster chain of %s: %w", p, err)
		}
	} else {
		f.Close()
		return fmt.Errorf("go-diskfs returned %T for %s, want *fat12.File", f, p)
	}
	f.Close()
	if err := b.fs.Remove(p); err != nil {
		return err
	}
	return b.freeAndReload(chain)
}

// WriteBootCfg renders and writes /boot.cfg.
func (b *Bank) WriteBootCfg(c *bootcfg.Config) error {
	return b.WriteFile("/boot.cfg", c.Bytes())
}

// Sync flushes the underlying file.
func (b *Bank) Sync() error { return b.f.Sync() }

// rel converts to the io/fs form go-diskfs ReadDir wants ("." is the root).
func rel(p string) string {
	if p = strings.TrimPrefix(path.Clean("/"+p), "/"); p == "" {
		return "."
	}
	return p
}

func abs(name string) string {
	return path.Clean("/" + strings.TrimPrefix(name, "/"))
}

// checkName refuses names ESXi cannot use: bootbank names must be 8.3
// (installer script.py); go-diskfs would store a long name as an LFN that
// the boot loader never looks up.
func checkName(p string) error {
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		base, ext, _ := strings.Cut(part, ".")
		if part == "" || len(base) == 0 || len(base) > 8 || len(ext) > 3 || strings.Contains(ext, ".") ||
			strings.ContainsAny(part, " \"*+,/:;<=>?[\\]|") {
			return fmt.Errorf("file name %q: want an 8.3 name", p)
		}
	}
	return nil
}
