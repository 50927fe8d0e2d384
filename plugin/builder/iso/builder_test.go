package iso

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/disk"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/fixture"
	esxiiso "github.com/esxi-golden/packer-plugin-esxi/images/esxi/iso"
)

// fakeGuest plays the installer for the mock driver: it reads /KS.CFG from
// the boot ISO QEMU was given, and writes an installed disk carrying the
// marker its %post names, as the real installer would.
func fakeGuest(t *testing.T, d *DriverMock) func() {
	return func() {
		call := strings.Join(d.CallsTo("qemu")[0], " ")
		isoPath := regexp.MustCompile(`file=([^,]+),if=none,id=cd0`).FindStringSubmatch(call)[1]
		diskPath := regexp.MustCompile(`file=([^,]+),if=none,id=disk0`).FindStringSubmatch(call)[1]
		img, err := esxiiso.Open(isoPath)
		if err != nil {
			t.Error(err)
			return
		}
		ks, err := img.ReadFile("/KS.CFG")
		img.Close()
		if err != nil {
			t.Error(err)
			return
		}
		m := regexp.MustCompile(`echo (esxi-golden-complete [0-9a-f]+) > /vmfs/volumes/BOOTBANK1/(\S+)`).FindSubmatch(ks)
		if m == nil {
			t.Errorf("no marker command in the kickstart:\n%s", ks)
			return
		}
		_ = os.Remove(diskPath)
		if _, err := fixture.Disk(diskPath, fixture.DiskOptions{Onetime: true,
			Extra: []disk.File{{Name: "/" + string(m[2]), Data: append(m[1], '\n')}}}); err != nil {
			t.Error(err)
		}
	}
}

func TestBuilderRunWithMockDriver(t *testing.T) {
	src := filepath.Join(t.TempDir(), "installer.iso")
	if err := fixture.InstallerISO(src, fixture.ISOOptions{}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	d := &DriverMock{Console: []string{"Installing ESXi", "Installation complete. Halting."}, Exit: Exit{ShutdownReason: "guest-shutdown"}}
	d.OnExit = fakeGuest(t, d)
	b := &Builder{driver: d}
	_, _, err := b.Prepare(map[string]interface{}{
		"iso_url": src, "iso_checksum": "none", "root_password": "Golden-Test-42x",
		"output_directory": out, "accelerator": "tcg", "packer_build_name": "golden",
	})
	if err != nil {
		t.Fatal(err)
	}
	var uiOut strings.Builder
	a, err := b.Run(context.Background(), &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &uiOut, ErrorWriter: &uiOut}, &packersdk.MockHook{})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, uiOut.String())
	}
	art := a.(*Artifact)
	if art.Version != "8.0.3" || art.Build != "24022510" || art.Id() != filepath.Join(out, "golden.raw") {
		t.Errorf("artifact = %+v", art)
	}
	gd := a.State("generated_data").(map[string]interface{})
	if gd["ESXiVersion"] != "8.0.3" || gd["ESXiBuild"] != "24022510" {
		t.Errorf("generated_data = %v", gd)
	}
	for _, f := range a.Files() {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("artifact file: %v", err)
		}
	}
	if len(d.CallsTo("qemu-img")) != 1 || len(d.CallsTo("qemu")) != 1 {
		t.Errorf("calls = %q", d.Calls)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("temp files left behind: %v", ents)
	}
	if err := a.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("Destroy left %s", out)
	}
}

// A failed build removes its output directory and temp dir and stops QEMU.
func TestBuilderRunFailureCleansUp(t *testing.T) {
	src := filepath.Join(t.TempDir(), "installer.iso")
	if err := fixture.InstallerISO(src, fixture.ISOOptions{}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	d := &DriverMock{Console: []string{"@BlueScreen: #PF Exception 14 in world 1:weasel"}, Hang: true}
	b := &Builder{driver: d}
	if _, _, err := b.Prepare(map[string]interface{}{
		"iso_url": src, "iso_checksum": "none", "root_password": "Golden-Test-42x",
		"output_directory": out, "accelerator": "tcg",
	}); err != nil {
		t.Fatal(err)
	}
	var uiOut strings.Builder
	_, err := b.Run(context.Background(), &packersdk.BasicUi{Reader: strings.NewReader(""), Writer: &uiOut, ErrorWriter: &uiOut}, &packersdk.MockHook{})
	if err == nil || !strings.Contains(err.Error(), `shows a PSOD: "@BlueScreen: #PF Exception 14 in world 1:weasel"`) {
		t.Fatalf("Run err = %v", err)
	}
	if !d.Machines[0].Stopped {
		t.Error("QEMU not stopped")
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("output dir left behind: %v", err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("temp files left behind: %v", ents)
	}
}
