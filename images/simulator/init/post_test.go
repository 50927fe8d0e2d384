//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootbank"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/mkfat"
	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

// testDisk is a file holding two 16 MiB FAT16 bootbanks as partitions 5, 6.
func testDisk(t *testing.T) *installedDisk {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	const size = 16 << 20
	d := &installedDisk{f: f, banks: map[int]*bootbank.Bank{}}
	for i, part := range []int{5, 6} {
		off := int64(i) * size
		if _, err := mkfat.Format(f, off, size, mkfat.Options{Label: "BOOTBANK"}); err != nil {
			t.Fatal(err)
		}
		if err := bootbank.WriteMagic(f, off, bootbank.UUID{byte(part)}); err != nil {
			t.Fatal(err)
		}
		b, err := bootbank.Open(f, off, size, true, "bank")
		if err != nil {
			t.Fatal(err)
		}
		d.banks[part] = b
	}
	return d
}

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
			d := testDisk(t)
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
				got, err := d.banks[part].ReadFile(name)
				if err != nil || string(got) != want {
					t.Errorf("bank %d %s = %q, %v; want %q", part, name, got, err, want)
				}
			}
			if _, err := d.banks[6].ReadFile("NEVER.TXT"); err == nil {
				t.Error("a command after halt ran")
			}
		})
	}
}
