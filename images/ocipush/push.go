// Package ocipush pushes a publish directory to an OCI registry with
// oras-go, so fleets can pull images from the registry they already run:
// Tinkerbell's oci2disk writes the image layer to disk as it is, and our
// writer can fetch the signed manifest layer first and the image blob by
// Range.
//
// Layout (one OCI image manifest, v1.1):
//   - artifactType ArtifactType;
//   - the image: media type application/vnd.oci.image.layer.v1.tar (the
//     only type oci2disk pulls) titled <name>.img.zst;
//   - the manifest, its signature, the bmap, the writer and SHA256SUMS with
//     their own media types, titled with their file names, which oci2disk
//     skips.
//
// For oci2disk with COMPRESSED=true, tag the artifact with a name ending
// in ".zs" (oci2disk picks the decompressor from that suffix).
package ocipush

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/file"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/retry"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/publish"
	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// Media types of the artifact and its layers.
const (
	ArtifactType      = "application/vnd.esxi-golden.image.v1"
	ImageMediaType    = ocispec.MediaTypeImageLayer // what oci2disk pulls
	ManifestMediaType = "application/vnd.esxi-golden.manifest.v1+json"
	SigMediaType      = "application/vnd.esxi-golden.minisig.v1"
	BmapMediaType     = "application/vnd.esxi-golden.bmap.v2+xml"
	WriterMediaType   = "application/vnd.esxi-golden.writer.v1.linux-amd64"
	SumsMediaType     = "application/vnd.esxi-golden.sha256sums.v1"
)

// ErrReference is wrapped for an unusable registry reference.
var ErrReference = errors.New("registry reference")

// Options for Push.
type Options struct {
	// PlainHTTP talks HTTP instead of HTTPS (a registry on loopback or
	// inside a provisioning network).
	PlainHTTP bool
	Username  string
	Password  secret.Secret
}

// Push uploads the files of res to ref (host/repository:tag) and returns
// the pushed OCI manifest's descriptor.
func Push(ctx context.Context, res *publish.Result, ref string, o Options) (ocispec.Descriptor, error) {
	r, err := registry.ParseReference(ref)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w %q: %w", ErrReference, ref, err)
	}
	if r.Reference == "" {
		return ocispec.Descriptor{}, fmt.Errorf("%w %q: needs a tag, e.g. %s:%s.zs", ErrReference, ref, ref, res.Manifest.Name)
	}
	repo, err := remote.NewRepository(ref)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w %q: %w", ErrReference, ref, err)
	}
	repo.PlainHTTP = o.PlainHTTP
	client := &auth.Client{Client: retry.DefaultClient, Cache: auth.NewCache()}
	if o.Username != "" || !o.Password.IsZero() {
		client.Credential = auth.StaticCredential(r.Registry, auth.Credential{Username: o.Username, Password: o.Password.Reveal()})
	}
	repo.Client = client

	store, err := file.New(res.Dir)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer store.Close()
	var layers []ocispec.Descriptor
	for _, f := range []struct{ path, mediaType string }{
		{res.Archive, ImageMediaType},
		{res.ManifestFile, ManifestMediaType},
		{res.Signature, SigMediaType},
		{res.Bmap, BmapMediaType},
		{res.Writer, WriterMediaType},
		{res.Sums, SumsMediaType},
		{sumsSig(res), SigMediaType},
	} {
		if f.path == "" {
			continue
		}
		name := filepath.Base(f.path)
		d, err := store.Add(ctx, name, f.mediaType, name)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("add %s: %w", name, err)
		}
		layers = append(layers, d)
	}
	m := res.Manifest
	desc, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, ArtifactType, oras.PackManifestOptions{
		Layers: layers,
		ManifestAnnotations: map[string]string{
			ocispec.AnnotationTitle:          m.Name,
			ocispec.AnnotationCreated:        m.Created.Format("2006-01-02T15:04:05Z"),
			"dev.esxi-golden.image.sha256":   m.Image.SHA256.String(),
			"dev.esxi-golden.esxi.version":   m.ESXi.Version,
			"dev.esxi-golden.esxi.build":     m.ESXi.Build,
			"dev.esxi-golden.format.version": fmt.Sprint(format.ManifestVersion),
		},
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("pack OCI manifest: %w", err)
	}
	if err := store.Tag(ctx, desc, r.Reference); err != nil {
		return ocispec.Descriptor{}, err
	}
	if _, err := oras.Copy(ctx, store, r.Reference, repo, r.Reference, oras.DefaultCopyOptions); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("push %s: %w", ref, err)
	}
	return desc, nil
}

// sumsSig is SHA256SUMS.minisig when Publish signed SHA256SUMS.
func sumsSig(res *publish.Result) string {
	for _, f := range res.Files {
		if filepath.Base(f) == publish.SumsName+format.SignatureSuffix {
			return f
		}
	}
	return ""
}

// Environment variables OptionsFromEnv reads.
const (
	EnvUsername = "ESXI_REGISTRY_USERNAME"
	EnvPassword = "ESXI_REGISTRY_PASSWORD"
)

// OptionsFromEnv takes registry credentials from the environment, so they
// never appear on a command line or in a template.
func OptionsFromEnv(plainHTTP bool) Options {
	return Options{PlainHTTP: plainHTTP, Username: os.Getenv(EnvUsername), Password: secret.New(os.Getenv(EnvPassword))}
}
