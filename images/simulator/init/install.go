//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
	"github.com/esxi-golden/packer-plugin-esxi/images/simulator"
	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

// install is one simulated installer run.
type install struct {
	cdDir, disk string
	boot        *bootcfg.Config
	build       string
	ksOpt       string // ks= value, e.g. cdrom:/KS.CFG
	// systemMediaSize is the boot option sizing OSDATA (min, small,
	// default, max), passed to disk.Plan as the real installer honours it.
	systemMediaSize string
	fault           simulator.Fault
}

func newInstall(cdDir, disk string) (*install, error) {
	raw, err := readCD(cdDir, "/BOOT.CFG")
	if err != nil {
		return nil, err
	}
	cfg, err := bootcfg.ParseBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("/BOOT.CFG: %w", err)
	}
	in := &install{cdDir: cdDir, disk: disk, boot: cfg, build: cfg.Build()}
	opts := cfg.KernelOpt()
	say("Boot options: %s", opts)
	if in.fault, err = simulator.FaultFromBootOptions(opts.String()); err != nil {
		return nil, fmt.Errorf("/BOOT.CFG kernelopt: %w", err)
	}
	if ks, ok := opts.Get("ks"); ok {
		in.ksOpt = ks.Value
	}
	if sms, ok := opts.Get("systemMediaSize"); ok {
		in.systemMediaSize = sms.Value
	}
	return in, nil
}

func (in *install) run() error {
	say("ESXi installer simulator, build %s", in.build)
	if in.ksOpt == "" {
		return &failure{line: simulator.KickstartErrorLine, err: errors.New("no ks= boot option: the simulator only runs scripted installs")}
	}
	path, ok := strings.CutPrefix(in.ksOpt, "cdrom:")
	if !ok {
		return &failure{line: simulator.KickstartErrorLine, err: fmt.Errorf("ks=%s: the simulator reads kickstarts from cdrom:/ only", in.ksOpt)}
	}
	say("Reading installation script %s", in.ksOpt)
	ksData, err := readCD(in.cdDir, path)
	if err != nil {
		return &failure{line: simulator.KickstartErrorLine, err: err}
	}
	if in.fault == simulator.FaultNone {
		if in.fault, err = simulator.FaultFromKickstart(ksData); err != nil {
			return &failure{line: simulator.KickstartErrorLine, err: err}
		}
	}
	if in.fault != simulator.FaultNone {
		say("simulator: acting out fault %q", in.fault)
	}

	ks, err := parseKickstart(ksData, path, versionOf(in.build))
	if err != nil {
		return &failure{line: simulator.KickstartErrorLine, err: err}
	}
	switch in.fault {
	case simulator.FaultKickstart:
		return &failure{line: simulator.KickstartErrorLine, err: fmt.Errorf("%s: line 1: simulated kickstart error", path)}
	case simulator.FaultHang:
		say("Installing ESXi %s", in.build)
		return errHang
	case simulator.FaultPSOD:
		say("Installing ESXi %s", in.build)
		psod(in.build)
		return errHang
	}

	say("Installing ESXi %s on %s", in.build, in.disk)
	if in.fault == simulator.FaultInstaller {
		return &failure{line: simulator.InstallerErrorLine, err: errors.New("simulated installer error")}
	}
	start := time.Now()
	d, err := writeDisk(in, ks)
	if err != nil {
		return err
	}
	say("Installation written in %s", time.Since(start).Round(time.Millisecond))

	halted, err := runPost(ks, d)
	if err != nil {
		d.Close()
		return err
	}
	if err := d.File().Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync %s: %w", in.disk, err)
	}
	if err := d.Close(); err != nil {
		return err
	}
	if in.fault == simulator.FaultCrash {
		return errCrash
	}
	if !halted {
		// The real installer reboots when %post does not halt; QEMU's
		// -no-reboot turns that into an exit the builder must not take
		// for a power-off.
		say("Installation complete. Rebooting (no halt in %%post).")
		rebootNow()
	}
	say("%s", simulator.HaltLine)
	return nil
}

func psod(build string) {
	say("%s", simulator.PSODLine)
	say("VMware ESXi %s [Releasebuild-%s x86_64]", versionOf(build), buildNumber(build))
	say("#PF Exception 14 in world 2099452:weasel IP 0x41802a6b1c2d addr 0x0")
	say("cr0=0x80010031 cr2=0x0 cr3=0x10b8d3000 cr4=0x142768")
	say("No place on disk to dump data.")
}

// versionOf and buildNumber split "8.0.3-0.0.24022510".
func versionOf(build string) string {
	v, _, _ := strings.Cut(build, "-")
	return v
}

func buildNumber(build string) string {
	i := strings.LastIndex(build, ".")
	return build[i+1:]
}

// parseKickstart parses and lints the script for the ISO's ESXi version
// like the builder does; any
// error-level finding fails the install like the real installer's
// pre-parse would.
func parseKickstart(data []byte, name, version string) (*kickstart.File, error) {
	f, err := kickstart.Parse(bytes.NewReader(data), name)
	if err != nil {
		return nil, err
	}
	v, err := kickstart.ParseVersion(version)
	if err != nil {
		return nil, fmt.Errorf("BOOT.CFG build: %w", err)
	}
	if err := kickstart.Check(f, kickstart.LintOptions{ESXi: v}); err != nil {
		return nil, err
	}
	return f, nil
}
