// Command esxi-firstboot is the first-boot agent of the golden ESXi image:
// it reads instance metadata and configures the host once per instance.
// It runs on ESXi's userworld, where Go's network poller cannot work, so
// everything it does goes through firstboot/nopoll and firstboot/httpc.
// Each subcommand lives in its own file and registers itself on root.
package main

import (
	"os"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

var root = cli.NewRoot("esxi-firstboot", "Configure an ESXi host from instance metadata, once per instance", `esxi-firstboot reads instance metadata (Equinix/Tinkerbell Hegel, EC2-style,
OpenStack, NoCloud, VMware guestinfo or a file) and turns a freshly installed
golden ESXi host into the host the metadata describes: hostname, SSH keys,
root password hash, uplinks by MAC, management and private networks, DNS,
NTP, userdata. "plan" shows what it would do on any Linux machine.`)

func main() {
	// Before anything allocates much: the scavenger's timer would start
	// the network poller, which ESXi cannot run (see firstboot/nopoll).
	nopoll.DisableGC()
	os.Exit(cli.Run(root, os.Args[1:], os.Stderr))
}
