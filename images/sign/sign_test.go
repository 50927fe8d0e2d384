package sign

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

func TestLoad(t *testing.T) {
	keyText, err := os.ReadFile("testdata/test.key")
	if err != nil {
		t.Fatal(err)
	}
	wantID := "A4093A96E14F815"
	for _, tc := range []struct {
		name    string
		src     KeySource
		wantErr error
		errHas  string
	}{
		{name: "file", src: KeySource{File: "testdata/test.key"}},
		{name: "env text", src: KeySource{Key: secret.New(string(keyText))}},
		{name: "file wins over text", src: KeySource{File: "testdata/test.key", Key: secret.New("garbage")}},
		{name: "nothing", src: KeySource{}, wantErr: ErrNoKey},
		{name: "missing file", src: KeySource{File: "testdata/nope.key"}, wantErr: ErrKey, errHas: "nope.key"},
		{name: "public key is not a secret key", src: KeySource{File: "testdata/test.pub"}, wantErr: ErrKey, errHas: "not a minisign secret key"},
		{name: "garbage text", src: KeySource{Key: secret.New("hunter2-not-a-key")}, wantErr: ErrKey, errHas: EnvKey},
		{name: "encrypted without password", src: KeySource{File: "testdata/enc.key"}, wantErr: ErrKey, errHas: EnvPassword},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(tc.src)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(fmt.Sprint(err), tc.errHas) {
					t.Fatalf("Load: %v, want %v containing %q", err, tc.wantErr, tc.errHas)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error leaks key text: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.KeyID() != wantID {
				t.Fatalf("key id %s, want %s", s.KeyID(), wantID)
			}
		})
	}
}

// testdata/enc.key is encrypted at a low scrypt cost (see testdata/README.md).
func TestLoadEncrypted(t *testing.T) {
	_, err := Load(KeySource{File: "testdata/enc.key", Password: secret.New("wrong-pw")})
	if !errors.Is(err, ErrKey) || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("wrong password: %v", err)
	}
	s, err := Load(KeySource{File: "testdata/enc.key", Password: secret.New("hunter2")})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey("testdata/enc.pub")
	if err != nil {
		t.Fatal(err)
	}
	if !s.PublicKey().Equal(pub) {
		t.Fatal("decrypted key does not match enc.pub")
	}
}

func TestSignerRedacted(t *testing.T) {
	s, err := Load(KeySource{File: "testdata/test.key"})
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("key", "signer", s)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logBuf.String()} {
		if !strings.Contains(out, secret.Redacted) || strings.Contains(out, "bytes") {
			t.Fatalf("signer printed as %q", out)
		}
	}
}

// The stock minisign must accept our signature and reject it after any
// single flipped byte of the message; our Verify must agree.
func TestMinisignInterop(t *testing.T) {
	minisignBin := tooltest.Path(t, "minisign")
	s, err := Load(KeySource{File: "testdata/test.key"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	msg := []byte(`{"kind":"esxi-golden-image","version":1}` + "\n")
	msgPath := filepath.Join(dir, "m.json")
	if err := os.WriteFile(msgPath, msg, 0o644); err != nil {
		t.Fatal(err)
	}
	sig, err := s.Sign(bytes.NewReader(msg), "file:m.json image_sha256:abc")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(msgPath+".minisig", sig, 0o644); err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "k.pub")
	if err := os.WriteFile(pubPath, MarshalPublicKey(s.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() (string, error) {
		out, err := exec.Command(minisignBin, "-V", "-p", pubPath, "-m", msgPath).CombinedOutput()
		return string(out), err
	}
	out, err := run()
	if err != nil || !strings.Contains(out, "Trusted comment: file:m.json image_sha256:abc") {
		t.Fatalf("minisign -V rejected our signature: %v\n%s", err, out)
	}
	pub, err := LoadPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := Verify(pub, msg, sig); err != nil || c != "file:m.json image_sha256:abc" {
		t.Fatalf("Verify: %q, %v", c, err)
	}

	for _, pos := range []int{0, len(msg) / 2, len(msg) - 1} {
		bad := bytes.Clone(msg)
		bad[pos] ^= 0x01
		if err := os.WriteFile(msgPath, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := run(); err == nil {
			t.Fatalf("minisign -V accepted a message with byte %d flipped:\n%s", pos, out)
		}
		if _, err := Verify(pub, bad, sig); !errors.Is(err, ErrSignature) {
			t.Fatalf("Verify accepted byte %d flipped: %v", pos, err)
		}
	}

	// A changed trusted comment breaks the global signature.
	badSig := bytes.Replace(sig, []byte("image_sha256:abc"), []byte("image_sha256:abd"), 1)
	if _, err := Verify(pub, msg, badSig); !errors.Is(err, ErrSignature) {
		t.Fatalf("Verify accepted a changed trusted comment: %v", err)
	}
	// Another key.
	other, err := LoadPublicKey("testdata/enc.pub")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(other, msg, sig); !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "signed by key A4093A96E14F815") {
		t.Fatalf("Verify with another key: %v", err)
	}
	if _, err := s.Sign(bytes.NewReader(msg), "two\nlines"); err == nil {
		t.Fatal("Sign accepted a two-line trusted comment")
	}
}

// A signature made by the stock minisign verifies with our Verify.
func TestVerifyMinisignMade(t *testing.T) {
	minisignBin := tooltest.Path(t, "minisign")
	dir := t.TempDir()
	msgPath := filepath.Join(dir, "f")
	if err := os.WriteFile(msgPath, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(minisignBin, "-S", "-s", "testdata/test.key", "-m", msgPath, "-t", "made by minisign").CombinedOutput(); err != nil {
		t.Fatalf("minisign -S: %v\n%s", err, out)
	}
	sig, err := os.ReadFile(msgPath + ".minisig")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey("testdata/test.pub")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := Verify(pub, []byte("hello\n"), sig); err != nil || c != "made by minisign" {
		t.Fatalf("Verify: %q %v", c, err)
	}
}
