package iso_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/fixture"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/iso"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

func makeISO(t testing.TB, shape fixture.Shape) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "esxi.iso")
	if err := fixture.InstallerISO(p, fixture.ISOOptions{Shape: shape}); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkElTorito asserts xorriso sees ESXi's two boot entries.
func checkElTorito(t *testing.T, p string) {
	t.Helper()
	out := tooltest.Run(t, "xorriso", "-indev", p, "-report_el_torito", "plain")
	for _, want := range []string{
		"El Torito img path :   1  /ISOLINUX.BIN",
		"El Torito img opts :   1  boot-info-table",
		"El Torito img path :   2  /EFIBOOT.IMG",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("xorriso -report_el_torito lacks %q:\n%s", want, out)
		}
	}
	var bios, efi bool
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(strings.TrimPrefix(l, "El Torito boot img :"))
		if !strings.HasPrefix(l, "El Torito boot img :") || len(f) < 7 {
			continue
		}
		bios = bios || (f[0] == "1" && f[1] == "BIOS" && f[2] == "y" && f[3] == "none" && f[6] == "4")
		efi = efi || (f[0] == "2" && f[1] == "UEFI" && f[2] == "y" && f[3] == "none")
	}
	if !bios || !efi {
		t.Fatalf("want BIOS no-emulation load size 4 and UEFI no-emulation entries:\n%s", out)
	}
}

func TestFixtureISOs(t *testing.T) {
	tooltest.Need(t, "xorriso", "isoinfo")
	for _, shape := range fixture.Shapes {
		t.Run(string(shape), func(t *testing.T) {
			p := makeISO(t, shape)
			checkElTorito(t, p)
			if out := tooltest.Run(t, "isoinfo", "-l", "-i", p); !strings.Contains(out, "BOOT.CFG;1") || !strings.Contains(out, "ISOLINUX.CFG;1") {
				t.Fatalf("isoinfo -l:\n%s", out)
			}
			img, err := iso.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			info, err := img.Inspect()
			if err != nil {
				t.Fatal(err)
			}
			want := map[fixture.Shape]string{fixture.ESXi70U3: "7.0.3-0.5.18825058", fixture.ESXi80U3: "8.0.3-0.0.24022510"}[shape]
			if info.Build != want || info.Kernel != "/b.b00" || len(info.ElTorito) != 2 ||
				info.ElTorito[0].File != "/ISOLINUX.BIN" || !info.ElTorito[0].BootTable || info.ElTorito[0].LoadSectors != 4 ||
				info.ElTorito[1].File != "/EFIBOOT.IMG" || info.ElTorito[1].Platform != "efi" {
				t.Fatalf("inspect %+v", info)
			}
			// Case-insensitive lookup, as ESXi's loaders and Linux need.
			a, err1 := img.ReadFile("/efi/boot/boot.cfg")
			b, err2 := img.ReadFile(iso.BootCfgEFI)
			if err1 != nil || err2 != nil || !bytes.Equal(a, b) || len(a) == 0 {
				t.Fatalf("case-insensitive read: %v %v", err1, err2)
			}
		})
	}
}

func TestFixtureISOIsDeterministic(t *testing.T) {
	a, _ := os.ReadFile(makeISO(t, fixture.ESXi80U3))
	b, _ := os.ReadFile(makeISO(t, fixture.ESXi80U3))
	if !bytes.Equal(a, b) {
		t.Fatal("two fixture ISOs from the same options differ")
	}
}

func TestRemaster(t *testing.T) {
	tooltest.Need(t, "xorriso", "isoinfo")
	src := makeISO(t, fixture.ESXi80U3)
	dir := t.TempDir()
	ks := filepath.Join(dir, "ks.cfg")
	os.WriteFile(ks, []byte("vmaccepteula\nrootpw --iscrypted $6$x$y\ninstall --firstdisk --overwritevmfs\n"), 0o644)
	dst := filepath.Join(dir, "out.iso")
	err := iso.Remaster(src, dst, iso.RemasterOptions{
		Add:       []iso.File{{Path: "/ks.cfg", From: ks}},
		KernelOpt: "runweasel ks=cdrom:/KS.CFG",
	})
	if err != nil {
		t.Fatal(err)
	}
	checkElTorito(t, dst)
	if out := tooltest.Run(t, "isoinfo", "-l", "-i", dst); !strings.Contains(out, "KS.CFG;1") {
		t.Fatalf("isoinfo -l lacks KS.CFG;1:\n%s", out)
	}
	for _, p := range []string{"/BOOT.CFG;1", "/EFI/BOOT/BOOT.CFG;1"} {
		out := tooltest.Run(t, "isoinfo", "-i", dst, "-x", p)
		if !strings.Contains(out, "\nkernelopt=runweasel ks=cdrom:/KS.CFG\n") || !strings.Contains(out, "build=8.0.3-0.0.24022510") {
			t.Fatalf("isoinfo -x %s:\n%s", p, out)
		}
	}
	if got := tooltest.Run(t, "isoinfo", "-i", dst, "-x", "/KS.CFG;1"); !strings.HasPrefix(got, "vmaccepteula\n") {
		t.Fatalf("KS.CFG: %q", got)
	}
	// Everything else is copied byte for byte.
	in, _ := iso.Open(src)
	defer in.Close()
	out, err := iso.Open(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if out.VolumeID() != in.VolumeID() {
		t.Errorf("volume id %q, want %q", out.VolumeID(), in.VolumeID())
	}
	for _, f := range in.Files() {
		if f.Dir || strings.HasSuffix(f.Path, "BOOT.CFG") {
			continue
		}
		a, _ := in.ReadFile(f.Path)
		b, err := out.ReadFile(f.Path)
		if err != nil || !bytes.Equal(a, b) {
			t.Fatalf("%s differs after remaster: %v", f.Path, err)
		}
	}
	// Remaster the remastered ISO again: merging options keeps one ks=.
	dst2 := filepath.Join(dir, "out2.iso")
	if err := iso.Remaster(dst, dst2, iso.RemasterOptions{AppendKernelOpt: "ks=cdrom:/KS.CFG systemMediaSize=min"}); err != nil {
		t.Fatal(err)
	}
	o2, _ := iso.Open(dst2)
	defer o2.Close()
	info, _ := o2.Inspect()
	if info.KernelOpt != "runweasel ks=cdrom:/KS.CFG systemMediaSize=min" || info.EFIKernOpt != info.KernelOpt {
		t.Fatalf("kernelopt %q / %q", info.KernelOpt, info.EFIKernOpt)
	}
	checkElTorito(t, dst2)
}

func TestErrorsAreOneClearLine(t *testing.T) {
	src := makeISO(t, fixture.ESXi80U3)
	dir := t.TempDir()
	data, _ := os.ReadFile(src)
	trunc := filepath.Join(dir, "trunc.iso")
	os.WriteFile(trunc, data[:len(data)/2], 0o644)
	notiso := filepath.Join(dir, "disk.raw")
	os.WriteFile(notiso, make([]byte, 64<<10), 0o644)
	plain := filepath.Join(dir, "plain.iso")
	if err := iso.Create(plain, []iso.File{{Path: "/README.TXT", Data: []byte("hi")}}, iso.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		run  func() error
		is   error
		want string
	}{
		{"truncated", func() error { _, err := iso.Open(trunc); return err }, iso.ErrNotISO,
			trunc + ": not an ISO9660 image: truncated: the volume descriptor says " + itoa(volBytes(data)) + " bytes, the file has " + itoa(len(data)/2)},
		{"not an iso", func() error { _, err := iso.Open(notiso); return err }, iso.ErrNotISO,
			notiso + `: not an ISO9660 image: no primary volume descriptor ("CD001") at block 16`},
		{"not esxi", func() error { return iso.Remaster(plain, filepath.Join(dir, "x.iso"), iso.RemasterOptions{}) }, iso.ErrNotESXi,
			plain + ": not an ESXi installer ISO: no /BOOT.CFG"},
		{"long name", func() error {
			return iso.Remaster(src, filepath.Join(dir, "x.iso"), iso.RemasterOptions{Add: []iso.File{{Path: "/KS_CUSTOM.CFG", Data: []byte("x")}}})
		}, iso.ErrName, `"/KS_CUSTOM.CFG": not an ISO9660 8.3 name (up to 8 characters, a dot and 3 for a file, from A-Z 0-9 _; longer names would be cut short without Joliet/Rock Ridge)`},
		{"lower-case ks path", func() error {
			return iso.Remaster(src, filepath.Join(dir, "x.iso"), iso.RemasterOptions{Add: []iso.File{{Path: "/KS.CFG", Data: []byte("x")}}, KernelOpt: "runweasel ks=cdrom:/ks.cfg"})
		}, nil, "/BOOT.CFG: kernelopt ks=cdrom:/ks.cfg: no file /ks.cfg on the ISO (ESXi matches it case-sensitively: use /KS.CFG)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run()
			if err == nil || err.Error() != tt.want || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
	// No failed remaster leaves an output or staging files behind.
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() == "x.iso" || strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// volBytes is the volume space size the PVD records (go-diskfs pads the
// file with one more block).
func volBytes(iso []byte) int { return int(binary.LittleEndian.Uint32(iso[16*2048+80:])) * 2048 }

func FuzzParseBootCatalog(f *testing.F) {
	p := makeISO(f, fixture.ESXi80U3)
	img, err := iso.Open(p)
	if err != nil {
		f.Fatal(err)
	}
	raw, _ := os.ReadFile(p)
	img.Close()
	// The catalog block follows the boot record at block 17 (LBA at byte 71).
	lba := int(raw[17*2048+71]) | int(raw[17*2048+72])<<8
	f.Add(raw[lba*2048 : lba*2048+2048])
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		ents, err := iso.ParseBootCatalog(b)
		if err == nil && len(ents) == 0 {
			t.Fatal("no error and no entries")
		}
	})
}

func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	small := filepath.Join(dir, "small.iso")
	files := []iso.File{
		{Path: "/BOOT.CFG", Data: []byte("kernel=/b.b00\nmodules=/k.b00\nbuild=8.0.3-0.0.1\n")},
		{Path: "/EFI/BOOT/BOOT.CFG", Data: []byte("kernel=/b.b00\n")},
		{Path: "/ISOLINUX.BIN", Data: make([]byte, 2048)},
		{Path: "/EFIBOOT.IMG", Data: make([]byte, 2048)},
	}
	if err := iso.Create(small, files, iso.CreateOptions{}); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(small)
	f.Add(b)
	loop, _ := os.ReadFile("testdata/dirloop.iso")
	f.Add(loop)
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "f.iso")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		img, err := iso.Open(p)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %v", err)
			}
			return
		}
		defer img.Close()
		_, _ = img.Inspect()
		for _, fi := range img.Files() {
			if !fi.Dir && fi.Size < 1<<20 {
				_, _ = img.ReadFile(fi.Path)
			}
		}
	})
}

// testdata/dirloop.iso is a small ISO with one byte changed (found by
// FuzzOpen): go-diskfs v1.9.4 recursed on it until the stack overflowed.
// A second image points /EFI back at the root directory.
func TestCorruptDirectoriesAreOneLine(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "loop.iso")
	if err := iso.Create(p, []iso.File{{Path: "/EFI/BOOT/BOOT.CFG", Data: []byte("x")}}, iso.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	rootLBA := binary.LittleEndian.Uint32(b[16*2048+156+2:])
	root := b[rootLBA*2048:]
	for off := 0; off < 2048 && root[off] != 0; off += int(root[off]) {
		if string(root[off+33:off+33+int(root[off+32])]) == "EFI" {
			binary.LittleEndian.PutUint32(root[off+2:], rootLBA)
		}
	}
	os.WriteFile(p, b, 0o644)
	tests := []struct{ path, want string }{
		{"testdata/dirloop.iso", "directory record name of 67 bytes overruns the 34-byte record"},
		{p, "directory /EFI/ at block " + strconv.Itoa(int(rootLBA)) + " is reached twice (a directory loop)"},
	}
	for _, tt := range tests {
		_, err := iso.Open(tt.path)
		if !errors.Is(err, iso.ErrNotISO) || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want %q", tt.path, err, tt.want)
		}
	}
}

// An installer ISO rebuilt the way VMware documents it (genisoimage with
// Joliet and Rock Ridge) must open and remaster too: the ISO9660 names
// are still 8.3, with Rock Ridge data in the directory records.
func TestRemasterGenisoimageISO(t *testing.T) {
	tooltest.Need(t, "genisoimage", "xorriso", "isoinfo")
	files, err := fixture.ISOFiles(fixture.ISOOptions{Shape: fixture.ESXi70U3})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	for _, f := range files {
		p := filepath.Join(tree, filepath.FromSlash(f.Path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, f.Data, 0o644)
	}
	src := filepath.Join(dir, "vmware.iso")
	tooltest.Run(t, "genisoimage", "-quiet", "-relaxed-filenames", "-J", "-R", "-o", src, "-b", "ISOLINUX.BIN", "-c", "BOOT.CAT",
		"-no-emul-boot", "-boot-load-size", "4", "-boot-info-table", "-eltorito-alt-boot", "-e", "EFIBOOT.IMG", "-no-emul-boot", tree)
	img, err := iso.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	info, err := img.Inspect()
	img.Close()
	if err != nil || info.Build != "7.0.3-0.5.18825058" || len(info.ElTorito) != 2 || !info.ElTorito[0].BootTable {
		t.Fatalf("inspect genisoimage ISO: %+v %v", info, err)
	}
	dst := filepath.Join(dir, "out.iso")
	if err := iso.Remaster(src, dst, iso.RemasterOptions{Add: []iso.File{{Path: "/KS.CFG", Data: []byte("vmaccepteula\n")}}, KernelOpt: "runweasel ks=cdrom:/KS.CFG"}); err != nil {
		t.Fatal(err)
	}
	checkElTorito(t, dst)
	if out := tooltest.Run(t, "isoinfo", "-i", dst, "-x", "/EFI/BOOT/BOOT.CFG;1"); !strings.Contains(out, "kernelopt=runweasel ks=cdrom:/KS.CFG\n") {
		t.Fatalf("EFI BOOT.CFG:\n%s", out)
	}
}
