package gptfix

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

// sgdiskImage makes a real GPT disk of size bytes with sgdisk.
func sgdiskImage(t *testing.T, size int64) string {
	t.Helper()
	tooltest.Need(t, "sgdisk")
	p := filepath.Join(t.TempDir(), "disk")
	if err := os.Truncate(createEmpty(t, p), size); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sgdisk", "-n", "1:2048:+1M", "-t", "1:ef00", "-n", "2:0:0", p).CombinedOutput(); err != nil {
		t.Fatalf("sgdisk: %v: %s", err, out)
	}
	return p
}

func createEmpty(t *testing.T, p string) string {
	t.Helper()
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRelocateMatchesSgdisk(t *testing.T) {
	const imgSize, diskSize = 4 << 20, 16 << 20
	p := sgdiskImage(t, imgSize)
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	hd, err := Parse(img[:1<<20], 512)
	if err != nil {
		t.Fatal(err)
	}
	if hd.AlternateLBA != imgSize/512-1 {
		t.Fatalf("alternate lba %d", hd.AlternateLBA)
	}
	head := bytes.Clone(img[:1<<20])
	backup, off, err := Relocate(head, 512, diskSize)
	if err != nil {
		t.Fatal(err)
	}
	disk := make([]byte, diskSize)
	copy(disk, img)
	copy(disk, head)
	copy(disk[off:], backup)
	out := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(out, disk, 0o644); err != nil {
		t.Fatal(err)
	}
	// sgdisk, independently, must find both tables consistent.
	res, err := exec.Command("sgdisk", "-v", out).CombinedOutput()
	if err != nil || !strings.Contains(string(res), "No problems found") {
		t.Fatalf("sgdisk -v: %v\n%s", err, res)
	}
	// And relocating again is a no-op.
	if b, _, err := Relocate(head, 512, diskSize); err != nil || b != nil {
		t.Fatalf("second relocate: %v, %d bytes", err, len(b))
	}
}

func TestParseRejects(t *testing.T) {
	p := sgdiskImage(t, 4<<20)
	img, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	head := img[:1<<20]
	cases := map[string]func([]byte){
		"zeroed":        func(b []byte) { clear(b) },
		"bad-signature": func(b []byte) { b[512] = 'X' },
		"header-crc":    func(b []byte) { b[512+40] ^= 1 },
		"entries-crc":   func(b []byte) { b[1024+100] ^= 1 },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			b := bytes.Clone(head)
			mutate(b)
			if _, err := Parse(b, 512); !errors.Is(err, ErrNoGPT) {
				t.Fatalf("want ErrNoGPT, got %v", err)
			}
		})
	}
	if _, _, err := Relocate(make([]byte, 1<<20), 512, 8<<20); !errors.Is(err, ErrNoGPT) {
		t.Fatalf("mbr-only image: want ErrNoGPT, got %v", err)
	}
}

// FuzzParse (seeded with testdata/head.bin, the first 34 sectors of an
// sgdisk-made disk): arbitrary first sectors never panic, and whatever Parse
// accepts, Relocate can move without panicking.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/head.bin"); err == nil {
		f.Add(b, int64(64<<20))
	}
	f.Add(make([]byte, 1024), int64(1<<20))
	f.Fuzz(func(t *testing.T, b []byte, disk int64) {
		if _, err := Parse(b, 512); err != nil {
			return
		}
		if disk < 0 || disk > 1<<40 {
			return
		}
		_, _, _ = Relocate(bytes.Clone(b), 512, disk)
	})
}
