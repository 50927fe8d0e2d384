package ocipush

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggcr "github.com/google/go-containerregistry/pkg/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/publish"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
)

func publishDir(t *testing.T) (*publish.Result, []byte) {
	t.Helper()
	dir := t.TempDir()
	raw := make([]byte, 3<<20+8192)
	copy(raw[1<<20:], bytes.Repeat([]byte("vmkernel esx.conf bootbank "), 40000))
	rawPath := filepath.Join(dir, "raw.img")
	if err := os.WriteFile(rawPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	signer, err := sign.Load(sign.KeySource{File: "../sign/testdata/test.key"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := publish.Publish(context.Background(), rawPath, filepath.Join(dir, "out"), publish.Options{
		Name: "esxi-test", ChunkSize: 256 << 10, Signer: signer, NoWriter: true,
		ESXi: format.ESXi{Version: "8.0.3", Build: "24022510"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, raw
}

// registryServer is go-containerregistry's in-process registry on
// loopback only.
func registryServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(ggcr.New(ggcr.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestPush(t *testing.T) {
	res, raw := publishDir(t)
	host := registryServer(t)
	ref := host + "/esxi/golden:esxi-test.zs"
	ctx := context.Background()
	desc, err := Push(ctx, res, ref, Options{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}

	// Read it back with a fresh client.
	repo, err := remote.NewRepository(ref)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	got, rc, err := repo.FetchReference(ctx, "esxi-test.zs")
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(rc)
	rc.Close()
	if got.Digest != desc.Digest {
		t.Fatalf("tag resolves to %s, pushed %s", got.Digest, desc.Digest)
	}
	var man ocispec.Manifest
	if err := json.Unmarshal(mb, &man); err != nil {
		t.Fatal(err)
	}
	if man.ArtifactType != ArtifactType || man.Annotations["dev.esxi-golden.image.sha256"] != res.Manifest.Image.SHA256.String() {
		t.Fatalf("manifest %s", mb)
	}
	want := map[string]string{
		"esxi-test.img.zst":               ImageMediaType,
		"esxi-test.manifest.json":         ManifestMediaType,
		"esxi-test.manifest.json.minisig": SigMediaType,
		"esxi-test.bmap":                  BmapMediaType,
		"SHA256SUMS":                      SumsMediaType,
		"SHA256SUMS.minisig":              SigMediaType,
	}
	if len(man.Layers) != len(want) {
		t.Fatalf("%d layers, want %d: %s", len(man.Layers), len(want), mb)
	}
	oci2disk := 0
	for _, l := range man.Layers {
		title := l.Annotations[ocispec.AnnotationTitle]
		if want[title] != l.MediaType {
			t.Fatalf("layer %q has media type %q, want %q", title, l.MediaType, want[title])
		}
		b, err := os.ReadFile(filepath.Join(res.Dir, title))
		if err != nil {
			t.Fatal(err)
		}
		if l.Digest != digest.FromBytes(b) || l.Size != int64(len(b)) {
			t.Fatalf("layer %q: digest %s size %d, file %s %d", title, l.Digest, l.Size, digest.FromBytes(b), len(b))
		}
		// oci2disk writes only titled layers of the tar layer type.
		if l.MediaType == "application/vnd.oci.image.layer.v1.tar" {
			oci2disk++
		}
	}
	if oci2disk != 1 {
		t.Fatalf("%d layers oci2disk would write to disk, want exactly the image", oci2disk)
	}

	// A writer can fetch one chunk of the image blob by HTTP Range and
	// verify it against the manifest.
	m := res.Manifest
	var img ocispec.Descriptor
	for _, l := range man.Layers {
		if l.MediaType == ImageMediaType {
			img = l
		}
	}
	var s format.Span
	for _, sp := range m.Spans() {
		if !sp.Zero {
			s = sp
			break
		}
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/v2/esxi/golden/blobs/%s", host, img.Digest), nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", s.Offset, s.Offset+s.Length-1))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frame, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("range request: %s", resp.Status)
	}
	dec, _ := format.NewDecoder(m.Image.ChunkSize, 1)
	defer dec.Close()
	chunk, err := format.DecodeChunk(dec, s, frame, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chunk, raw[s.RawOffset:s.RawOffset+s.RawSize]) {
		t.Fatalf("chunk %d fetched by range differs from the raw image", s.Index)
	}
	if sha256.Sum256(chunk) != s.SHA256 {
		t.Fatal("digest")
	}
}

func TestPushErrors(t *testing.T) {
	res, _ := publishDir(t)
	ctx := context.Background()
	if _, err := Push(ctx, res, "not a ref", Options{}); !errors.Is(err, ErrReference) {
		t.Fatalf("bad reference: %v", err)
	}
	if _, err := Push(ctx, res, registryServer(t)+"/esxi/golden", Options{PlainHTTP: true}); !errors.Is(err, ErrReference) || !strings.Contains(err.Error(), "needs a tag") {
		t.Fatalf("no tag: %v", err)
	}
	// A registry that is gone: the error says where it was pushing.
	srv := httptest.NewServer(http.NotFoundHandler())
	host := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := Push(ctx, res, host+"/esxi/golden:x", Options{PlainHTTP: true}); err == nil || !strings.Contains(err.Error(), "push "+host) {
		t.Fatalf("closed registry: %v", err)
	}
}
