package target

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func loop(t *testing.T, size int) string {
	t.Helper()
	backing := filepath.Join(t.TempDir(), "backing")
	if err := os.WriteFile(backing, bytes.Repeat([]byte{0xaa}, size), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("losetup", "-f", "--show", backing).Output()
	if err != nil {
		t.Fatalf("losetup (needs root): %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

// Unaligned offsets, lengths and buffers must all land correctly with
// O_DIRECT on, split between the direct and buffered descriptors.
func TestBlockWriteAndZero(t *testing.T) {
	dev := loop(t, 8<<20)
	tg, err := Open(dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !tg.IsBlock() || !tg.Direct() || tg.Size() != 8<<20 {
		t.Fatalf("block %v direct %v size %d", tg.IsBlock(), tg.Direct(), tg.Size())
	}
	if err := tg.Prepare(9 << 20); err == nil {
		t.Fatal("an image larger than the device was accepted")
	}
	want := bytes.Repeat([]byte{0xaa}, 8<<20)
	buf := AlignedBuffer(1 << 20)
	for i := range buf {
		buf[i] = byte(i % 251)
	}
	writes := []struct {
		off    int64
		lo, hi int
	}{
		{0, 0, 1 << 20},             // aligned
		{(1 << 20) + 512, 0, 70000}, // unaligned offset and length
		{3 << 20, 100, 9000},        // unaligned buffer address
	}
	for _, w := range writes {
		if err := tg.WriteAt(buf[w.lo:w.hi], w.off); err != nil {
			t.Fatal(err)
		}
		copy(want[w.off:], buf[w.lo:w.hi])
	}
	for _, z := range [][2]int64{{4 << 20, 1 << 20}, {(5 << 20) + 100, 5000}} {
		if err := tg.Zero(z[0], z[1]); err != nil {
			t.Fatal(err)
		}
		clear(want[z[0] : z[0]+z[1]])
	}
	t.Logf("zero method: %s", tg.ZeroMethod())
	if err := tg.Sync(); err != nil {
		t.Fatal(err)
	}
	tg.Close()
	got, err := os.ReadFile(dev)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("device content differs at %d (%v)", diff(got, want), err)
	}
	// The device is held exclusively while open.
	tg, err = Open(dev, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if _, err := Open(dev, Options{}); err == nil {
		t.Fatal("second exclusive open succeeded")
	}
}

func TestFileTarget(t *testing.T) {
	p := filepath.Join(t.TempDir(), "disk")
	os.WriteFile(p, bytes.Repeat([]byte{1}, 3<<20), 0o644)
	tg, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	// Zero on a file not prepared punches a hole.
	if err := tg.Zero(4096, 1<<20); err != nil || tg.ZeroMethod() != "punch-hole" {
		t.Fatalf("zero: %v via %q", err, tg.ZeroMethod())
	}
	b, _ := os.ReadFile(p)
	if b[4095] != 1 || b[4096] != 0 || b[4096+1<<20-1] != 0 || b[4096+1<<20] != 1 {
		t.Fatal("punched range wrong")
	}
	// Prepare replaces the file with holes of the image size.
	if err := tg.Prepare(2 << 20); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Size() != 2<<20 {
		t.Fatalf("size %d", fi.Size())
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, make([]byte, 2<<20)) {
		t.Fatal("prepared file is not zero")
	}
}

func diff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
