package iso

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
	"golang.org/x/sys/unix"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
)

// Boot images of an ESXi installer ISO.
const (
	BIOSBootImage = "/ISOLINUX.BIN"
	EFIBootImage  = "/EFIBOOT.IMG"
	BootCatalog   = "/BOOT.CAT"
)

// ErrName is returned for a path that ISO9660 level 1 cannot hold.
var ErrName = errors.New("not an ISO9660 8.3 name")

// File is one file to put on an ISO: Data, or the local file From.
type File struct {
	Path string // absolute ISO path, e.g. "/KS.CFG" (upper-cased)
	Data []byte
	From string
}

// CreateOptions tune Create.
type CreateOptions struct {
	VolumeID string // up to 32 characters; "ESXI" if empty
	// ModTime, when set, stamps every file, directory and the volume
	// descriptor dates, so the same input gives the same bytes.
	ModTime time.Time
}

// CheckName reports whether p is a valid ISO9660 level 1 path in ESXi's
// style: directories of up to 8 and files of up to 8.3 characters from
// A-Z, 0-9 and '_'. Without Joliet or Rock Ridge, go-diskfs would
// silently cut a longer name to 8.3.
func CheckName(p string) error {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for k, part := range parts {
		base, ext, hasExt := strings.Cut(part, ".")
		isFile := k == len(parts)-1
		ok := len(base) >= 1 && len(base) <= 8 && validChars(base) && (!hasExt || (isFile && len(ext) <= 3 && validChars(ext)))
		if !ok {
			return fmt.Errorf("%q: %w (up to 8 characters, a dot and 3 for a file, from A-Z 0-9 _; longer names would be cut short without Joliet/Rock Ridge)", p, ErrName)
		}
	}
	return nil
}

func validChars(s string) bool {
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func upperPath(p string) string {
	return "/" + strings.ToUpper(strings.TrimPrefix(path.Clean("/"+p), "/"))
}

// Create writes a bootable ISO at dst from files. When /ISOLINUX.BIN and
// /EFIBOOT.IMG are present it adds both El Torito entries the way ESXi's
// ISO has them (BIOS: no emulation, load size 4, boot-info-table; EFI: no
// emulation). dst appears only when complete.
func Create(dst string, files []File, opt CreateOptions) error {
	st, err := newStage(dst)
	if err != nil {
		return err
	}
	defer st.cleanup()
	for _, f := range files {
		if err := st.add(f); err != nil {
			return err
		}
	}
	return st.build(dst, opt)
}

// stage is a workspace directory beside dst that go-diskfs finalizes
// into the ISO (it copies each file once more while finalizing).
type stage struct {
	dir   string
	files map[string]bool // upper-case path → present
}

func newStage(dst string) (*stage, error) {
	dir, err := os.MkdirTemp(filepath.Dir(dst), ".iso-stage-")
	if err != nil {
		return nil, fmt.Errorf("iso staging directory: %w", err)
	}
	return &stage{dir: dir, files: map[string]bool{}}, nil
}

func (s *stage) cleanup() { os.RemoveAll(s.dir) }

func (s *stage) local(p string) string {
	return filepath.Join(s.dir, filepath.FromSlash(strings.TrimPrefix(p, "/")))
}

func (s *stage) add(f File) error {
	p := upperPath(f.Path)
	if err := CheckName(p); err != nil {
		return err
	}
	dst := s.local(p)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if f.From != "" {
		in, err := os.Open(f.From)
		if err != nil {
			return fmt.Errorf("add %s: %w", p, err)
		}
		defer in.Close()
		if err := writeFrom(dst, in); err != nil {
			return fmt.Errorf("add %s from %s: %w", p, f.From, err)
		}
	} else if err := os.WriteFile(dst, f.Data, 0o644); err != nil {
		return fmt.Errorf("add %s: %w", p, err)
	}
	s.files[p] = true
	return nil
}

func writeFrom(dst string, r io.Reader) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(out, r, make([]byte, 1<<20)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func (s *stage) build(dst string, opt CreateOptions) error {
	vol := opt.VolumeID
	if vol == "" {
		vol = "ESXI"
	}
	if len(vol) > 32 {
		return fmt.Errorf("volume id %q: longer than 32 characters", vol)
	}
	if !opt.ModTime.IsZero() {
		err := filepath.WalkDir(s.dir, func(p string, _ os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Chtimes(p, opt.ModTime, opt.ModTime)
		})
		if err != nil {
			return err
		}
	}
	var et *iso9660.ElTorito
	if s.files[BIOSBootImage] || s.files[EFIBootImage] {
		et = &iso9660.ElTorito{BootCatalog: BootCatalog, HideBootCatalog: true}
		if s.files[BIOSBootImage] {
			e := &iso9660.ElToritoEntry{Platform: iso9660.BIOS, Emulation: iso9660.NoEmulation, BootFile: BIOSBootImage, BootTable: true}
			e.SetLoadSize(4)
			et.Entries = append(et.Entries, e)
		}
		if s.files[EFIBootImage] {
			et.Entries = append(et.Entries, &iso9660.ElToritoEntry{Platform: iso9660.EFI, Emulation: iso9660.NoEmulation, BootFile: EFIBootImage})
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	fs, err := iso9660.Create(file.New(tmp, false), 0, 0, blockSize, s.dir)
	if err != nil {
		return fmt.Errorf("create iso: %w", err)
	}
	if err := fs.Finalize(iso9660.FinalizeOptions{VolumeIdentifier: vol, ElTorito: et}); err != nil {
		return fmt.Errorf("write iso %s: %w", dst, err)
	}
	// go-diskfs pads the volume identifier with NULs; ECMA-119 (and
	// ESXi's own ISO) pad with spaces.
	if _, err := tmp.WriteAt([]byte(fmt.Sprintf("%-32s", vol)), 16*blockSize+40); err != nil {
		return fmt.Errorf("write volume id: %w", err)
	}
	if !opt.ModTime.IsZero() {
		if err := stampPVD(tmp, opt.ModTime); err != nil {
			return err
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	ok = true
	return nil
}

// stampPVD sets the creation, modification and effective dates of the
// primary volume descriptor and clears the expiration date, which
// go-diskfs sets to the build time.
func stampPVD(f *os.File, t time.Time) error {
	ts := []byte(t.UTC().Format("20060102150405") + "00\x00")
	never := []byte("0000000000000000\x00")
	for off, v := range map[int64][]byte{813: ts, 830: ts, 847: never, 864: ts} {
		if _, err := f.WriteAt(v, 16*blockSize+off); err != nil {
			return fmt.Errorf("stamp volume descriptor: %w", err)
		}
	}
	return nil
}

// RemasterOptions say what to change.
type RemasterOptions struct {
	// Add puts files on the ISO, replacing any of the same name
	// (case-insensitive), e.g. {Path: "/KS.CFG", From: "ks.cfg"}.
	Add []File
	// KernelOpt, if set, replaces kernelopt= in both boot.cfg files.
	KernelOpt string
	// AppendKernelOpt options are merged into kernelopt (same key
	// replaced, new ones appended), after KernelOpt.
	AppendKernelOpt string
	// Edit, if set, runs on each boot.cfg after the kernelopt changes.
	Edit func(path string, c *bootcfg.Config) error
	// VolumeID of the new ISO; the source's if empty.
	VolumeID string
	ModTime  time.Time
}

// Remaster copies an ESXi installer ISO to dst with files added and both
// boot.cfg files edited, keeping both El Torito entries. The source's boot
// catalog is not copied (a new one is written). A kernelopt ks=cdrom:/PATH
// must name a file on the new ISO by its exact upper-case name, since ESXi
// looks it up case-sensitively.
func Remaster(src, dst string, opt RemasterOptions) error {
	in, err := Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	for _, need := range []string{BootCfgBIOS, BootCfgEFI, BIOSBootImage, EFIBootImage} {
		if _, ok := in.Lookup(need); !ok {
			return fmt.Errorf("%s: %w: no %s", src, ErrNotESXi, need)
		}
	}
	if abs, _ := filepath.Abs(src); func() bool { d, _ := filepath.Abs(dst); return d == abs }() {
		return fmt.Errorf("remaster: output %s is the input", dst)
	}
	added := map[string]bool{}
	for _, f := range opt.Add {
		if err := CheckName(upperPath(f.Path)); err != nil {
			return err
		}
		added[upperPath(f.Path)] = true
	}

	st, err := newStage(dst)
	if err != nil {
		return err
	}
	defer st.cleanup()
	for _, fi := range in.Files() {
		p := upperPath(fi.Path)
		if fi.Dir || added[p] || p == BootCatalog {
			continue
		}
		if err := CheckName(p); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if err := os.MkdirAll(filepath.Dir(st.local(p)), 0o755); err != nil {
			return err
		}
		if err := copyRange(st.local(p), in.f, int64(fi.LBA)*blockSize, fi.Size); err != nil {
			return fmt.Errorf("copy %s: %w", fi.Path, err)
		}
		st.files[p] = true
	}
	for _, f := range opt.Add {
		if err := st.add(f); err != nil {
			return err
		}
	}
	for _, cfgPath := range []string{BootCfgBIOS, BootCfgEFI} {
		if added[cfgPath] && opt.KernelOpt == "" && opt.AppendKernelOpt == "" && opt.Edit == nil {
			continue
		}
		b, err := os.ReadFile(st.local(cfgPath))
		if err != nil {
			return err
		}
		c, err := bootcfg.ParseBytes(b)
		if err != nil {
			return fmt.Errorf("%s: %s: %w", src, cfgPath, err)
		}
		if opt.KernelOpt != "" {
			c.SetKernelOpt(bootcfg.ParseOptions(opt.KernelOpt))
		}
		if opt.AppendKernelOpt != "" {
			c.SetKernelOpt(c.KernelOpt().Merge(bootcfg.ParseOptions(opt.AppendKernelOpt)))
		}
		if opt.Edit != nil {
			if err := opt.Edit(cfgPath, c); err != nil {
				return fmt.Errorf("edit %s: %w", cfgPath, err)
			}
		}
		if err := checkKickstartPath(c, st.files); err != nil {
			return fmt.Errorf("%s: %w", cfgPath, err)
		}
		if err := os.WriteFile(st.local(cfgPath), c.Bytes(), 0o644); err != nil {
			return err
		}
	}
	vol := opt.VolumeID
	if vol == "" {
		vol = in.VolumeID()
	}
	return st.build(dst, CreateOptions{VolumeID: vol, ModTime: opt.ModTime})
}

func checkKickstartPath(c *bootcfg.Config, files map[string]bool) error {
	ks, ok := c.KernelOpt().Get("ks")
	if !ok || !strings.HasPrefix(ks.Value, "cdrom:") {
		return nil
	}
	p := strings.TrimPrefix(ks.Value, "cdrom:")
	if !files[p] {
		hint := ""
		if files[upperPath(p)] {
			hint = fmt.Sprintf(" (ESXi matches it case-sensitively: use %s)", upperPath(p))
		}
		return fmt.Errorf("kernelopt ks=%s: no file %s on the ISO%s", ks.Value, p, hint)
	}
	return nil
}

// copyRange copies size bytes at off of src into a new file dst with
// copy_file_range, so the data moves inside the kernel (or is reflinked
// by file systems that can); it falls back to a plain copy.
func copyRange(dst string, src *os.File, off, size int64) error {
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	done := int64(0)
	for done < size {
		o := off + done
		n, err := unix.CopyFileRange(int(src.Fd()), &o, int(out.Fd()), nil, int(size-done), 0)
		if err != nil || n == 0 {
			break
		}
		done += int64(n)
	}
	if done < size {
		if _, err := out.Seek(done, io.SeekStart); err != nil {
			return err
		}
		if _, err := io.CopyBuffer(out, io.NewSectionReader(src, off+done, size-done), make([]byte, 1<<20)); err != nil {
			return err
		}
	}
	return out.Close()
}
