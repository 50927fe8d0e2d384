package iso

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/packer-plugin-sdk/multistep"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
)

// ConsoleLogName is the serial console log's file name in the output dir.
const ConsoleLogName = "install-console.log"

// stepRunQemu boots the remastered ISO with the blank disk. Cleanup kills
// QEMU if it still runs (failure, timeout, Ctrl-C), so no QEMU outlives the
// build, and closes the console log.
//
// Uses: keyConfig, keyDriver, keyUI, keyBootISO, keyDiskPath, keyTempDir.
// Produces: keyMachine, keyConsole, keyConsoleLog.
type stepRunQemu struct {
	machine Machine
	log     *os.File
	watcher *consoleWatcher
	// kvm reports whether /dev/kvm is usable; replaced in tests.
	kvm func() bool
}

const keyConsole = "console" // *consoleWatcher

func (s *stepRunQemu) Run(ctx context.Context, state multistep.StateBag) multistep.StepAction {
	c := state.Get(keyConfig).(*Config)
	d := state.Get(keyDriver).(Driver)
	ui := state.Get(keyUI).(packersdk.Ui)
	tmp := state.Get(keyTempDir).(string)
	if s.kvm == nil {
		s.kvm = kvmUsable
	}

	accel, err := s.chooseAccel(ctx, c, d)
	if err != nil {
		return haltf(state, "run qemu: %w", err)
	}
	if accel == "tcg" {
		ui.Error("WARNING: KVM is not usable here, so QEMU runs with TCG software emulation. " +
			"That is fine for the installer simulator but 10-50x slower for a real ESXi install " +
			"(which may also reject TCG's CPU); give the build machine KVM for real ISOs.")
	}

	args, err := qemuArgs(c, qemuInputs{
		Accel:     accel,
		ISO:       state.Get(keyBootISO).(string),
		Disk:      state.Get(keyDiskPath).(string),
		QMPSocket: filepath.Join(tmp, "qmp.sock"),
		OVMFVars:  filepath.Join(tmp, "OVMF_VARS.fd"),
	})
	if err != nil {
		return haltf(state, "run qemu: %w", err)
	}
	if c.Firmware == "uefi" {
		if err := copyFile(c.OVMFVars, filepath.Join(tmp, "OVMF_VARS.fd")); err != nil {
			return haltf(state, "run qemu: ovmf_vars: %w", err)
		}
	}

	logPath := filepath.Join(c.OutputDir, ConsoleLogName)
	f, err := os.Create(logPath)
	if err != nil {
		return haltf(state, "run qemu: console log: %w", err)
	}
	s.log = f
	s.watcher = newConsoleWatcher(ui, f)
	state.Put(keyConsole, s.watcher)
	state.Put(keyConsoleLog, logPath)

	ui.Say(fmt.Sprintf("Starting QEMU (%s, %s, %d MiB, %d vCPU, %s disk, %s NIC, %s firmware)",
		accel, c.MachineType, c.Memory, c.CPUs, c.DiskInterface, c.NetDevice, c.Firmware))
	m, err := d.Start(ctx, args, filepath.Join(tmp, "qmp.sock"), s.watcher)
	if err != nil {
		return haltf(state, "run qemu: %w", err)
	}
	s.machine = m
	state.Put(keyMachine, m)
	return multistep.ActionContinue
}

// chooseAccel picks KVM when /dev/kvm opens and QEMU can really start a
// KVM vCPU with the CPU model; accelerator = "kvm" fails if not, "auto"
// falls back to TCG, saying why.
func (s *stepRunQemu) chooseAccel(ctx context.Context, c *Config, d Driver) (string, error) {
	if c.Accelerator == "tcg" {
		return "tcg", nil
	}
	cpu := c.CPUModel
	if cpu == "" {
		cpu = "host"
	}
	var why error
	if !s.kvm() {
		why = ErrNoKVM
	} else if err := d.ProbeKVM(ctx, c.MachineType, cpu); err != nil {
		why = fmt.Errorf("%w: %w", ErrKVMUnusable, err)
	}
	switch {
	case why == nil:
		return "kvm", nil
	case c.Accelerator == "kvm":
		return "", fmt.Errorf("accelerator = \"kvm\": %w", why)
	default:
		log.Printf("[INFO] accelerator auto: %v; using tcg", why)
		return "tcg", nil
	}
}

func (s *stepRunQemu) Cleanup(state multistep.StateBag) {
	if s.machine != nil {
		if err := s.machine.Stop(); err != nil {
			if ui, ok := state.Get(keyUI).(packersdk.Ui); ok {
				ui.Error(fmt.Sprintf("stop qemu: %v", err))
			}
		}
	}
	if s.watcher != nil {
		_ = s.watcher.Close()
	}
	if s.log != nil {
		_ = s.log.Close()
	}
}

type qemuInputs struct {
	Accel     string // kvm or tcg
	ISO       string
	Disk      string
	QMPSocket string
	OVMFVars  string
}

// qemuArgs builds QEMU's command line from typed config: the guest's
// serial console on stdout, QMP for the shutdown reason, -no-reboot so a
// reset ends QEMU instead of booting the fresh disk, and only devices ESXi
// has drivers for (AHCI or IDE, vmxnet3 or e1000e; never virtio).
func qemuArgs(c *Config, in qemuInputs) ([]string, error) {
	cpu := c.CPUModel
	if cpu == "" {
		cpu = map[string]string{"kvm": "host", "tcg": "max"}[in.Accel]
	}
	args := []string{
		"-name", "packer-" + c.PackerBuildName,
		"-machine", c.MachineType + ",accel=" + in.Accel,
		"-cpu", cpu,
		"-smp", strconv.Itoa(c.CPUs),
		"-m", strconv.Itoa(c.Memory),
		"-display", "none",
		"-serial", "stdio",
		"-monitor", "none",
		"-qmp", "unix:" + in.QMPSocket + ",server=on,wait=off",
		"-no-reboot",
		"-rtc", "base=utc",
	}
	if c.Firmware == "uefi" {
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+qemuPath(c.OVMFCode),
			"-drive", "if=pflash,format=raw,unit=1,file="+qemuPath(in.OVMFVars))
	}
	// The disk is written by the installer only; QEMU flushes it when it
	// exits, and a build that dies half-way is thrown away anyway, so
	// cache=unsafe trades nothing for install speed.
	args = append(args,
		"-drive", "file="+qemuPath(in.Disk)+",if=none,id=disk0,format=raw,cache=unsafe,discard=unmap",
		"-drive", "file="+qemuPath(in.ISO)+",if=none,id=cd0,media=cdrom,readonly=on")
	switch {
	case c.DiskInterface == "ide":
		args = append(args,
			"-device", "ide-hd,drive=disk0,bus=ide.0,unit=0,bootindex=2",
			"-device", "ide-cd,drive=cd0,bus=ide.1,unit=0,bootindex=1")
	case c.MachineType == "q35": // the ICH9 AHCI controller is built in: ports ide.0-ide.5
		args = append(args,
			"-device", "ide-hd,drive=disk0,bus=ide.0,bootindex=2",
			"-device", "ide-cd,drive=cd0,bus=ide.1,bootindex=1")
	default:
		args = append(args,
			"-device", "ahci,id=ahci0",
			"-device", "ide-hd,drive=disk0,bus=ahci0.0,bootindex=2",
			"-device", "ide-cd,drive=cd0,bus=ahci0.1,bootindex=1")
	}
	switch c.NetDevice {
	case "none":
		args = append(args, "-nic", "none")
	default:
		// restrict=on: the guest reaches neither the host nor the outside.
		args = append(args,
			"-netdev", "user,id=net0,restrict=on",
			"-device", c.NetDevice+",netdev=net0")
	}
	return args, nil
}

// qemuPath escapes a path for a QEMU option value (commas are doubled).
func qemuPath(p string) string { return strings.ReplaceAll(p, ",", ",,") }

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
