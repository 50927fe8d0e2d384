// Command fakeesx is the fake ESXi host as a multi-call binary for tests
// of the built agent: linked as esxcli, localcli, vim-cmd, vmkping,
// auto-backup.sh, bootOption and vmware-rpctool, it loads the host from
// $FAKEESX_STATE, runs one command, saves the host, and exits like the
// tool would.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi/fakehost"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
)

func main() {
	nopoll.DisableGC()
	path := os.Getenv("FAKEESX_STATE")
	if path == "" {
		fmt.Fprintln(os.Stderr, "fakeesx: FAKEESX_STATE is not set")
		os.Exit(2)
	}
	h, err := fakehost.Load(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeesx:", err)
		os.Exit(2)
	}
	argv := append([]string{filepath.Base(os.Args[0])}, os.Args[1:]...)
	out, runErr := h.Run(argv...)
	if err := h.Save(path); err != nil {
		fmt.Fprintln(os.Stderr, "fakeesx:", err)
		os.Exit(2)
	}
	os.Stdout.Write(out)
	var ee *esxi.ExitError
	if errors.As(runErr, &ee) {
		fmt.Fprintln(os.Stderr, ee.Stderr)
		os.Exit(ee.Code)
	}
	if runErr != nil {
		fmt.Fprintln(os.Stderr, runErr)
		os.Exit(1)
	}
}
