package writer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"aead.dev/minisign"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/decompress"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/fetch"
)

// maxManifest bounds what is read before the signature is checked: a
// 32 GiB image in 4 MiB chunks has a ~1 MiB manifest.
const maxManifest = 64 << 20

// Signed is a manifest whose signature verified.
type Signed struct {
	Manifest       *format.Manifest
	TrustedComment string
	Plan           *Plan
	// Image is where the archive lives: the manifest's archive.file next
	// to the manifest, unless the caller gave a location.
	Image string
}

// LoadSigned fetches the manifest and its signature, verifies the
// signature over the manifest's exact bytes before parsing a single field
// of it, then parses and validates it. sigLoc defaults to
// manifestLoc + ".minisig".
func LoadSigned(ctx context.Context, manifestLoc, sigLoc string, pub minisign.PublicKey, fo fetch.Options) (*Signed, error) {
	if sigLoc == "" {
		sigLoc = manifestLoc + ".minisig"
	}
	body, err := fetch.ReadAll(ctx, manifestLoc, maxManifest, fo)
	if err != nil {
		return nil, kindOf(KindSource, fmt.Errorf("manifest: %w", err))
	}
	sig, err := fetch.ReadAll(ctx, sigLoc, 64<<10, fo)
	if err != nil {
		return nil, kindOf(KindSource, fmt.Errorf("manifest signature: %w", err))
	}
	comment, err := sign.Verify(pub, body, sig)
	if err != nil {
		return nil, &Error{Kind: KindVerify, Err: fmt.Errorf("%w: manifest %s: %w", ErrVerify, manifestLoc, err)}
	}
	m, err := format.ParseManifest(body)
	if err != nil {
		return nil, &Error{Kind: KindVerify, Err: fmt.Errorf("%w: manifest %s: %w", ErrVerify, manifestLoc, err)}
	}
	return &Signed{Manifest: m, TrustedComment: comment, Plan: PlanFromManifest(m), Image: sibling(manifestLoc, m.Archive.File)}, nil
}

// sibling resolves name next to loc (a URL or a path).
func sibling(loc, name string) string {
	if u, err := url.Parse(loc); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		u.Path = path.Join(path.Dir(u.Path), name)
		u.RawPath = ""
		return u.String()
	}
	return filepath.Join(filepath.Dir(loc), name)
}

// PlanFromManifest turns a validated manifest into the writer's work list.
func PlanFromManifest(m *format.Manifest) *Plan {
	p := &Plan{ImageSize: m.Image.Size, ArchiveSize: m.Archive.Size}
	for _, s := range m.Spans() {
		p.Chunks = append(p.Chunks, Chunk{
			Offset: s.RawOffset, Size: s.RawSize, CompOffset: s.Offset, CompSize: s.Length,
			Zero: s.Zero, SHA256: s.SHA256,
		})
	}
	return p
}

// seekablePlan recognises a seekable zstd archive without its manifest
// (compat mode): zstd magic first, a valid seek table last. It returns
// nil when the image is anything else, so the stream engine takes over.
func seekablePlan(ctx context.Context, src fetch.Source, req *Request) (*Plan, error) {
	if req.Compression == decompress.Never || rangesIgnored(src) || src.Size() < 32 {
		return nil, nil
	}
	var head [8]byte
	if _, err := fetch.ReaderAt(ctx, src).ReadAt(head[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, kindOf(KindSource, err)
	}
	if decompress.Detect(head[:]) != decompress.Zstd {
		return nil, nil
	}
	t, _, err := format.ReadSeekTable(fetch.ReaderAt(ctx, src), src.Size())
	if errors.Is(err, format.ErrSeekTable) {
		return nil, nil
	}
	if err != nil {
		return nil, kindOf(KindSource, err)
	}
	p := &Plan{Unverified: true, ArchiveSize: src.Size()}
	for _, f := range t.Frames() {
		if f.RawSize <= 0 || f.RawSize > 1<<30 {
			return nil, nil // not frames this engine can buffer; stream it
		}
		p.Chunks = append(p.Chunks, Chunk{Offset: f.RawOffset, Size: f.RawSize, CompOffset: f.Offset, CompSize: f.Size})
		p.ImageSize += f.RawSize
	}
	if req.SHA256 != "" {
		want, err := parseSHA256(req.SHA256)
		if err != nil {
			return nil, err
		}
		p.FileSHA256 = want
	}
	return p, nil
}

func parseSHA256(s string) ([]byte, error) {
	h := strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "sha256:")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return nil, &Error{Kind: KindUsage, Err: fmt.Errorf("sha256 %q: want 64 hex digits", s)}
	}
	return b, nil
}
