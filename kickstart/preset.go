package kickstart

import (
	"errors"
	"fmt"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// DefaultFirstbootBody is the %firstboot body of the golden preset when
// the caller gives none: a busybox launcher that runs the first-boot
// agent's entry script from the bootbank the host booted from (or the
// other one), logging to /var/log/esxi-golden-firstboot.log. The inject
// step places the agent at DefaultAgentPath under /bootbank or
// /altbootbank. A missing agent fails loudly in the log and exit status.
const DefaultFirstbootBody = `# esxi-golden first-boot launcher: runs the first-boot agent placed on the
# image by the inject step. Output goes to /var/log/esxi-golden-firstboot.log.
exec >>/var/log/esxi-golden-firstboot.log 2>&1
for bank in /bootbank /altbootbank; do
    if [ -x "$bank/` + DefaultAgentPath + `" ]; then
        echo "esxi-golden: starting $bank/` + DefaultAgentPath + `"
        exec "$bank/` + DefaultAgentPath + `"
    fi
done
echo "esxi-golden: no first-boot agent under /bootbank or /altbootbank (want ` + DefaultAgentPath + `)"
exit 1
`

// DefaultAgentPath is where DefaultFirstbootBody looks for the agent's
// entry script, relative to a bootbank.
const DefaultAgentPath = "esxi-golden/firstboot.sh"

// GoldenOptions are the parameters of the golden-image preset.
type GoldenOptions struct {
	// ESXiVersion is the release the image targets ("8.0", "7.0.3");
	// version-gated options are checked against it. Default "8.0".
	ESXiVersion string
	// RootPassword is the plaintext root password. It is written as a
	// SHA-512 crypt hash unless PlaintextRootpw is set. Exactly one of
	// RootPassword and RootPasswordCrypted is required.
	RootPassword secret.Secret
	// RootPasswordCrypted is an existing crypt(3) hash ($6$ without
	// rounds=, $1$ or DES).
	RootPasswordCrypted secret.Secret
	// PlaintextRootpw writes RootPassword in plaintext (the installer then
	// applies its password policy itself).
	PlaintextRootpw bool
	// CryptSalt fixes the salt of the hash (1-16 of [A-Za-z0-9./]) for
	// reproducible output; empty means random.
	CryptSalt string
	// Disk installs on this disk (--disk: device name, vml./naa./t10.
	// identifier or /vmfs/devices/disks path). Empty means --firstdisk.
	Disk string
	// FirstDiskFilters narrow --firstdisk (local, remote, usb, a driver
	// such as vmw_ahci, a model or vendor); empty means the installer
	// default (local,remote,usb).
	FirstDiskFilters []string
	// IgnoreSSD skips SSDs when choosing the first disk.
	IgnoreSSD bool
	// PreserveVMFS keeps an existing datastore instead of overwriting it
	// (the default is --overwritevmfs: a golden build starts from a blank
	// disk and must never stop at an old datastore).
	PreserveVMFS bool
	// NoVMFSOnDisk creates no datastore on the install disk.
	NoVMFSOnDisk bool
	// IgnorePrereqWarnings, IgnorePrereqErrors and
	// ForceUnsupportedInstall let the installer run on emulated or
	// unsupported CPUs and devices (QEMU builds usually need them).
	IgnorePrereqWarnings    bool
	IgnorePrereqErrors      bool
	ForceUnsupportedInstall bool
	// NIC is the management NIC for DHCP (vmnicN or a MAC). Default vmnic0.
	NIC string
	// VLANID tags the management network (1-4094); 0 means untagged.
	VLANID int
	// Keyboard is a layout name ("US Default"); empty leaves the default.
	Keyboard string
	// PostCommands run in %post (busybox) after the install, in order,
	// before the preset's final halt (e.g. the builder's completion
	// marker). Each entry may span lines.
	PostCommands []string
	// FirstbootBody is the %firstboot (busybox) script; empty means
	// DefaultFirstbootBody.
	FirstbootBody string
}

// ErrPreset is wrapped by errors about bad preset options.
var ErrPreset = errors.New("invalid kickstart preset options")

// Golden returns the golden-image kickstart: accept the EULA, set the
// root password, install on the first (or given) disk, DHCP on NIC, a
// %post that runs PostCommands then halts so the image never boots in
// the builder, and a %firstboot that starts the first-boot agent. The
// result is linted for the target version; lint errors are returned as a
// *LintError (wrapping ErrLint).
func Golden(o GoldenOptions) (*File, error) {
	if o.ESXiVersion == "" {
		o.ESXiVersion = "8.0"
	}
	v, err := ParseVersion(o.ESXiVersion)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPreset, err)
	}
	if o.RootPassword.IsZero() == o.RootPasswordCrypted.IsZero() {
		return nil, fmt.Errorf("%w: give exactly one of root password and crypted root password", ErrPreset)
	}
	if o.Disk != "" && len(o.FirstDiskFilters) > 0 {
		return nil, fmt.Errorf("%w: disk %q and first-disk filters exclude each other", ErrPreset, o.Disk)
	}
	if o.VLANID < 0 || o.VLANID > 4094 {
		return nil, fmt.Errorf("%w: vlan id %d, want 0 (untagged) to 4094", ErrPreset, o.VLANID)
	}
	if o.NIC == "" {
		o.NIC = "vmnic0"
	}
	f := &File{Name: "golden.cfg"}
	f.Commands = append(f.Commands, &AcceptEULA{})

	rp := &Rootpw{Password: o.RootPasswordCrypted, Crypted: true}
	if !o.RootPassword.IsZero() {
		// Check the plaintext before hashing: once crypted, the
		// installer can no longer tell a weak password.
		if rule, msg, fix := checkPlain(o.RootPassword.Reveal()); rule != "" {
			return nil, &LintError{File: f.Name, Findings: []Finding{{File: f.Name, Command: "rootpw", Rule: rule, Severity: Error, Message: msg, Fix: fix}}}
		}
		rp = &Rootpw{Password: o.RootPassword}
		if !o.PlaintextRootpw {
			h, err := CryptSHA512(o.RootPassword, o.CryptSalt)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrPreset, err)
			}
			rp = &Rootpw{Password: h, Crypted: true}
		}
	}
	f.Commands = append(f.Commands, rp)

	inst := &Install{Verb: VerbInstall, Disk: o.Disk, FirstDisk: o.Disk == "", FirstDiskFilters: o.FirstDiskFilters,
		IgnoreSSD: o.IgnoreSSD, OverwriteVMFS: !o.PreserveVMFS, PreserveVMFS: o.PreserveVMFS, NoVMFSOnDisk: o.NoVMFSOnDisk,
		IgnorePrereqWarnings: o.IgnorePrereqWarnings, IgnorePrereqErrors: o.IgnorePrereqErrors,
		ForceUnsupportedInstall: o.ForceUnsupportedInstall}
	f.Commands = append(f.Commands, inst)
	if o.Keyboard != "" {
		f.Commands = append(f.Commands, &Keyboard{Layout: o.Keyboard})
	}
	n := &Network{BootProto: BootProtoDHCP, Device: o.NIC}
	if o.VLANID > 0 {
		n.VLANID = fmt.Sprint(o.VLANID)
	}
	f.Commands = append(f.Commands, n)

	var post strings.Builder
	post.WriteString("# Caller's post-install commands, then halt: the image must never boot in the builder.\n")
	for _, c := range o.PostCommands {
		post.WriteString(strings.TrimRight(c, "\n"))
		post.WriteByte('\n')
	}
	post.WriteString("halt\n")
	f.Commands = append(f.Commands, &Section{Kind: SectionPost, Interpreter: "busybox", Body: post.String()})

	body := o.FirstbootBody
	if body == "" {
		body = DefaultFirstbootBody
	}
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	f.Commands = append(f.Commands, &Section{Kind: SectionFirstboot, Interpreter: "busybox", Body: body})

	// Check what the installer will read: the rendered text. Render
	// refuses what it would read differently (a post command starting
	// with "include" would end the section).
	if err := CheckModel(f, LintOptions{ESXi: v}); err != nil {
		if errors.Is(err, ErrUnrenderable) {
			return nil, fmt.Errorf("%w: %w", ErrPreset, err)
		}
		return nil, err
	}
	return f, nil
}
