package simulator

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// DefaultBuild is the ESXi build the simulator ISO announces in its
// BOOT.CFG (8.0 U3), so the builder's version detection and the installed
// boot.cfg see the same shape as with VMware's ISO.
const DefaultBuild = "8.0.3-0.0.24022510"

// ISOInput names the parts of a simulator ISO.
type ISOInput struct {
	Kernel   []byte // Linux bzImage, stored as /B.B00 (ESXi's kernel name)
	Initrd   []byte // initramfs, stored as /S.V00 (ESXi's base system module)
	Isolinux []byte // ISOLINUX.BIN (syslinux 6.x)
	Ldlinux  []byte // LDLINUX.C32, which ISOLINUX 6.x loads from beside itself
	EFIBoot  []byte // EFIBOOT.IMG, the FAT image of the EFI El Torito entry
	Build    string // build= in both BOOT.CFGs; DefaultBuild when empty
	VolumeID string // ISO9660 volume id; "ESXI-SIMULATOR" when empty
}

// BootCfg returns the installer BOOT.CFG of the simulator ISO. The kernel
// and modules are named like ESXi's; ISOLINUX boots them directly (no
// mboot.c32), and /init reads this file for kernelopt and build.
func BootCfg(build string) string {
	return strings.Join([]string{
		"bootstate=0",
		"title=Loading ESXi installer simulator",
		"timeout=5",
		"prefix=",
		"kernel=/b.b00",
		"kernelopt=runweasel cdromBoot",
		"modules=/s.v00",
		"build=" + build,
		"updated=0",
		"",
	}, "\n")
}

// isolinuxCfg boots the kernel with the serial console. panic=-1 makes a
// crashed /init reboot at once, which QEMU's -no-reboot turns into an exit.
const isolinuxCfg = `SERIAL 0 115200
DEFAULT install
PROMPT 0
TIMEOUT 0
LABEL install
  KERNEL /B.B00
  APPEND initrd=/S.V00 console=ttyS0,115200 panic=-1 quiet
`

// BuildISO writes the simulator ISO to dst: plain ISO9660 with uppercase 8.3
// names and no Rock Ridge or Joliet, like VMware's ISO (and ISOLINUX fails
// on Rock Ridge names, see research/simulator.md), El Torito entry 1 BIOS
// ISOLINUX.BIN with a boot-info table, entry 2 EFI EFIBOOT.IMG.
func BuildISO(dst string, in ISOInput) error {
	if in.Build == "" {
		in.Build = DefaultBuild
	}
	if in.VolumeID == "" {
		in.VolumeID = "ESXI-SIMULATOR"
	}
	for name, b := range map[string][]byte{"kernel": in.Kernel, "initrd": in.Initrd, "isolinux": in.Isolinux, "ldlinux": in.Ldlinux, "efiboot": in.EFIBoot} {
		if len(b) == 0 {
			return fmt.Errorf("simulator iso: %s is empty", name)
		}
	}
	files := map[string][]byte{
		"/ISOLINUX.BIN":        in.Isolinux,
		"/LDLINUX.C32":         in.Ldlinux,
		"/ISOLINUX.CFG":        []byte(isolinuxCfg),
		"/BOOT.CFG":            []byte(BootCfg(in.Build)),
		"/EFI/BOOT/BOOT.CFG":   []byte(BootCfg(in.Build)),
		"/EFIBOOT.IMG":         in.EFIBoot,
		"/B.B00":               in.Kernel,
		"/S.V00":               in.Initrd,
		"/EFI/BOOT/README.TXT": []byte("The ESXi installer simulator boots with BIOS (ISOLINUX) only.\n"),
	}
	var size int64
	for _, b := range files {
		size += int64(len(b)) + 2048
	}
	size += 1 << 20

	tmp := dst + ".tmp"
	_ = os.Remove(tmp)
	work, err := os.MkdirTemp(filepath.Dir(dst), ".simiso-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ok := false
	defer func() {
		if !ok {
			_ = os.Remove(tmp)
		}
	}()
	d, err := diskfs.Create(tmp, size, diskfs.SectorSize(2048))
	if err != nil {
		return fmt.Errorf("simulator iso: create %s: %w", tmp, err)
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeISO9660, WorkDir: work})
	if err != nil {
		return fmt.Errorf("simulator iso: %w", err)
	}
	for _, dir := range []string{"/EFI", "/EFI/BOOT"} {
		if err := fs.Mkdir(dir); err != nil {
			return fmt.Errorf("simulator iso: mkdir %s: %w", dir, err)
		}
	}
	for name, b := range files {
		f, err := fs.OpenFile(name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("simulator iso: %s: %w", name, err)
		}
		if _, err := f.Write(b); err != nil {
			return fmt.Errorf("simulator iso: write %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("simulator iso: close %s: %w", name, err)
		}
	}
	iso, ok2 := fs.(*iso9660.FileSystem)
	if !ok2 {
		return fmt.Errorf("simulator iso: unexpected filesystem %T", fs)
	}
	err = iso.Finalize(iso9660.FinalizeOptions{
		VolumeIdentifier: in.VolumeID,
		ElTorito: &iso9660.ElTorito{
			BootCatalog: "/BOOT.CAT",
			Entries: []*iso9660.ElToritoEntry{
				{Platform: iso9660.BIOS, Emulation: iso9660.NoEmulation, BootFile: "/ISOLINUX.BIN", BootTable: true},
				{Platform: iso9660.EFI, Emulation: iso9660.NoEmulation, BootFile: "/EFIBOOT.IMG"},
			},
		},
	})
	if err != nil {
		return fmt.Errorf("simulator iso: finalize: %w", err)
	}
	_ = d.Close()
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	ok = true
	return nil
}
