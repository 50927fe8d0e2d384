// Package version is the one version shared by the Packer plugin and every
// command-line tool, so an operator can match a writer to the image it
// published and a plugin to the agent it injected.
package version

import (
	"github.com/hashicorp/packer-plugin-sdk/version"
)

// Version and VersionPrerelease are set at link time by the Makefile
// (-X .../internal/version.VersionPrerelease=). Packer only loads release
// versions or the "dev" prerelease, so nothing else may appear here.
var (
	Version           = "0.1.0"
	VersionPrerelease = "dev"
	VersionMetadata   = ""
)

// PluginVersion is what `packer-plugin-esxi describe` reports.
var PluginVersion = version.NewPluginVersion(Version, VersionPrerelease, VersionMetadata)

// String is the human form printed by every binary's --version.
func String() string {
	return PluginVersion.String()
}
