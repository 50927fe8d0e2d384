package writer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"aead.dev/minisign"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/faultserve"
	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// published is an image published in the project's format by the format
// package (archive, manifest, minisign signature), with its public key.
type published struct {
	archive, manifest, sig []byte
	pub                    minisign.PublicKey
	m                      *format.Manifest
}

func publishFormat(t testing.TB, img []byte, chunk int64) published {
	t.Helper()
	enc, err := format.NewEncoder(3, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var archive bytes.Buffer
	aw, err := format.NewArchiveWriter(&archive, int64(len(img)), chunk)
	if err != nil {
		t.Fatal(err)
	}
	for i := range aw.Chunks() {
		raw := img[int64(i)*chunk : int64(i)*chunk+aw.RawSize(i)]
		if err := aw.Append(enc.Encode(nil, raw), raw); err != nil {
			t.Fatal(err)
		}
	}
	m, err := aw.Finish(format.Meta{Name: "esxi-test", Builder: format.Builder{Tool: "writer-test", Version: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	body, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	text, err := priv.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := sign.Load(sign.KeySource{Key: secret.New(string(text))})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := signer.Sign(bytes.NewReader(body), "name:esxi-test")
	if err != nil {
		t.Fatal(err)
	}
	return published{archive: archive.Bytes(), manifest: body, sig: sig, pub: signer.PublicKey(), m: m}
}

func (p published) files(t testing.TB, dir string) string {
	t.Helper()
	for name, b := range map[string][]byte{"esxi-test.img.zst": p.archive, "esxi-test.manifest.json": p.manifest, "esxi-test.manifest.json.minisig": p.sig} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "esxi-test.manifest.json")
}

func (p published) serve(srv *faultserve.Server, archiveFaults faultserve.Faults) string {
	srv.Add("/img/esxi-test.img.zst", p.archive, archiveFaults)
	srv.Add("/img/esxi-test.manifest.json.minisig", p.sig, faultserve.Faults{})
	return srv.Add("/img/esxi-test.manifest.json", p.manifest, faultserve.Faults{})
}

func TestSignedFastPath(t *testing.T) {
	img := testImage(t)
	pub := publishFormat(t, img, 1<<20)
	dir := t.TempDir()
	mpath := pub.files(t, dir)
	srv := faultserve.New(5)
	defer srv.Close()
	murl := pub.serve(srv, faultserve.Faults{Cut: 0.4, Rate503: 0.2})
	for _, loc := range []string{mpath, murl} {
		signed, err := LoadSigned(testCtx(t), loc, "", pub.pub, fastFetch())
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		disk := filepath.Join(t.TempDir(), "disk")
		res, err := Write(testCtx(t), Request{Image: signed.Image, Plan: signed.Plan, Disk: disk, Fetch: fastFetch()})
		checkOutcome(t, disk, img, err)
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		// Zero chunks are neither fetched nor decoded.
		var data int64
		for _, s := range pub.m.Spans() {
			if !s.Zero {
				data += s.RawSize
			}
		}
		if res.Summary.Decoded != data {
			t.Errorf("decoded %d bytes, want the data chunks' %d", res.Summary.Decoded, data)
		}
	}
	if srv.Injected() == 0 {
		t.Fatal("no fault injected")
	}
}

func TestSignedManifestRejected(t *testing.T) {
	img := testImage(t)
	pub := publishFormat(t, img, 1<<20)
	other := publishFormat(t, img[:4<<20], 1<<20)
	tampered := bytes.Replace(pub.manifest, []byte(`"data_chunks": `), []byte(`"data_chunks":  `), 1)
	if bytes.Equal(tampered, pub.manifest) {
		t.Fatal("tampering did not change the manifest")
	}
	cases := map[string]published{
		"tampered-manifest": {archive: pub.archive, manifest: tampered, sig: pub.sig, pub: pub.pub},
		"wrong-key":         {archive: pub.archive, manifest: pub.manifest, sig: pub.sig, pub: other.pub},
		"other-signature":   {archive: pub.archive, manifest: pub.manifest, sig: other.sig, pub: pub.pub},
		"garbage-signature": {archive: pub.archive, manifest: pub.manifest, sig: []byte("untrusted comment: x\nAAAA\n"), pub: pub.pub},
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			mpath := p.files(t, t.TempDir())
			_, err := LoadSigned(testCtx(t), mpath, "", p.pub, fastFetch())
			if ExitCode(err) != int(KindVerify) || !errors.Is(err, sign.ErrSignature) {
				t.Fatalf("want a verify error wrapping sign.ErrSignature, got %v", err)
			}
		})
	}
	// A signed manifest for another archive: the sizes disagree, found
	// before the target is touched.
	dir := t.TempDir()
	mpath := pub.files(t, dir)
	signed, err := LoadSigned(testCtx(t), mpath, "", pub.pub, fastFetch())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "esxi-test.img.zst"), other.archive, 0o644)
	disk := filepath.Join(dir, "disk")
	os.WriteFile(disk, img, 0o644)
	_, err = Write(testCtx(t), Request{Image: signed.Image, Plan: signed.Plan, Disk: disk})
	if ExitCode(err) != int(KindVerify) {
		t.Fatalf("want verify error, got %v", err)
	}
	checkOutcomeFrom(t, disk, img, img, err)
}

// Compat mode on a published archive (no manifest): the seek table gives
// the frames, which decode in parallel; the whole-file digest is checked.
func TestCompatOnSeekableArchive(t *testing.T) {
	img := testImage(t)
	pub := publishFormat(t, img, 1<<20)
	srv := faultserve.New(9)
	defer srv.Close()
	pub.serve(srv, faultserve.Faults{Cut: 0.5})
	url := srv.URL + "/img/esxi-test.img.zst"
	disk := filepath.Join(t.TempDir(), "disk")
	res, err := Write(testCtx(t), Request{Image: url, Disk: disk, Fetch: fastFetch(), SHA256: pub.m.Archive.SHA256.String()})
	checkOutcome(t, disk, img, err)
	if err != nil {
		t.Fatal(err)
	}
	if res.Summary.Fetched < int64(len(pub.archive)) {
		t.Fatalf("fetched %d of %d bytes: the digest cannot have covered the file", res.Summary.Fetched, len(pub.archive))
	}
	_, err = Write(testCtx(t), Request{Image: url, Disk: disk, Fetch: fastFetch(), SHA256: pub.m.Image.SHA256.String()})
	if ExitCode(err) != int(KindVerify) {
		t.Fatalf("wrong digest: want verify error, got %v", err)
	}
	checkOutcome(t, disk, img, err)
}
