//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/disk"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

// TestWriteDisk installs as /init does and reads the result back with
// the format library and with tools we did not write (sgdisk, tar).
func TestWriteDisk(t *testing.T) {
	tooltest.Need(t, "sgdisk", "tar")
	con, _ = os.Open(os.DevNull)
	const ks = "vmaccepteula\nrootpw Golden-Test-42x\ninstall --firstdisk\n" +
		"%firstboot --interpreter=busybox\necho one\n%firstboot --interpreter=busybox\necho two\n"
	f, err := kickstart.Parse(strings.NewReader(ks), "ks.cfg")
	if err != nil {
		t.Fatal(err)
	}
	// 40 GiB with systemMediaSize=min: OSDATA ends at 32 GiB and the rest
	// is a datastore, which only the boot option explains.
	in := testInstall(t, 40<<30, "systemMediaSize=min")
	d, err := writeDisk(in, f)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	p7, _ := d.Layout.Part(7)
	if end := int64(p7.LastLBA+1) * 512; end != 32<<30 {
		t.Errorf("OSDATA ends at byte %d, want 32 GiB (systemMediaSize=min)", end)
	}
	if _, ok := d.Layout.Part(8); !ok {
		t.Error("no datastore partition 8 after a 32 GiB system area on 40 GiB")
	}
	if b5, _ := d.Layout.Part(5); b5.Size() != 4095<<20 {
		t.Errorf("bootbank size %d, want 4095 MiB", b5.Size())
	}
	if out, err := exec.Command("sgdisk", "-v", in.disk).CombinedOutput(); err != nil || !strings.Contains(string(out), "No problems found") {
		t.Errorf("sgdisk -v: %v\n%s", err, out)
	}

	active, err := d.Active()
	if err != nil || active.Partition != 5 {
		t.Fatalf("active bank = %d, %v; want 5", active.Partition, err)
	}
	cfg := active.Config
	var mods []string
	for _, m := range cfg.Modules() {
		mods = append(mods, m.Path)
	}
	if cfg.Build() != "8.0.3-0.0.24022510" || cfg.Kernel() != "b.b00" || !reflect.DeepEqual(mods, []string{"s.v00", "state.tgz", "onetime.tgz"}) {
		t.Errorf("boot.cfg: build %q kernel %q modules %q", cfg.Build(), cfg.Kernel(), mods)
	}
	for name, want := range map[string]string{"b.b00": "kernel bytes", "s.v00": "initramfs bytes"} {
		if got, err := d.ReadFile(5, name); err != nil || string(got) != want {
			t.Errorf("bank 5 %s = %q, %v; want the CD's %q", name, got, err, want)
		}
	}

	dir := t.TempDir()
	for _, name := range []string{"onetime.tgz", "state.tgz"} {
		data, err := d.ReadFile(5, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("tar", "-tzf", filepath.Join(dir, "onetime.tgz")).CombinedOutput()
	if err != nil {
		t.Fatalf("tar onetime.tgz: %v\n%s", err, out)
	}
	for _, want := range []string{"var/lib/vmware/firstboot/010.firstboot_001", "var/lib/vmware/firstboot/020.firstboot_002", "var/lib/vmware/firstboot/firstboot.json"} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("onetime.tgz lacks %s:\n%s", want, out)
		}
	}
	script, err := exec.Command("tar", "-xzOf", filepath.Join(dir, "onetime.tgz"), "var/lib/vmware/firstboot/020.firstboot_002").Output()
	if err != nil || !strings.HasPrefix(string(script), "#!") || !strings.Contains(string(script), "echo two") {
		t.Errorf("020.firstboot_002 = %q, %v; want an interpreter line and the second %%firstboot", script, err)
	}
	local, err := exec.Command("tar", "-xzOf", filepath.Join(dir, "state.tgz"), "local.tgz").Output()
	if err != nil {
		t.Fatalf("tar state.tgz: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "local.tgz"), local, 0o644); err != nil {
		t.Fatal(err)
	}
	shadow, err := exec.Command("tar", "-xzOf", filepath.Join(dir, "local.tgz"), "etc/shadow").Output()
	if err != nil || !strings.HasPrefix(string(shadow), "root:$6$") {
		t.Errorf("state.tgz local.tgz etc/shadow = %q, %v; want a SHA-512 crypt root entry", shadow, err)
	}
}

func TestWriteDiskWithoutFirstboot(t *testing.T) {
	con, _ = os.Open(os.DevNull)
	f, err := kickstart.Parse(strings.NewReader("vmaccepteula\nrootpw Golden-Test-42x\ninstall --firstdisk\n"), "ks.cfg")
	if err != nil {
		t.Fatal(err)
	}
	d, err := writeDisk(testInstall(t, 9e9, ""), f)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	cfg, err := d.BootCfg(5)
	if err != nil {
		t.Fatal(err)
	}
	if mods := cfg.Modules(); len(mods) != 2 || mods[1].Path != "state.tgz" {
		t.Errorf("modules = %v, want s.v00 and state.tgz only", mods)
	}
	if _, err := d.ReadFile(5, "onetime.tgz"); err == nil {
		t.Errorf("onetime.tgz written without a %%firstboot")
	}
	if b5, _ := d.Layout.Part(5); b5.Size() != 500<<20 {
		t.Errorf("bootbank on 9 GB: %d bytes, want 500 MiB", b5.Size())
	}
}

// Bad sizing never leaves a disk that looks installed.
func TestWriteDiskRefusesBadSizing(t *testing.T) {
	con, _ = os.Open(os.DevNull)
	f, err := kickstart.Parse(strings.NewReader("vmaccepteula\nrootpw Golden-Test-42x\ninstall --firstdisk\n"), "ks.cfg")
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]*install{
		"systemMediaSize": testInstall(t, 9e9, "systemMediaSize=huge"),
		"8 GB minimum":    testInstall(t, 4<<30, ""),
	} {
		if _, err := writeDisk(in, f); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v", name, err)
		}
		if _, err := disk.Open(in.disk); err == nil {
			t.Errorf("%s: a refused install left an ESXi disk", name)
		}
	}
}
