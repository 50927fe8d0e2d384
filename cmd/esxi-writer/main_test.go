package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/faultserve"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var errOut bytes.Buffer
	root := newRoot()
	root.SetOut(&errOut)
	root.SetErr(&errOut)
	code := cli.Run(root, args, &errOut)
	return code, errOut.String()
}

func image(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 3<<20+512)
	for i := range b[1<<20 : 2<<20] {
		b[1<<20+i] = byte(i * 7)
	}
	copy(b[510:], []byte{0x55, 0xaa})
	return b
}

func zstdOf(t *testing.T, b []byte) []byte {
	t.Helper()
	tooltest.Need(t, "zstd")
	cmd := exec.Command("zstd", "-q", "-c")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestHelpDocumentsEnv(t *testing.T) {
	code, out := runCLI(t, "write", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, env := range []string{"IMG_URL", "DEST_DISK", "COMPRESSED", "RETRY_ENABLED", "RETRY_DURATION_MINUTES", "PROGRESS_INTERVAL_SECONDS", "TEXT_LOGGING", "IMG_SHA256"} {
		if !strings.Contains(out, "env "+env) {
			t.Errorf("write --help does not document %s", env)
		}
	}
}

// TestImage2DiskCompat runs the root command the way a Tinkerbell action
// does: environment only, no arguments, image URL without a suffix.
func TestImage2DiskCompat(t *testing.T) {
	img := image(t)
	srv := faultserve.New(1)
	defer srv.Close()
	url := srv.Add("/esxi?X-Amz-Signature=1", zstdOf(t, img), faultserve.Faults{Cut: 0.5})
	disk := filepath.Join(t.TempDir(), "disk")
	t.Setenv("IMG_URL", url)
	t.Setenv("DEST_DISK", disk)
	t.Setenv("COMPRESSED", "true")
	t.Setenv("RETRY_ENABLED", "true")
	t.Setenv("RETRY_DURATION_MINUTES", "1")
	t.Setenv("PROGRESS_INTERVAL_SECONDS", "1")
	t.Setenv("TEXT_LOGGING", "false")
	code, out := runCLI(t)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	got, err := os.ReadFile(disk)
	if err != nil || !bytes.Equal(got, img) {
		t.Fatalf("target differs from image (err %v)", err)
	}
	if !strings.Contains(out, `"msg":"done"`) || !strings.Contains(out, `"written_bytes"`) {
		t.Fatalf("no JSON summary in output:\n%s", out)
	}
}

func TestExitCodes(t *testing.T) {
	img := image(t)
	dir := t.TempDir()
	zst := zstdOf(t, img)
	good := filepath.Join(dir, "good.zst")
	os.WriteFile(good, zst, 0o644)
	trunc := filepath.Join(dir, "trunc.zst")
	os.WriteFile(trunc, zst[:len(zst)/2], 0o644)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"ok", []string{"write", "--image", good, "--disk", filepath.Join(dir, "d1")}, 0, ""},
		{"no-disk", []string{"write", "--image", good}, 2, "usage: no target"},
		{"missing-source", []string{"write", "--image", filepath.Join(dir, "nope"), "--disk", filepath.Join(dir, "d2")}, 3, "source: "},
		{"truncated", []string{"write", "--image", trunc, "--disk", filepath.Join(dir, "d3")}, 4, "verify: "},
		{"bad-digest", []string{"write", "--image", good, "--sha256", strings.Repeat("0", 64), "--disk", filepath.Join(dir, "d4")}, 4, "sha256"},
		{"not-compressed", []string{"write", "--image", good, "--compressed", "true", "--disk", filepath.Join(dir, "d5"), "--sha256", "zz"}, 2, "usage: "},
		{"target-dir", []string{"write", "--image", good, "--disk", dir}, 5, "target: "},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.msg) {
				t.Fatalf("exit %d, want %d; output must contain %q:\n%s", code, tc.code, tc.msg, out)
			}
		})
	}
}

// The example Tinkerbell template uses only variables the writer reads.
func TestTemplateEnvIsDocumented(t *testing.T) {
	tmpl, err := os.ReadFile("../../images/writer/tinkerbell-template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, help := runCLI(t, "write", "--help")
	inEnv := false
	for _, line := range strings.Split(string(tmpl), "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "environment:") {
			inEnv = true
			continue
		}
		if !inEnv {
			continue
		}
		name, _, ok := strings.Cut(trim, ":")
		if !ok || strings.Contains(name, " ") || name == "" || strings.HasPrefix(trim, "-") {
			inEnv = false
			continue
		}
		if strings.HasPrefix(line, "        ") && !strings.HasPrefix(line, "          ") {
			inEnv = false
			continue
		}
		if name == "IMAGE" || name == "WAIT_SECONDS" {
			continue // the reboot action's
		}
		if !strings.Contains(help, "env "+name+")") {
			t.Errorf("template sets %s, which esxi-writer does not read", name)
		}
	}
}

// publish writes img in the project's format (archive, manifest,
// signature) into dir and returns the manifest path and public key file.
func publish(t *testing.T, dir string, img []byte) (string, string) {
	t.Helper()
	enc, err := format.NewEncoder(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var archive bytes.Buffer
	aw, err := format.NewArchiveWriter(&archive, int64(len(img)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for i := range aw.Chunks() {
		raw := img[int64(i)<<20 : int64(i)<<20+aw.RawSize(i)]
		if err := aw.Append(enc.Encode(nil, raw), raw); err != nil {
			t.Fatal(err)
		}
	}
	m, err := aw.Finish(format.Meta{Name: "esxi", Builder: format.Builder{Tool: "test", Version: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := m.Marshal()
	_, priv, _ := minisign.GenerateKey(nil)
	text, _ := priv.MarshalText()
	signer, err := sign.Load(sign.KeySource{Key: secret.New(string(text))})
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := signer.Sign(bytes.NewReader(body), "esxi")
	os.WriteFile(filepath.Join(dir, "esxi.img.zst"), archive.Bytes(), 0o644)
	os.WriteFile(filepath.Join(dir, "esxi.manifest.json"), body, 0o644)
	os.WriteFile(filepath.Join(dir, "esxi.manifest.json.minisig"), sig, 0o644)
	os.WriteFile(filepath.Join(dir, "esxi.pub"), sign.MarshalPublicKey(signer.PublicKey()), 0o644)
	return filepath.Join(dir, "esxi.manifest.json"), filepath.Join(dir, "esxi.pub")
}

func TestFastPathCLI(t *testing.T) {
	img := image(t)
	dir := t.TempDir()
	manifest, pub := publish(t, dir, img)
	disk := filepath.Join(dir, "disk")
	code, out := runCLI(t, "write", "--manifest", manifest, "--pubkey", pub, "--disk", disk)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	if got, _ := os.ReadFile(disk); !bytes.Equal(got, img) {
		t.Fatal("target differs")
	}
	if code, out := runCLI(t, "write", "--manifest", manifest, "--disk", disk); code != 2 || !strings.Contains(out, "--pubkey") {
		t.Fatalf("no pubkey: exit %d: %s", code, out)
	}
	// Tamper with the manifest: exit 4, and the disk is not touched.
	b, _ := os.ReadFile(manifest)
	os.WriteFile(manifest, bytes.Replace(b, []byte(`"esxi"`), []byte(`"esxj"`), 1), 0o644)
	os.WriteFile(disk, []byte("old install"), 0o644)
	code, out = runCLI(t, "write", "--manifest", manifest, "--pubkey", pub, "--disk", disk)
	if code != 4 || !strings.Contains(out, "signature verification failed") {
		t.Fatalf("tampered manifest: exit %d: %s", code, out)
	}
	if got, _ := os.ReadFile(disk); string(got) != "old install" {
		t.Fatal("a rejected manifest touched the disk")
	}
}
