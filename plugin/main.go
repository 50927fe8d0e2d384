// Command packer-plugin-esxi is the Packer plugin. It only registers
// components; each lives in its own package under plugin/ and is a thin
// shell over a library elsewhere in the module.
package main

import (
	"fmt"
	"os"

	"github.com/hashicorp/packer-plugin-sdk/plugin"

	"github.com/esxi-golden/packer-plugin-esxi/internal/version"
	"github.com/esxi-golden/packer-plugin-esxi/plugin/postprocessor/publish"
)

func main() {
	pps := plugin.NewSet()
	pps.RegisterPostProcessor("publish", new(publish.PostProcessor))
	pps.SetVersion(version.PluginVersion)
	if err := pps.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
