package iso

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/packer-plugin-sdk/multistep"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/fixture"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

// xorrisoCat reads a file from an ISO with xorriso, a reader we did not write.
func xorrisoCat(t *testing.T, iso, path string) string {
	t.Helper()
	tooltest.Need(t, "xorriso")
	dst := filepath.Join(t.TempDir(), "extracted")
	if out, err := exec.Command("xorriso", "-indev", iso, "-osirrox", "on", "-extract", path, dst).CombinedOutput(); err != nil {
		t.Fatalf("xorriso extract %s: %v\n%s", path, err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStepRemasterISO(t *testing.T) {
	for _, shape := range fixture.Shapes {
		t.Run(string(shape), func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "installer.iso")
			if err := fixture.InstallerISO(src, fixture.ISOOptions{Shape: shape}); err != nil {
				t.Fatal(err)
			}
			c := testConfig(t, map[string]interface{}{"system_media_size": "min"})
			state, _ := testState(t, c, &DriverMock{})
			state.Put(keyISOPath, src)
			ks, err := c.kickstart("0123456789abcdef0123456789abcdef")
			if err != nil {
				t.Fatal(err)
			}
			state.Put(keyKickstart, ks)
			if got := (&stepRemasterISO{}).Run(context.Background(), state); got != multistep.ActionContinue {
				t.Fatalf("Run = %v: %v", got, stateErr(state))
			}
			dst := state.Get(keyBootISO).(string)
			if filepath.Dir(dst) != state.Get(keyTempDir).(string) {
				t.Errorf("boot ISO %s is not in the build's temp dir", dst)
			}
			if got := xorrisoCat(t, dst, "/KS.CFG"); got != ks.Text.Reveal() {
				t.Errorf("/KS.CFG on the ISO differs from the rendered kickstart:\n%s", got)
			}
			for _, cfg := range []string{"/BOOT.CFG", "/EFI/BOOT/BOOT.CFG"} {
				got := xorrisoCat(t, dst, cfg)
				if !strings.Contains(got, "ks=cdrom:/KS.CFG com1_Port=0x3f8 tty2Port=com1 systemMediaSize=min") || !strings.Contains(got, "runweasel") {
					t.Errorf("%s kernelopt not set:\n%s", cfg, got)
				}
			}
			info := state.Get(keyISOInfo).(isoInfo)
			want := map[fixture.Shape]isoInfo{
				fixture.ESXi70U3: {Version: "7.0.3", Build: "18825058", Full: "7.0.3-0.5.18825058"},
				fixture.ESXi80U3: {Version: "8.0.3", Build: "24022510", Full: "8.0.3-0.0.24022510"},
			}[shape]
			if info != want {
				t.Errorf("iso info = %+v, want %+v", info, want)
			}
			out, err := exec.Command("xorriso", "-indev", dst, "-report_el_torito", "plain").CombinedOutput()
			if err != nil || !strings.Contains(string(out), "BIOS") || !strings.Contains(string(out), "UEFI") {
				t.Errorf("El Torito entries not kept: %v\n%s", err, out)
			}
		})
	}
}

func TestStepRemasterISORefusesNonESXi(t *testing.T) {
	c := testConfig(t, nil)
	state, _ := testState(t, c, &DriverMock{})
	state.Put(keyISOPath, "testdata/console/clean.log")
	ks, _ := c.kickstart("00")
	state.Put(keyKickstart, ks)
	if got := (&stepRemasterISO{}).Run(context.Background(), state); got != multistep.ActionHalt {
		t.Fatalf("Run = %v, want halt", got)
	}
	if err := stateErr(state); err == nil || !strings.HasPrefix(err.Error(), "remaster iso: ") {
		t.Errorf("err = %v", err)
	}
}
