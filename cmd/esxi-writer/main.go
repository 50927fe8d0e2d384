// Command esxi-writer writes a published ESXi golden image onto a disk at
// the speed of the hardware, verified, or fails loudly leaving a disk that
// cannot boot. With no subcommand and IMG_URL set it behaves as a drop-in
// for Tinkerbell's image2disk action.
package main

import (
	"os"

	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

func main() {
	os.Exit(cli.Run(newRoot(), os.Args[1:], os.Stderr))
}
