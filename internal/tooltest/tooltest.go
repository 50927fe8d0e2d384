// Package tooltest runs the independent checkers (fsck.fat, mtools, sgdisk,
// xorriso, isoinfo, zstd, bmaptool, minisign, busybox...) that the tests
// across the module use to judge what we wrote. A missing tool fails the
// test, never skips it: the checks are the point of those tests, and
// `make deps` installs every one (ci/deps.sh).
package tooltest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Need fails the test unless every named tool is on PATH.
func Need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found on PATH (run make deps): %v", tool, err)
		}
	}
}

// Path fails the test unless the tool is on PATH, and returns its path.
func Path(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found on PATH (run make deps): %v", tool, err)
	}
	return p
}

// Run runs a tool and fails the test if it exits non-zero; it returns
// stdout and stderr combined.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := Try(t, name, args...)
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// Try runs a tool and returns its combined output and exit error.
func Try(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	Need(t, name)
	var buf bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	cmd.Env = append(cmd.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	err := cmd.Run()
	return buf.String(), err
}

// Extract copies bytes [off, off+size) of src into a new sparse file in a
// test temp dir, skipping holes, so that tools without an offset option
// (fsck.fat, sgdisk on a partition) can check one partition of a disk image.
func Extract(t testing.TB, src string, off, size int64) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(t.TempDir(), fmt.Sprintf("part-%d.img", off))
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Truncate(size); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	pos := off
	end := off + size
	for pos < end {
		data, err := unix.Seek(int(in.Fd()), pos, unix.SEEK_DATA)
		if err != nil || data >= end {
			break // ENXIO: only a hole remains
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		hole = min(hole, end)
		for p := data; p < hole; {
			n := min(int64(len(buf)), hole-p)
			if _, err := in.ReadAt(buf[:n], p); err != nil {
				t.Fatal(err)
			}
			if _, err := out.WriteAt(buf[:n], p-off); err != nil {
				t.Fatal(err)
			}
			p += n
		}
		pos = hole
	}
	return dst
}

// Fsck runs fsck.fat -n on the FAT volume at [off, off+size) of img and
// fails the test on any finding.
func Fsck(t testing.TB, img string, off, size int64) {
	t.Helper()
	part := img
	if off != 0 {
		part = Extract(t, img, off, size)
	}
	out, err := Try(t, "fsck.fat", "-n", part)
	if err != nil || strings.Contains(out, "\n  ") {
		t.Fatalf("fsck.fat -n on %s@%d: %v\n%s", img, off, err, out)
	}
}

// MSpec is the mtools image spec for a volume at byte offset off.
func MSpec(img string, off int64) string { return fmt.Sprintf("%s@@%d", img, off) }
