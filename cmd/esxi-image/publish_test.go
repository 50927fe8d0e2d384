package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "esxi-image")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestPublishCLI(t *testing.T) {
	zstd := tooltest.Path(t, "zstd")
	bin := buildCLI(t)
	dir := t.TempDir()
	raw := make([]byte, 2<<20+512)
	copy(raw[700<<10:], bytes.Repeat([]byte("esx.conf /system/uuid "), 5000))
	rawPath := filepath.Join(dir, "esxi-8.raw")
	os.WriteFile(rawPath, raw, 0o644)
	key, _ := filepath.Abs("../../images/sign/testdata/test.key")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}

	for _, tc := range []struct {
		name string
		args []string
		env  []string
		code int
		out  string
	}{
		{"no key", []string{"publish", rawPath, filepath.Join(dir, "a"), "--no-writer"}, nil, 2, "no signing key"},
		{"bad chunk size", []string{"publish", rawPath, filepath.Join(dir, "a"), "--chunk-size", "4MB"}, nil, 2, "--chunk-size"},
		{"bad label", []string{"publish", rawPath, filepath.Join(dir, "a"), "--label", "x"}, nil, 2, "--label"},
		{"no writer beside us", []string{"publish", rawPath, filepath.Join(dir, "a"), "--key", key}, nil, 1, "no esxi-writer given"},
		{"one argument", []string{"publish", rawPath}, nil, 1, "accepts 2 arg"},
		{"ok, key from env", []string{"publish", rawPath, filepath.Join(dir, "out"), "--no-writer", "--chunk-size", "256KiB",
			"--esxi-version", "8.0.3", "--label", "ci=yes"}, []string{"ESXI_MINISIGN_KEY_FILE=" + key}, 0, "published esxi-8:"},
		{"again without --overwrite", []string{"publish", rawPath, filepath.Join(dir, "out"), "--no-writer", "--key", key}, nil, 1, "output exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, tc.args...)
			cmd.Env = append(env, tc.env...)
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(string(out), tc.out) {
				t.Fatalf("exit %d, want %d; output:\n%s\nwant it to contain %q", code, tc.code, out, tc.out)
			}
		})
	}
	got, err := exec.Command(zstd, "-d", "-c", filepath.Join(dir, "out", "esxi-8.img.zst")).Output()
	if err != nil || !bytes.Equal(got, raw) {
		t.Fatalf("zstd -d of the CLI's archive: %v, equal %v", err, bytes.Equal(got, raw))
	}
	m, _ := os.ReadFile(filepath.Join(dir, "out", "esxi-8.manifest.json"))
	if !strings.Contains(string(m), `"ci": "yes"`) || !strings.Contains(string(m), `"version": "8.0.3"`) {
		t.Fatalf("manifest lacks the labels or version:\n%.600s", m)
	}
}

// verify accepts the directory publish made and names what is wrong with a
// damaged one.
func TestVerifyCLI(t *testing.T) {
	bin := buildCLI(t)
	dir := t.TempDir()
	raw := make([]byte, 2<<20)
	copy(raw[300<<10:], bytes.Repeat([]byte("vmkernel "), 90000))
	rawPath := filepath.Join(dir, "img.raw")
	os.WriteFile(rawPath, raw, 0o644)
	key, _ := filepath.Abs("../../images/sign/testdata/test.key")
	pub, _ := filepath.Abs("../../images/sign/testdata/test.pub")
	out := filepath.Join(dir, "out")
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
		b, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(b)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(b)
	}
	if code, o := run("publish", rawPath, out, "--key", key, "--no-writer", "--chunk-size", "256KiB"); code != 0 {
		t.Fatalf("publish: %s", o)
	}
	if code, o := run("verify", out, "--pub", pub); code != 0 || !strings.Contains(o, "signature ok") || !strings.Contains(o, "img.img.zst ok") {
		t.Fatalf("verify: exit %d\n%s", code, o)
	}
	if code, o := run("verify", out); code != 2 || !strings.Contains(o, "--pub") {
		t.Fatalf("verify without a key: exit %d\n%s", code, o)
	}

	zst := filepath.Join(out, "img.img.zst")
	good, _ := os.ReadFile(zst)
	mpath := filepath.Join(out, "img.manifest.json")
	goodM, _ := os.ReadFile(mpath)
	for _, tc := range []struct {
		name   string
		damage func()
		msg    string
	}{
		{"flipped archive byte", func() { b := bytes.Clone(good); b[len(b)/3] ^= 1; os.WriteFile(zst, b, 0o644) }, "chunk "},
		{"truncated archive", func() { os.WriteFile(zst, good[:len(good)-100], 0o644) }, "archive.size"},
		{"edited manifest", func() {
			os.WriteFile(mpath, bytes.Replace(goodM, []byte(`"version": "`), []byte(`"version": "9`), 1), 0o644)
		}, "signature verification failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.damage()
			defer os.WriteFile(zst, good, 0o644)
			defer os.WriteFile(mpath, goodM, 0o644)
			code, o := run("verify", out, "--pub", pub)
			if code != 1 || !strings.Contains(o, tc.msg) {
				t.Fatalf("exit %d, want 1 with %q:\n%s", code, tc.msg, o)
			}
		})
	}
}
