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
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/internal/tooltest"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/iso"
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
