//go:build linux

// Command init is PID 1 of the ESXi installer simulator. It stands in for
// VMware's installer ("weasel") under QEMU: it reads /BOOT.CFG from the CD,
// the kickstart its ks= option names, checks the kickstart with the same
// parser and linter the builder uses, writes an ESXi-shaped installed disk
// with the format library, acts out %post (completion marker, halt) and
// powers off, printing installer-like progress on the serial console.
//
// It lives under images/simulator (not cmd/) because it is part of the
// simulator image, built static into the initramfs by the Makefile, and
// never shipped as a binary of its own.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/esxi-golden/packer-plugin-esxi/images/simulator"
)

// con is the serial console (the kernel's console=ttyS0 is /dev/console).
var con = os.Stdout

func say(format string, args ...any) {
	fmt.Fprintf(con, format+"\n", args...)
}

// failure is an error the simulator reports the way the real installer
// would, with the console line the builder must quote.
type failure struct {
	line string
	err  error
}

func (f *failure) Error() string { return f.line + ": " + f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

func main() {
	start := time.Now()
	err := run()
	var f *failure
	switch {
	case err == nil:
		say("simulator: done in %s, powering off", time.Since(start).Round(time.Millisecond))
		powerOff()
	case errors.As(err, &f):
		// The real installer shows its error and waits for a key; so do we.
		say("%s", f.line)
		say("")
		say("error: %v", f.err)
		say("Press <Enter> to reboot.")
		hang()
	case errors.Is(err, errCrash):
		say("simulator: crashing before power-off (fault %s)", simulator.FaultCrash)
		os.Exit(1) // PID 1 exits: kernel panic, panic=-1 resets, QEMU -no-reboot exits
	case errors.Is(err, errHang):
		hang()
	default:
		say("An error has occurred during the installation: %v", err)
		hang()
	}
}

var (
	errCrash = errors.New("simulated crash")
	errHang  = errors.New("simulated hang")
)

func hang() {
	for {
		time.Sleep(time.Hour)
	}
}

func powerOff() {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		say("simulator: power off: %v", err)
	}
	hang()
}

func run() error {
	if err := mountBasics(); err != nil {
		return err
	}
	say("")
	say("Loading ESXi installer simulator")
	if err := loadModules(simulator.ModulesOrderPath); err != nil {
		return err
	}
	cd, disk, err := findDevices(20 * time.Second)
	if err != nil {
		return err
	}
	if err := unix.Mount(cd, cdromDir, "iso9660", unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mount %s on %s: %w", cd, cdromDir, err)
	}
	defer unix.Unmount(cdromDir, 0)

	inst, err := newInstall(cdromDir, disk)
	if err != nil {
		return err
	}
	return inst.run()
}

const cdromDir = "/cdrom"

func mountBasics() error {
	for _, m := range []struct{ src, dst, typ string }{
		{"proc", "/proc", "proc"},
		{"sysfs", "/sys", "sysfs"},
		{"devtmpfs", "/dev", "devtmpfs"},
	} {
		if err := unix.Mount(m.src, m.dst, m.typ, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	return nil
}

func loadModules(orderFile string) error {
	b, err := os.ReadFile(orderFile)
	if err != nil {
		return err
	}
	for _, p := range strings.Fields(string(b)) {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("load module %s: %w", p, err)
		}
	}
	return nil
}

// findDevices polls sysfs until a CD-ROM and a disk appear: the SCSI layer
// probes them asynchronously after the drivers load.
func findDevices(timeout time.Duration) (cd, disk string, err error) {
	deadline := time.Now().Add(timeout)
	for {
		ents, _ := os.ReadDir("/sys/block")
		cd, disk = "", ""
		for _, e := range ents {
			n := e.Name()
			switch {
			case strings.HasPrefix(n, "sr") && cd == "":
				cd = "/dev/" + n
			case strings.HasPrefix(n, "sd") && disk == "":
				disk = "/dev/" + n
			}
		}
		if cd != "" && disk != "" {
			return cd, disk, nil
		}
		if time.Now().After(deadline) {
			return "", "", fmt.Errorf("no %s found in /sys/block after %s (cd %q, disk %q)",
				map[bool]string{true: "disk", false: "CD-ROM"}[cd != ""], timeout, cd, disk)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func rebootNow() {
	unix.Sync()
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
		say("simulator: reboot: %v", err)
	}
	hang()
}
