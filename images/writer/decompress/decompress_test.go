package decompress

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

func TestDetectByMagic(t *testing.T) {
	tooltest.Need(t, "zstd")
	payload := bytes.Repeat([]byte("esxi bootbank "), 4096)
	for _, tc := range []struct {
		tool string
		args []string
		want Format
	}{
		{"gzip", []string{"-c"}, Gzip},
		{"zstd", []string{"-q", "-c"}, Zstd},
		{"xz", []string{"-c"}, XZ},
		{"bzip2", []string{"-c"}, Bzip2},
		{"cat", nil, Raw},
	} {
		cmd := exec.Command(tc.tool, tc.args...)
		cmd.Stdin = bytes.NewReader(payload)
		data, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", tc.tool, err)
		}
		r, f, err := Reader(bytes.NewReader(data), Auto)
		if err != nil || f != tc.want {
			t.Fatalf("%s: format %s, %v", tc.tool, f, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("%s: decoded %d bytes, %v", tc.tool, len(got), err)
		}
		if tc.want != Raw {
			// Truncated streams must fail, never end quietly.
			r, _, err := Reader(bytes.NewReader(data[:len(data)-7]), Auto)
			if err == nil {
				_, err = io.ReadAll(r)
			}
			if err == nil {
				t.Fatalf("%s: truncated stream decoded without error", tc.tool)
			}
		}
	}
	if _, _, err := Reader(bytes.NewReader(payload), Always); !errors.Is(err, ErrNotCompressed) {
		t.Fatalf("Always on raw data: %v", err)
	}
	// A zstd skippable frame first (a seek table or metadata) is zstd too.
	if Detect([]byte{0x5e, 0x2a, 0x4d, 0x18, 0, 0}) != Zstd {
		t.Fatal("skippable frame not recognised")
	}
}

// FuzzReader (seeded with testdata/<format>: the first 64 bytes of each
// format as its tool writes it): any bytes either decode or fail; never a panic or a hang.
func FuzzReader(f *testing.F) {
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("testdata", e.Name())); err == nil && !e.IsDir() {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, _, err := Reader(bytes.NewReader(b), Auto)
		if err != nil {
			return
		}
		io.Copy(io.Discard, io.LimitReader(r, 64<<20))
		r.Close()
	})
}
