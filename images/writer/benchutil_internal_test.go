package writer

import (
	"os"
	"path/filepath"
	"testing"
)

// The byte-for-byte checker the benchmark relies on must catch a
// difference inside data, inside a hole of one file, and a size mismatch.
func TestSameContent(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, size int64, at map[int64]byte) string {
		p := filepath.Join(dir, name)
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		f.Truncate(size)
		for off, v := range at {
			f.WriteAt([]byte{v}, off)
		}
		f.Close()
		return p
	}
	base := mk("a", 300<<20, map[int64]byte{5: 1, 200 << 20: 2})
	if err := sameContent(base, mk("b", 300<<20, map[int64]byte{5: 1, 200 << 20: 2})); err != nil {
		t.Fatal(err)
	}
	if err := sameContent(base, mk("c", 300<<20, map[int64]byte{5: 1, 200 << 20: 3})); err == nil {
		t.Fatal("data difference missed")
	}
	if err := sameContent(base, mk("d", 300<<20, map[int64]byte{5: 1, 200 << 20: 2, 100 << 20: 0})); err != nil {
		t.Fatalf("written zero vs hole: %v", err)
	}
	if err := sameContent(base, mk("e", 300<<20, map[int64]byte{5: 1, 200 << 20: 2, 150<<20 + 77: 9})); err == nil {
		t.Fatal("data inside the other file's hole missed")
	}
	if err := sameContent(base, mk("f", 301<<20, map[int64]byte{5: 1, 200 << 20: 2})); err == nil {
		t.Fatal("size difference missed")
	}
}
