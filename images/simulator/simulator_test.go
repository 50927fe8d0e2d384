package simulator

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

func TestModuleLoadOrder(t *testing.T) {
	f, err := os.Open("testdata/modules.dep")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ModuleLoadOrder(f, BootModules)
	if err != nil {
		t.Fatal(err)
	}
	// Each module after all it depends on (the order measured to work in
	// research/simulator.md, derived here from depmod's output).
	want := []string{
		"kernel/drivers/scsi/scsi_common.ko", "kernel/drivers/scsi/scsi_mod.ko", "kernel/drivers/ata/libata.ko",
		"kernel/drivers/ata/libahci.ko", "kernel/drivers/ata/ahci.ko", "kernel/drivers/ata/ata_piix.ko",
		"kernel/drivers/cdrom/cdrom.ko", "kernel/drivers/scsi/sr_mod.ko", "kernel/crypto/crct10dif_common.ko",
		"kernel/lib/crc64.ko", "kernel/lib/crc-t10dif.ko", "kernel/lib/crc64-rocksoft.ko", "kernel/block/t10-pi.ko",
		"kernel/drivers/scsi/sd_mod.ko", "kernel/fs/isofs/isofs.ko",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("order =\n%q\nwant\n%q", got, want)
	}
}

func TestModuleLoadOrderErrors(t *testing.T) {
	for dep, want := range map[string]string{
		"kernel/a.ko kernel/b.ko\n":                            "no ':'",
		"kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n": "cycle",
		"kernel/x.ko:\n":                                       `no module "ahci"`,
	} {
		if _, err := ModuleLoadOrder(strings.NewReader(dep), []string{"ahci"}); err == nil || !strings.Contains(err.Error(), want) {
			if want == "cycle" {
				if _, err := ModuleLoadOrder(strings.NewReader(dep), []string{"a"}); err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%q: err = %v, want %q", dep, err, want)
				}
				continue
			}
			t.Errorf("%q: err = %v, want %q", dep, err, want)
		}
	}
}

func TestFaults(t *testing.T) {
	for opts, want := range map[string]Fault{
		"runweasel ks=cdrom:/KS.CFG":             FaultNone,
		"runweasel simulator.fault=psod":         FaultPSOD,
		"simulator.fault=CRASH ks=cdrom:/KS.CFG": FaultCrash,
	} {
		if got, err := FaultFromBootOptions(opts); err != nil || got != want {
			t.Errorf("FaultFromBootOptions(%q) = %q, %v; want %q", opts, got, err, want)
		}
	}
	if _, err := FaultFromBootOptions("simulator.fault=meltdown"); !errors.Is(err, ErrUnknownFault) {
		t.Errorf("unknown fault: err = %v", err)
	}
	ks := "vmaccepteula\n  # simulator.fault: hang\nrootpw x\n"
	if got, err := FaultFromKickstart([]byte(ks)); err != nil || got != FaultHang {
		t.Errorf("FaultFromKickstart = %q, %v", got, err)
	}
}

func FuzzFaultFromKickstart(f *testing.F) {
	f.Add([]byte("# simulator.fault: psod\n"))
	f.Add([]byte("vmaccepteula\n%post\nhalt\n"))
	f.Fuzz(func(t *testing.T, ks []byte) {
		fault, err := FaultFromKickstart(ks)
		if err == nil && fault != FaultNone {
			if _, err := ParseFault(string(fault)); err != nil {
				t.Fatalf("returned fault %q does not parse: %v", fault, err)
			}
		}
	})
}

// The initramfs is read back by cpio(1) and the ISO by xorriso, readers we
// did not write.
func TestInitramfsAndISO(t *testing.T) {
	tooltest.Need(t, "cpio", "xorriso", "gzip")
	var rd bytes.Buffer
	err := WriteInitramfs(&rd, []InitramfsFile{
		{Path: "/init", Data: []byte("#!init"), Mode: 0o755},
		{Path: "/lib/modules/ahci.ko", Data: []byte("ko"), Mode: 0o644},
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", "gzip -dc | cpio -t -v --quiet")
	cmd.Stdin = bytes.NewReader(rd.Bytes())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}
	for _, want := range []string{"crw-------", "dev/console", "-rwxr-xr-x", " init", "lib/modules/ahci.ko", "drwxrwxrwt"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio -t lacks %q:\n%s", want, out)
		}
	}

	dst := filepath.Join(t.TempDir(), "sim.iso")
	err = BuildISO(dst, ISOInput{Kernel: []byte("kernel"), Initrd: rd.Bytes(), Isolinux: bytes.Repeat([]byte{0x90}, 4096), Ldlinux: []byte("ld"), EFIBoot: make([]byte, 1<<20)})
	if err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command("xorriso", "-indev", dst, "-report_el_torito", "plain", "-find", "/", "-exec", "lsdl").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso: %v\n%s", err, out)
	}
	for _, want := range []string{"BIOS", "UEFI", "/ISOLINUX.BIN", "/EFIBOOT.IMG", "'/BOOT.CFG'", "'/EFI/BOOT/BOOT.CFG'", "'/B.B00'", "'/S.V00'", "'/LDLINUX.C32'"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("xorriso report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "Rock Ridge") && !strings.Contains(string(out), "Rock Ridge : -") {
		t.Errorf("ISO has Rock Ridge (ISOLINUX fails on it):\n%s", out)
	}
}
