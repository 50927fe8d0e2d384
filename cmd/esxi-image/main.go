// Command esxi-image is the operator's tool for ESXi images: inspect,
// remaster, kickstart, publish. Each subcommand lives in its own file and
// registers itself on root in an init function.
package main

import (
	"os"

	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

var root = cli.NewRoot("esxi-image", "Inspect, remaster and publish ESXi installer ISOs and golden disk images", "")

func main() {
	os.Exit(cli.Run(root, os.Args[1:], os.Stderr))
}
