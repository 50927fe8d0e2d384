package nopoll

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	res, err := Run([]string{"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, nil, dir, time.Now().Add(10*time.Second))
	if err != nil || res.ExitCode != 3 || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" {
		t.Fatalf("%+v %v", res, err)
	}
	start := time.Now()
	res, err = Run([]string{"/bin/sh", "-c", "sleep 30 & sleep 30"}, nil, dir, time.Now().Add(300*time.Millisecond))
	if !errors.Is(err, ErrTimeout) || res.ExitCode != -1 {
		t.Fatalf("hung command: %+v %v", res, err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("kill took %s", el)
	}
	if _, err := Run([]string{filepath.Join(dir, "missing")}, nil, dir, time.Time{}); err == nil {
		t.Fatal("missing program ran")
	}
	// Output files are unlinked: nothing is left behind.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left %v", ents)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFileAtomic(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFile(p, 10); err != nil || string(b) != "two" {
		t.Fatalf("%q %v", b, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode())
	}
	if _, err := ReadFile(p, 2); err == nil || !strings.Contains(err.Error(), "larger than 2 bytes") {
		t.Fatalf("limit: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "none"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	AppendFile(p, []byte("+"), 0o600)
	names, err := ReadDirNames(dir)
	if err != nil || len(names) != 1 || names[0] != "f" {
		t.Fatalf("dir %v %v (temp files left?)", names, err)
	}
	start := time.Now()
	Sleep(50 * time.Millisecond)
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("Sleep returned early")
	}
}
