//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

func TestRunPost(t *testing.T) {
	con, _ = os.Open(os.DevNull)
	for _, tc := range []struct {
		name   string
		ks     string
		halted bool
		files  map[int]string // partition -> "NAME=content"
		err    string
	}{
		{"marker then halt", "%post --interpreter=busybox\necho done 'a b' > /vmfs/volumes/BOOTBANK1/GOLDEN.OK\nhalt\necho never > /vmfs/volumes/BOOTBANK2/NEVER.TXT\n",
			true, map[int]string{5: "GOLDEN.OK=done a b\n"}, ""},
		{"no halt", "%post\necho x > /vmfs/volumes/BOOTBANK2/X.TXT\nesxcli system version get\n", false, map[int]string{6: "X.TXT=x\n"}, ""},
		{"python is not run", "%post --interpreter=python\nprint('x')\n%post\nhalt\n", true, nil, ""},
		{"other paths skipped", "%post\necho x > /tmp/x\nls | grep y\nhalt\n", true, nil, ""},
		{"syntax error fails", "%post\nif then fi (\n", false, nil, "%post at line 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := kickstart.Parse(strings.NewReader("vmaccepteula\nrootpw Golden-Test-42x\ninstall --firstdisk\n"+tc.ks), "ks.cfg")
			if err != nil {
				t.Fatal(err)
			}
			// The disk the simulator really installs (writeDisk), so
			// %post edits the banks disk.Install wrote.
			d, err := writeDisk(testInstall(t, 9e9, ""), f)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			halted, err := runPost(f, d)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || halted != tc.halted {
				t.Fatalf("runPost = %v, %v; want %v", halted, err, tc.halted)
			}
			for part, kv := range tc.files {
				name, want, _ := strings.Cut(kv, "=")
				got, err := d.ReadFile(part, name)
				if err != nil || string(got) != want {
					t.Errorf("bank %d %s = %q, %v; want %q", part, name, got, err, want)
				}
			}
			if _, err := d.ReadFile(6, "NEVER.TXT"); err == nil {
				t.Error("a command after halt ran")
			}
		})
	}
}

// testInstall is an installer run against a fake CD directory (the
// simulator ISO's BOOT.CFG, kernel and initramfs, named as on the ISO)
// and a sparse disk file of size bytes.
func testInstall(t *testing.T, size int64, kernelopt string) *install {
	t.Helper()
	cd := t.TempDir()
	cfg := "bootstate=0\ntitle=Loading ESXi installer simulator\ntimeout=5\nprefix=\nkernel=/b.b00\n" +
		"kernelopt=runweasel ks=cdrom:/KS.CFG " + kernelopt + "\nmodules=/s.v00\nbuild=8.0.3-0.0.24022510\nupdated=0\n"
	for name, data := range map[string]string{"BOOT.CFG": cfg, "B.B00": "kernel bytes", "S.V00": "initramfs bytes"} {
		if err := os.WriteFile(filepath.Join(cd, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dev := filepath.Join(t.TempDir(), "disk.raw")
	if err := os.WriteFile(dev, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(dev, size); err != nil {
		t.Fatal(err)
	}
	in, err := newInstall(cd, dev)
	if err != nil {
		t.Fatal(err)
	}
	return in
}
