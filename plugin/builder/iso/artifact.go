package iso

import (
	"fmt"
	"os"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// Artifact is the installed, never-booted raw disk and what describes it.
type Artifact struct {
	DiskPath      string // raw disk image
	ConsoleLog    string // serial console of the install
	KickstartPath string // the kickstart used, secrets redacted
	Version       string // ESXi version from the ISO, e.g. 8.0.3
	Build         string // ESXi build number from the ISO, e.g. 24022510
	OutputDir     string
	StateData     map[string]interface{}
}

var _ packersdk.Artifact = (*Artifact)(nil)

func (*Artifact) BuilderId() string { return BuilderID }

func (a *Artifact) Files() []string { return []string{a.DiskPath, a.ConsoleLog, a.KickstartPath} }

func (a *Artifact) Id() string { return a.DiskPath }

func (a *Artifact) String() string {
	return fmt.Sprintf("ESXi %s (build %s) golden disk: %s", a.Version, a.Build, a.DiskPath)
}

func (a *Artifact) State(name string) interface{} { return a.StateData[name] }

func (a *Artifact) Destroy() error { return os.RemoveAll(a.OutputDir) }
