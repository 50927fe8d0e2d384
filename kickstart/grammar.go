package kickstart

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// The grammar mirrors the installer's scriptedinstall/grammar.py (weasel,
// ESXi 6.5-7.x, publicly mirrored) so that the parser reports what the
// installer would: which options take values, which exclude each other,
// which mismatches are errors and which only warnings.

type valueKind int

const (
	flagOnly      valueKind = iota // --noeject
	valueRequired                  // --ip=ADDR
	valueOptional                  // --firstdisk[=filters]
)

type argSpec struct {
	kind       valueKind
	alias      string // canonical name when this spelling is an alias
	regex      *regexp.Regexp
	regexError bool                 // a regex mismatch is an error (default: warning)
	validate   func(v string) error // installer validator: failures are errors
	invalids   []string
	dupError   bool
	deprecated bool
	required   bool
}

type hangingSpec struct {
	name       string
	front      bool // taken from the front of the leftover arguments, else the back
	regex      *regexp.Regexp
	regexError bool
}

type cmdSpec struct {
	name       string // canonical keyword
	multiline  bool   // followed by a script body
	deprecated bool
	unused     bool
	multiple   bool // may appear more than once
	dupError   bool
	args       map[string]argSpec
	hanging    *hangingSpec
	// deprecatedWords are hanging words that are accepted with a warning.
	deprecatedWords []string
}

var (
	reAny         = regexp.MustCompile(`^(.+)$`)
	reAnyOrEmpty  = regexp.MustCompile(`^(.*)$`)
	reBootproto   = regexp.MustCompile(`^((static)|(dhcp))$`)
	reInterpreter = regexp.MustCompile(`^((python)|(busybox))$`) // InterpreterPython, InterpreterBusybox
	reDigits      = regexp.MustCompile(`^(\d+)$`)
	reTrueFalse   = regexp.MustCompile(`(?i)^((true|false))$`)
	rePortgroup   = regexp.MustCompile(`(?i)^((0|1|true|false))$`)
	reSerial      = regexp.MustCompile(`^(\w{5}-\w{5}-\w{5}-\w{5}-\w{5})$`)
	reMountpoint  = regexp.MustCompile(`^(([^/]+|(/|(/[^/]+)+/?)))$`)
)

// sectionKeywordPrefixes end a script body when a line starts with one of
// them (column 0, plain prefix match, as the installer's KickstartFile).
var sectionKeywordPrefixes = []string{"%post", "%pre", "%packages", "%vmlicense_text", "%firstboot", "%include", "include"}

func startsWithKeyword(line string) bool {
	for _, k := range sectionKeywordPrefixes {
		if strings.HasPrefix(line, k) {
			return true
		}
	}
	return false
}

func diskArgs(extra map[string]argSpec) map[string]argSpec {
	m := map[string]argSpec{
		"--drive":                {kind: valueRequired, alias: "--disk", regex: reAny, invalids: []string{"--firstdisk"}, dupError: true},
		"--disk":                 {kind: valueRequired, regex: reAny, invalids: []string{"--firstdisk"}, dupError: true},
		"--firstdisk":            {kind: valueOptional, regex: reAny, invalids: []string{"--disk", "--drive"}, dupError: true},
		"--overwritevmfs":        {kind: flagOnly},
		"--overwritevsan":        {kind: flagOnly},
		"--ignoreprereqwarnings": {kind: flagOnly},
		"--ignoreprereqerrors":   {kind: flagOnly},
		// Not in the public grammar.py; used by packer-maas for 7.0-9.0 and
		// accepted by those installers.
		"--forceunsupportedinstall": {kind: flagOnly},
		// ESXi 8.0: PCI slots of DPUs to install to (version-gated by Lint).
		"--dpupcislots": {kind: valueRequired, regex: reAny},
		"--server":      {kind: flagOnly, deprecated: true},
		"--dir":         {kind: flagOnly, deprecated: true},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

var grammar = func() map[string]*cmdSpec {
	g := map[string]*cmdSpec{}
	add := func(spec *cmdSpec, aliases ...string) {
		g[spec.name] = spec
		for _, a := range aliases {
			g[a] = spec
		}
	}
	for _, d := range []string{"auth", "authconfig", "autopart", "autostep", "bootloader", "cmdline", "device",
		"deviceprobe", "esxlocation", "firewall", "firewallport", "firstboot", "harddrive", "ignoredisk",
		"interactive", "lilo", "lilocheck", "logvol", "mouse", "raid", "skipx", "text", "timezone",
		"virtualdisk", "vnc", "volgroup", "xconfig", "xdisplay", "vmlicense", "zerombr", "%packages",
		"%vmlicense_text"} {
		add(&cmdSpec{name: d, deprecated: true})
	}
	add(&cmdSpec{name: "lang", unused: true})
	add(&cmdSpec{name: "langsupport", unused: true})

	add(&cmdSpec{name: "vmaccepteula"}, "accepteula")
	add(&cmdSpec{name: "clearpart", multiple: true, args: map[string]argSpec{
		"--all":           {kind: flagOnly},
		"--alldrives":     {kind: flagOnly, invalids: []string{"--drives", "--firstdisk"}},
		"--drives":        {kind: valueRequired, regex: reAny, invalids: []string{"--ignoredrives", "--alldrives", "--firstdisk"}, dupError: true},
		"--firstdisk":     {kind: valueOptional, regex: reAny, invalids: []string{"--alldrives", "--drives", "--ignoredrives"}, dupError: true},
		"--ignoredrives":  {kind: valueRequired, regex: reAny, invalids: []string{"--drives", "--firstdisk"}},
		"--initlabel":     {kind: flagOnly, deprecated: true},
		"--overwritevmfs": {kind: flagOnly},
	}})
	add(&cmdSpec{name: "dryrun"})
	add(&cmdSpec{name: "paranoid"})
	add(&cmdSpec{name: "partitionembed"})
	add(&cmdSpec{name: "%include", multiple: true, hanging: &hangingSpec{name: "filename", regex: reAny}}, "include")
	add(&cmdSpec{name: "keyboard", hanging: &hangingSpec{name: "keyboardtype", regex: reAny}})
	installWords := []string{"cdrom", "usb", "nfs", "url"}
	add(&cmdSpec{name: "install", dupError: true, deprecatedWords: installWords, args: diskArgs(map[string]argSpec{
		"--overwritevmfs": {kind: flagOnly, invalids: []string{"--preservevmfs"}},
		"--preservevmfs":  {kind: flagOnly, invalids: []string{"--overwritevmfs"}},
		"--novmfsondisk":  {kind: flagOnly, invalids: []string{"--preservevmfs"}},
		"--ignoressd":     {kind: flagOnly, invalids: []string{"--disk", "--drive"}},
	})})
	add(&cmdSpec{name: "installorupgrade", dupError: true, deprecatedWords: installWords, args: diskArgs(map[string]argSpec{
		"--forcemigrate": {kind: flagOnly},
	})})
	up := diskArgs(map[string]argSpec{"--forcemigrate": {kind: flagOnly}})
	delete(up, "--overwritevsan")
	add(&cmdSpec{name: "upgrade", dupError: true, args: up})
	add(&cmdSpec{name: "network", args: map[string]argSpec{
		"--bootproto":      {kind: valueRequired, regex: reBootproto},
		"--device":         {kind: valueRequired, regex: reAny},
		"--ip":             {kind: valueRequired, validate: validateIP},
		"--gateway":        {kind: valueRequired, validate: validateIP},
		"--nameserver":     {kind: valueRequired, validate: validateIPList},
		"--nodns":          {kind: flagOnly},
		"--netmask":        {kind: valueRequired, validate: validateNetmask},
		"--hostname":       {kind: valueRequired, validate: validateHostname},
		"--vlanid":         {kind: valueRequired, validate: validateVLAN},
		"--addvmportgroup": {kind: valueRequired, regex: rePortgroup},
	}})
	add(&cmdSpec{name: "part", multiple: true, hanging: &hangingSpec{name: "mountpoint", front: true, regex: reMountpoint, regexError: true}, args: map[string]argSpec{
		"--ondisk":      {kind: valueRequired, regex: reAny, invalids: []string{"--onfirstdisk"}, dupError: true},
		"--ondrive":     {kind: valueRequired, alias: "--ondisk", regex: reAny, invalids: []string{"--onfirstdisk"}, dupError: true},
		"--onfirstdisk": {kind: valueOptional, regex: reAny, invalids: []string{"--ondisk", "--ondrive"}, dupError: true},
		"--size":        {kind: valueRequired, deprecated: true, regex: reAny},
		"--grow":        {kind: flagOnly, deprecated: true},
		"--maxsize":     {kind: valueRequired, deprecated: true, regex: reAny},
		"--fstype":      {kind: flagOnly, deprecated: true},
	}}, "partition")
	add(&cmdSpec{name: "reboot", args: map[string]argSpec{"--noeject": {kind: flagOnly}}})
	add(&cmdSpec{name: "rootpw", args: map[string]argSpec{"--iscrypted": {kind: flagOnly}},
		hanging: &hangingSpec{name: "password", regex: reAnyOrEmpty}})
	add(&cmdSpec{name: "serialnum", args: map[string]argSpec{
		"--esx": {kind: valueRequired, regex: reSerial, regexError: true, required: true},
	}}, "vmserialnum")
	interp := argSpec{kind: valueRequired, regex: reInterpreter, regexError: true}
	script := &hangingSpec{name: "script"}
	add(&cmdSpec{name: "%pre", multiline: true, multiple: true, hanging: script, args: map[string]argSpec{"--interpreter": interp}})
	add(&cmdSpec{name: "%post", multiline: true, multiple: true, hanging: script, args: map[string]argSpec{
		"--interpreter":   interp,
		"--timeout":       {kind: valueRequired, regex: reDigits},
		"--ignorefailure": {kind: valueRequired, regex: reTrueFalse},
	}})
	add(&cmdSpec{name: "%firstboot", multiline: true, multiple: true, hanging: script, args: map[string]argSpec{"--interpreter": interp}})
	return g
}()

func validateIP(v string) error {
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		return fmt.Errorf("%q is not an IPv4 address", v)
	}
	return nil
}

func validateIPList(v string) error {
	for _, p := range strings.Split(v, ",") {
		if err := validateIP(strings.TrimSpace(p)); err != nil {
			return err
		}
	}
	return nil
}

func validateNetmask(v string) error {
	a, err := netip.ParseAddr(v)
	if err != nil || !a.Is4() {
		return fmt.Errorf("%q is not an IPv4 netmask", v)
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	// A netmask is ones then zeros: inverting gives 2^n-1.
	if inv := ^m; inv&(inv+1) != 0 {
		return fmt.Errorf("%q is not a contiguous netmask", v)
	}
	return nil
}

var reHostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$`)

func validateHostname(v string) error {
	if len(v) > 255 {
		return fmt.Errorf("hostname is %d characters, at most 255 allowed", len(v))
	}
	if _, err := netip.ParseAddr(v); err == nil {
		return nil
	}
	for _, l := range strings.Split(v, ".") {
		if len(l) == 0 || len(l) > 63 || !reHostLabel.MatchString(l) {
			return fmt.Errorf("hostname label %q must be 1-63 letters, digits or inner hyphens", l)
		}
	}
	return nil
}

func validateVLAN(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 4095 {
		return fmt.Errorf("VLAN ID %q must be a number from 0 to 4095", v)
	}
	return nil
}
