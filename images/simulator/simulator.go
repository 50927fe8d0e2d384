// Package simulator builds the ESXi installer simulator: a small bootable ISO
// shaped like VMware's installer ISO (same file names, both BOOT.CFGs, El
// Torito BIOS + EFI entries) whose "installer" is Debian's Linux kernel plus
// a static Go /init (./init). It lets CI and `make image` run every step of
// the golden-image build for real, except VMware's own installer.
//
// This file holds what the ISO builder (./mksim), the /init and the tests
// share: the fault modes and the console lines the simulator prints.
package simulator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// Fault selects a failure the simulator acts out instead of a clean install,
// so tests can prove the builder fails loudly on each.
type Fault string

// The fault modes. FaultNone is a clean install.
const (
	FaultNone      Fault = ""
	FaultPSOD      Fault = "psod"      // print a purple-screen dump and hang
	FaultInstaller Fault = "installer" // print an installer error and hang
	FaultKickstart Fault = "kickstart" // report a kickstart error and hang
	FaultHang      Fault = "hang"      // stop printing and never power off
	FaultCrash     Fault = "crash"     // install, then crash (reset) before power-off
)

// Faults lists every fault mode, for tests and help text.
var Faults = []Fault{FaultPSOD, FaultInstaller, FaultKickstart, FaultHang, FaultCrash}

// FaultOption is the boot option (kernelopt word `simulator.fault=<mode>`)
// and FaultComment the kickstart comment (`# simulator.fault: <mode>`) that
// choose a fault. The boot option wins when both are given.
const (
	FaultOption  = "simulator.fault"
	FaultComment = "# simulator.fault:"
)

// ErrUnknownFault is returned for a fault name that is not one of Faults.
var ErrUnknownFault = errors.New("unknown simulator fault")

// ParseFault checks a fault name.
func ParseFault(s string) (Fault, error) {
	f := Fault(strings.ToLower(strings.TrimSpace(s)))
	if f == FaultNone {
		return FaultNone, nil
	}
	for _, k := range Faults {
		if f == k {
			return f, nil
		}
	}
	return FaultNone, fmt.Errorf("%w %q, want one of %v", ErrUnknownFault, s, Faults)
}

// FaultFromBootOptions finds `simulator.fault=<mode>` among kernel options.
func FaultFromBootOptions(kernelopt string) (Fault, error) {
	for _, w := range strings.Fields(kernelopt) {
		if v, ok := strings.CutPrefix(w, FaultOption+"="); ok {
			return ParseFault(v)
		}
	}
	return FaultNone, nil
}

// FaultFromKickstart finds a `# simulator.fault: <mode>` comment line.
func FaultFromKickstart(ks []byte) (Fault, error) {
	sc := bufio.NewScanner(bytes.NewReader(ks))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), FaultComment); ok {
			return ParseFault(v)
		}
	}
	return FaultNone, nil
}

// Console lines the simulator prints for each fault. They follow what the
// real installer and vmkernel print (a PSOD is logged as "@BlueScreen: ...",
// a weasel failure as "An error has occurred ..."), so the builder's console
// matcher is exercised on realistic text.
const (
	PSODLine           = "@BlueScreen: #PF Exception 14 in world 2099452:weasel IP 0x41802a6b1c2d addr 0x0"
	InstallerErrorLine = "An error has occurred during the installation: Could not format a vmfat volume on mpx.vmhba0:C0:T0:L0"
	KickstartErrorLine = "An error has occurred while parsing the installation script"
	// HaltLine is printed when %post's halt runs, just before power-off.
	HaltLine = "Installation complete. Halting (kickstart %post halt)."
)
