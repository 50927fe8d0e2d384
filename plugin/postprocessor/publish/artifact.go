package publish

import (
	"fmt"
	"os"

	"github.com/esxi-golden/packer-plugin-esxi/images/publish"
)

// Artifact is a publish directory.
type Artifact struct {
	Result *publish.Result
}

func (a *Artifact) BuilderId() string { return BuilderID }

// Files are every published file with its path, SHA256SUMS included, so
// the checksum and manifest post-processors see the real files.
func (a *Artifact) Files() []string { return a.Result.Files }

// Id is the raw image's sha256: what identifies the image across copies.
func (a *Artifact) Id() string { return a.Result.Manifest.Image.SHA256.String() }

func (a *Artifact) String() string {
	m := a.Result.Manifest
	return fmt.Sprintf("ESXi image %s published in %s (%d files; image sha256 %s)", m.Name, a.Result.Dir, len(a.Result.Files), m.Image.SHA256)
}

// State exposes the manifest path and the manifest itself.
func (a *Artifact) State(name string) interface{} {
	switch name {
	case "manifest":
		return a.Result.ManifestFile
	case "image_sha256":
		return a.Result.Manifest.Image.SHA256.String()
	}
	return nil
}

// Destroy removes the published files.
func (a *Artifact) Destroy() error {
	for _, f := range a.Result.Files {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
