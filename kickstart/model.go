// Package kickstart is a typed model of the ESXi installer's kickstart
// grammar ("weasel" scripted install), with a parser that reads files the
// way the installer does, a deterministic renderer, a linter whose
// findings name line, command, rule and fix, and presets the pipeline
// uses. See README.md in this folder.
package kickstart

import (
	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// File is a parsed or constructed kickstart. Commands keep file order:
// the installer runs %pre, then %include, then the install verb, then the
// rest, but sections run in file order and rendering needs the order.
type File struct {
	// Name is the file name used in findings ("ks.cfg", "<stdin>").
	Name string
	// Commands in file order.
	Commands []Command
	// Findings are what the installer's own pre-parse reports (unknown
	// commands and arguments, bad values, syntax errors), in line order.
	// Lint includes them.
	Findings []Finding
}

// Command is one kickstart command or section. The concrete types are
// *AcceptEULA, *Install, *Clearpart, *Part, *Rootpw, *Network,
// *Keyboard, *Serialnum, *Reboot, *Paranoid, *Dryrun, *Include,
// *Section and *Raw.
type Command interface {
	// Keyword is the canonical command name ("install", "%post", ...).
	Keyword() string
	// LineNo is the 1-based line the command starts on; 0 when the
	// command was built in code.
	LineNo() int
	base() *Base
}

// Base holds what every command has.
type Base struct {
	// Line is the 1-based line of the command (0 if built in code).
	Line int
	// Extra are arguments the installer does not know, kept verbatim and
	// rendered after the known ones (the installer warns and ignores them).
	Extra []string
}

func (b *Base) LineNo() int { return b.Line }
func (b *Base) base() *Base { return b }

// AcceptEULA is vmaccepteula (alias accepteula); required for install.
type AcceptEULA struct{ Base }

// Verb is the install command used.
type Verb string

const (
	VerbInstall          Verb = "install"
	VerbUpgrade          Verb = "upgrade"
	VerbInstallOrUpgrade Verb = "installorupgrade"
)

// Install is install, upgrade or installorupgrade.
type Install struct {
	Base
	Verb Verb
	// Disk is --disk (alias --drive): a device name, /vmfs/devices/disks
	// path, or vml./naa./t10./eui. identifier. Excludes FirstDisk.
	Disk string
	// FirstDisk is --firstdisk; FirstDiskFilters its value (nil = the
	// installer default local,remote,usb). Filters: local, remote, usb,
	// esx, localesx, remoteesx, a model, vendor or driver name.
	FirstDisk        bool
	FirstDiskFilters []string
	// IgnoreSSD (--ignoressd) skips SSDs when picking --firstdisk.
	IgnoreSSD bool
	// OverwriteVMFS is required when the disk holds VMFS; PreserveVMFS
	// keeps an existing datastore; NoVMFSOnDisk creates none.
	OverwriteVMFS bool
	PreserveVMFS  bool
	NoVMFSOnDisk  bool
	OverwriteVSAN bool
	// IgnorePrereqWarnings/Errors and ForceUnsupportedInstall let the
	// installer proceed on unsupported (e.g. emulated) hardware.
	IgnorePrereqWarnings    bool
	IgnorePrereqErrors      bool
	ForceUnsupportedInstall bool
	ForceMigrate            bool
	// DPUPCISlots is --dpupcislots (ESXi 8.0+), comma-separated in the file.
	DPUPCISlots []string
}

// Clearpart clears partitions on other disks.
type Clearpart struct {
	Base
	All              bool
	AllDrives        bool
	Drives           []string
	IgnoreDrives     []string
	FirstDisk        bool
	FirstDiskFilters []string // nil = installer default local,remote
	OverwriteVMFS    bool
}

// Part creates a VMFS datastore on another disk: part NAME --ondisk=DISK.
type Part struct {
	Base
	Datastore          string
	OnDisk             string
	OnFirstDisk        bool
	OnFirstDiskFilters []string // nil = installer default local,remote
}

// Rootpw sets the root password: plaintext (checked by the installer's
// password policy, then hashed) or, with Crypted, an existing crypt(3)
// hash. Both are secrets: they never print.
type Rootpw struct {
	Base
	Password secret.Secret
	Crypted  bool
}

// BootProto is network --bootproto.
type BootProto string

const (
	BootProtoDHCP   BootProto = "dhcp"
	BootProtoStatic BootProto = "static"
)

// Network configures the management interface. Values are kept as
// written, because the installer validates them itself and a typed field
// would lose the input a finding must quote.
type Network struct {
	Base
	BootProto   BootProto
	Device      string // vmnicN or a MAC address; default BOOTIF or first linked NIC
	IP          string
	Netmask     string
	Gateway     string
	Nameservers []string
	Hostname    string
	VLANID      string
	// AddVMPortgroup is "", "0", "1", "true" or "false".
	AddVMPortgroup string
	NoDNS          bool
}

// Keyboard sets the keyboard layout ("US Default").
type Keyboard struct {
	Base
	Layout string
}

// Serialnum is serialnum (alias vmserialnum) --esx=KEY.
type Serialnum struct {
	Base
	ESX string
}

// Reboot reboots after install; NoEject keeps the CD in.
type Reboot struct {
	Base
	NoEject bool
}

// Paranoid turns installer warnings into errors.
type Paranoid struct{ Base }

// Dryrun validates without installing.
type Dryrun struct{ Base }

// Include is %include (alias include) FILE, read at install time.
type Include struct {
	Base
	Path string
}

// SectionKind is which script section.
type SectionKind string

const (
	SectionPre       SectionKind = "%pre"
	SectionPost      SectionKind = "%post"
	SectionFirstboot SectionKind = "%firstboot"
)

// Section is %pre, %post or %firstboot with its options and body.
type Section struct {
	Base
	Kind SectionKind
	// Interpreter is "" (installer default busybox), "busybox" or "python".
	Interpreter string
	// Timeout (%post --timeout, seconds); nil when absent.
	Timeout *int
	// IgnoreFailure (%post --ignorefailure); nil when absent.
	IgnoreFailure *bool
	// Body is the script verbatim: every line up to the next line that
	// starts with a section keyword (%pre, %post, %firstboot, %include,
	// include, %packages, %vmlicense_text) or the end of the file.
	Body string
}

// RawKind says why a command is kept raw.
type RawKind string

const (
	RawUnknown    RawKind = "unknown"    // not in the grammar: warned, ignored
	RawDeprecated RawKind = "deprecated" // in the grammar as deprecated: warned, ignored
	RawUnused     RawKind = "unused"     // in the grammar, currently unused: warned, ignored
	RawKnown      RawKind = "known"      // known, without a typed model (partitionembed)
)

// Raw is a command kept as its tokens.
type Raw struct {
	Base
	Name string
	Args []string
	Kind RawKind
}

func (*AcceptEULA) Keyword() string { return "vmaccepteula" }
func (i *Install) Keyword() string {
	if i.Verb == "" {
		return string(VerbInstall)
	}
	return string(i.Verb)
}
func (*Clearpart) Keyword() string { return "clearpart" }
func (*Part) Keyword() string      { return "part" }
func (*Rootpw) Keyword() string    { return "rootpw" }
func (*Network) Keyword() string   { return "network" }
func (*Keyboard) Keyword() string  { return "keyboard" }
func (*Serialnum) Keyword() string { return "serialnum" }
func (*Reboot) Keyword() string    { return "reboot" }
func (*Paranoid) Keyword() string  { return "paranoid" }
func (*Dryrun) Keyword() string    { return "dryrun" }
func (*Include) Keyword() string   { return "%include" }
func (s *Section) Keyword() string { return string(s.Kind) }
func (r *Raw) Keyword() string     { return r.Name }

// ofType returns the commands of type T in file order.
func ofType[T Command](f *File) []T {
	var out []T
	for _, c := range f.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// lastOf returns the last command of type T (the installer uses the
// latest of a repeated command), or the zero T.
func lastOf[T Command](f *File) T {
	var zero T
	all := ofType[T](f)
	if len(all) == 0 {
		return zero
	}
	return all[len(all)-1]
}

// InstallCommands returns every install, upgrade and installorupgrade.
func (f *File) InstallCommands() []*Install { return ofType[*Install](f) }

// Install returns the install verb the installer uses (the only one in a
// valid file), or nil.
func (f *File) Install() *Install { return lastOf[*Install](f) }

// Rootpw returns the last rootpw (the installer uses the latest), or nil.
func (f *File) Rootpw() *Rootpw { return lastOf[*Rootpw](f) }

// Network returns the last network command, or nil.
func (f *File) Network() *Network { return lastOf[*Network](f) }

// Sections returns the sections of one kind in file order, the order the
// installer runs them in.
func (f *File) Sections(kind SectionKind) []*Section {
	var out []*Section
	for _, s := range ofType[*Section](f) {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

// Includes returns the %include commands in file order.
func (f *File) Includes() []*Include { return ofType[*Include](f) }

// Has reports whether a command with the canonical keyword is present.
func (f *File) Has(keyword string) bool {
	for _, c := range f.Commands {
		if c.Keyword() == keyword {
			return true
		}
	}
	return false
}

// Interpreter names.
const (
	InterpreterBusybox = "busybox"
	InterpreterPython  = "python"
)

// EffectiveInterpreter is the interpreter the installer uses: busybox
// when none is given.
func (s *Section) EffectiveInterpreter() string {
	if s.Interpreter == "" {
		return InterpreterBusybox
	}
	return s.Interpreter
}

// Shebang is the first line the installer puts on the script file it
// writes for the section (weasel script.py, confirmed for 6.7; 7.0/8.0
// ship python 3 at the same path).
func (s *Section) Shebang() string {
	if s.EffectiveInterpreter() == InterpreterPython {
		return "#!/usr/bin/python"
	}
	return "#!/bin/sh -l"
}
