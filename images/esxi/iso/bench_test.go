package iso_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/fixture"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/iso"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

// BenchmarkRemaster600MB remasters a ~600 MiB installer ISO (the size of
// ESXi 8.0 U3's) adding KS.CFG and editing both BOOT.CFGs, and does the
// same with xorriso in the same iteration as the baseline. It reports
// seconds for each and their ratio (x-xorriso below 1 = faster).
func BenchmarkRemaster600MB(b *testing.B) {
	tooltest.Need(b, "xorriso")
	dir := b.TempDir()
	src := filepath.Join(dir, "esxi.iso")
	if err := fixture.InstallerISO(src, fixture.ISOOptions{ModuleBytes: 600 << 20 / 110}); err != nil {
		b.Fatal(err)
	}
	ks := filepath.Join(dir, "ks.cfg")
	cfg := filepath.Join(dir, "boot.cfg")
	os.WriteFile(ks, []byte("vmaccepteula\n"), 0o644)
	c, _ := fixture.InstallerBootCfg(fixture.ESXi80U3)
	c.Set("kernelopt", "runweasel ks=cdrom:/KS.CFG")
	os.WriteFile(cfg, c.Bytes(), 0o644)
	st, _ := os.Stat(src)
	b.SetBytes(st.Size())
	var ours, theirs time.Duration
	b.ResetTimer()
	for range b.N {
		dst := filepath.Join(dir, "ours.iso")
		t0 := time.Now()
		if err := iso.Remaster(src, dst, iso.RemasterOptions{Add: []iso.File{{Path: "/KS.CFG", From: ks}}, KernelOpt: "runweasel ks=cdrom:/KS.CFG"}); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(t0)
		os.Remove(dst)

		xdst := filepath.Join(dir, "xorriso.iso")
		t0 = time.Now()
		out, err := exec.Command("xorriso", "-indev", src, "-outdev", xdst, "-boot_image", "any", "replay",
			"-map", ks, "/KS.CFG", "-map", cfg, "/BOOT.CFG", "-map", cfg, "/EFI/BOOT/BOOT.CFG").CombinedOutput()
		if err != nil {
			b.Fatalf("xorriso: %v\n%s", err, out)
		}
		theirs += time.Since(t0)
		os.Remove(xdst)
	}
	b.ReportMetric(ours.Seconds()/float64(b.N), "s-remaster")
	b.ReportMetric(theirs.Seconds()/float64(b.N), "s-xorriso")
	b.ReportMetric(ours.Seconds()/theirs.Seconds(), "x-xorriso")
}
