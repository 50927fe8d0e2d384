//go:generate ../../../ci/struct-markdown.sh config.go
//go:generate go tool packer-sdc mapstructure-to-hcl2 -type Config

package iso

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/packer-plugin-sdk/common"
	"github.com/hashicorp/packer-plugin-sdk/multistep/commonsteps"
	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"github.com/hashicorp/packer-plugin-sdk/template/config"
	"github.com/hashicorp/packer-plugin-sdk/template/interpolate"
)

// Config is the esxi-iso builder's configuration.
type Config struct {
	common.PackerConfig   `mapstructure:",squash"`
	commonsteps.ISOConfig `mapstructure:",squash"`

	// Directory the raw disk, the serial console log and the redacted
	// kickstart are written to. Defaults to `output-<build name>`. It
	// must not exist or be empty unless `-force` is given.
	OutputDir string `mapstructure:"output_directory"`
	// File name of the raw disk image inside `output_directory`.
	// Defaults to `<build name>.raw`.
	DiskName string `mapstructure:"disk_name"`
	// Size of the installed disk, a number with a K, M, G or T suffix
	// (powers of 1024). ESXi 8 needs at least 32G. Defaults to `40G`.
	DiskSize string `mapstructure:"disk_size"`
	// Disk controller: `ahci` (default; the q35 machine's own SATA
	// controller) or `ide` (needs `machine_type = "pc"`). ESXi has no
	// virtio drivers, so virtio is not offered.
	DiskInterface string `mapstructure:"disk_interface"`
	// Network card: `vmxnet3` (default), `e1000e` or `none`. The network
	// is QEMU user-mode networking restricted to the guest (no host
	// access); the install itself needs none.
	NetDevice string `mapstructure:"net_device"`
	// Guest memory in MiB. Defaults to 8192 (ESXi 7/8 need at least 8 GiB).
	Memory int `mapstructure:"memory"`
	// Virtual CPUs. Defaults to 4 (ESXi needs at least 2).
	CPUs int `mapstructure:"cpus"`
	// `auto` (default: KVM when /dev/kvm can be opened, else TCG with a
	// warning), `kvm` or `tcg`.
	Accelerator string `mapstructure:"accelerator"`
	// QEMU CPU model. Defaults to `host` with KVM and `max` with TCG.
	CPUModel string `mapstructure:"cpu_model"`
	// QEMU machine type: `q35` (default) or `pc`.
	MachineType string `mapstructure:"machine_type"`
	// Firmware: `bios` (default) or `uefi` (OVMF).
	Firmware string `mapstructure:"firmware"`
	// OVMF code image for `firmware = "uefi"`.
	// Defaults to `/usr/share/OVMF/OVMF_CODE_4M.fd`.
	OVMFCode string `mapstructure:"ovmf_code"`
	// OVMF variable store template, copied per build.
	// Defaults to `/usr/share/OVMF/OVMF_VARS_4M.fd`.
	OVMFVars string `mapstructure:"ovmf_vars"`
	// QEMU system emulator. Defaults to `qemu-system-x86_64`.
	QemuBinary string `mapstructure:"qemu_binary"`
	// qemu-img program. Defaults to `qemu-img`.
	QemuImgBinary string `mapstructure:"qemu_img_binary"`
	// How long the whole install may take, from QEMU start to power-off,
	// as a Go duration. Defaults to `60m`.
	InstallTimeout time.Duration `mapstructure:"install_timeout"`

	// Boot option `systemMediaSize` (ESXi 7.0 U1c+): `min`, `small`,
	// `default` or `max`. Empty leaves the installer's default.
	SystemMediaSize string `mapstructure:"system_media_size"`
	// Adds the boot option `allowLegacyCPU=true` (ESXi 8 on older CPUs).
	AllowLegacyCPU bool `mapstructure:"allow_legacy_cpu"`
	// Extra boot options appended to `kernelopt` in both BOOT.CFGs, e.g.
	// `["cpuUniformityHardCheckPanic=FALSE"]`.
	BootOptions []string `mapstructure:"boot_options"`

	// Root password of the installed host. The kickstart carries it as a
	// SHA-512 crypt hash. Required unless `root_password_crypted` is set.
	// Never logged; redacted in the kickstart copy kept with the artifact.
	RootPassword string `mapstructure:"root_password"`
	// An existing crypt(3) hash for root ($6$ without rounds=, $1$ or
	// DES) instead of `root_password`.
	RootPasswordCrypted string `mapstructure:"root_password_crypted"`
	// ESXi release the kickstart is linted for ("7.0", "8.0", "8.0.3").
	// Defaults to `8.0`.
	ESXiVersion string `mapstructure:"esxi_version"`
	// Install on this disk (device name, vml./naa./t10. id). Empty means
	// the installer's first disk, which under QEMU is the builder's disk.
	InstallDisk string `mapstructure:"install_disk"`
	// Let the installer run on emulated or unsupported CPUs and devices
	// (kickstart `install --ignoreprereqwarnings --ignoreprereqerrors
	// --forceunsupportedinstall`). Defaults to true: QEMU is unsupported.
	IgnorePrereqs *bool `mapstructure:"ignore_prereqs"`
	// Management NIC for DHCP during the install (vmnicN or a MAC).
	// Defaults to `vmnic0`.
	ManagementNIC string `mapstructure:"management_nic"`
	// Keyboard layout name, e.g. `US Default`. Empty leaves the default.
	Keyboard string `mapstructure:"keyboard"`
	// Commands for the kickstart `%post` section (busybox), run after the
	// install and before the builder's completion marker and `halt`.
	PostCommands []string `mapstructure:"post_commands"`
	// Body of the kickstart `%firstboot` section (busybox): what the
	// golden image runs once on its first boot on the target machine.
	// Empty means the kickstart package's default agent launcher.
	FirstbootScript string `mapstructure:"firstboot_script"`

	ctx interpolate.Context
}

var (
	sizeRE     = regexp.MustCompile(`^([0-9]+)([KMGT])$`)
	bootOptRE  = regexp.MustCompile(`^[A-Za-z0-9_.]+(=[^\s]*)?$`)
	validMedia = []string{"min", "small", "default", "max"}
)

// Prepare decodes raws, applies defaults and validates. It collects every
// problem, names the field in each, and never probes the host.
func (c *Config) Prepare(raws ...interface{}) ([]string, error) {
	err := config.Decode(c, &config.DecodeOpts{
		PluginType:         BuilderID,
		Interpolate:        true,
		InterpolateContext: &c.ctx,
	}, raws...)
	if err != nil {
		return nil, err
	}
	var errs *packersdk.MultiError
	var warnings []string

	isoWarnings, isoErrs := c.ISOConfig.Prepare(&c.ctx)
	warnings = append(warnings, isoWarnings...)
	errs = packersdk.MultiErrorAppend(errs, isoErrs...)

	name := c.PackerBuildName
	if name == "" {
		name = "esxi"
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.OutputDir, "output-"+name)
	def(&c.DiskName, name+".raw")
	def(&c.DiskSize, "40G")
	def(&c.DiskInterface, "ahci")
	def(&c.NetDevice, "vmxnet3")
	def(&c.Accelerator, "auto")
	def(&c.MachineType, "q35")
	def(&c.Firmware, "bios")
	def(&c.OVMFCode, "/usr/share/OVMF/OVMF_CODE_4M.fd")
	def(&c.OVMFVars, "/usr/share/OVMF/OVMF_VARS_4M.fd")
	def(&c.QemuBinary, "qemu-system-x86_64")
	def(&c.QemuImgBinary, "qemu-img")
	def(&c.ESXiVersion, "8.0")
	def(&c.ManagementNIC, "vmnic0")
	if c.Memory == 0 {
		c.Memory = 8192
	}
	if c.CPUs == 0 {
		c.CPUs = 4
	}
	if c.InstallTimeout == 0 {
		c.InstallTimeout = 60 * time.Minute
	}
	if c.IgnorePrereqs == nil {
		t := true
		c.IgnorePrereqs = &t
	}

	add := func(format string, args ...any) {
		errs = packersdk.MultiErrorAppend(errs, fmt.Errorf(format, args...))
	}
	oneOf := func(field, v string, allowed ...string) {
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		add("%s: %q is not one of %s", field, v, strings.Join(allowed, ", "))
	}
	if filepath.Base(c.DiskName) != c.DiskName {
		add("disk_name: %q must be a file name, not a path", c.DiskName)
	}
	if n, err := ParseSize(c.DiskSize); err != nil {
		add("disk_size: %v", err)
	} else if n < 1<<30 {
		add("disk_size: %q is smaller than 1G", c.DiskSize)
	} else if n < 32<<30 {
		warnings = append(warnings, fmt.Sprintf("disk_size: %s is below the 32G ESXi 8 needs; fine for ESXi 7 or the simulator", c.DiskSize))
	}
	oneOf("disk_interface", c.DiskInterface, "ahci", "ide")
	oneOf("net_device", c.NetDevice, "vmxnet3", "e1000e", "none")
	oneOf("accelerator", c.Accelerator, "auto", "kvm", "tcg")
	oneOf("machine_type", c.MachineType, "q35", "pc")
	oneOf("firmware", c.Firmware, "bios", "uefi")
	if c.DiskInterface == "ide" && c.MachineType != "pc" {
		add("disk_interface: \"ide\" needs machine_type = \"pc\" (q35 has only AHCI), got %q", c.MachineType)
	}
	if c.Memory < 256 {
		add("memory: %d MiB is too small (at least 256; ESXi needs 8192)", c.Memory)
	} else if c.Memory < 8192 {
		warnings = append(warnings, fmt.Sprintf("memory: %d MiB is below the 8192 MiB real ESXi needs; fine for the simulator", c.Memory))
	}
	if c.CPUs < 1 {
		add("cpus: %d must be at least 1", c.CPUs)
	}
	if c.InstallTimeout < 0 {
		add("install_timeout: %s must be positive", c.InstallTimeout)
	}
	if c.SystemMediaSize != "" {
		oneOf("system_media_size", c.SystemMediaSize, validMedia...)
	}
	for i, o := range c.BootOptions {
		if !bootOptRE.MatchString(o) {
			add("boot_options[%d]: %q is not a key or key=value without spaces", i, o)
		}
	}
	switch {
	case c.RootPassword == "" && c.RootPasswordCrypted == "":
		add("root_password: required (or root_password_crypted)")
	case c.RootPassword != "" && c.RootPasswordCrypted != "":
		add("root_password and root_password_crypted: give only one")
	default:
		// Lint the kickstart now so `packer validate` fails on it.
		if _, err := c.kickstart(strings.Repeat("0", 32)); err != nil {
			add("%w", err)
		}
	}
	if errs != nil && len(errs.Errors) > 0 {
		return warnings, errs
	}
	return warnings, nil
}

// ParseSize parses a size with a K, M, G or T suffix (powers of 1024).
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil {
		return 0, fmt.Errorf("%q is not a number with a K, M, G or T suffix", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", s, err)
	}
	shift := map[string]uint{"K": 10, "M": 20, "G": 30, "T": 40}[m[2]]
	if n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n << shift, nil
}

// ErrNoKVM is returned when accelerator = "kvm" but /dev/kvm cannot be opened.
var ErrNoKVM = errors.New("/dev/kvm cannot be opened")

// ErrKVMUnusable is returned when /dev/kvm opens but QEMU cannot run a
// KVM vCPU (nested or sandboxed hosts).
var ErrKVMUnusable = errors.New("kvm is not usable")

// kvmUsable reports whether /dev/kvm opens for read and write.
func kvmUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}
