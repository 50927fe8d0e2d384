package kickstart

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is an ESXi release, e.g. 8.0 or 7.0.3 (7.0 Update 3).
type Version struct{ Major, Minor, Update int }

// ParseVersion reads "8", "8.0", "7.0.3", "7.0u3" or "7.0 U3".
func ParseVersion(s string) (Version, error) {
	t := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	t = strings.Replace(t, "u", ".", 1)
	parts := strings.Split(t, ".")
	if len(parts) > 3 || t == "" {
		return Version{}, fmt.Errorf("esxi version %q: want MAJOR.MINOR[.UPDATE], e.g. 8.0 or 7.0.3", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Version{}, fmt.Errorf("esxi version %q: part %q is not a number", s, p)
		}
		n[i] = v
	}
	if n[0] < 5 || n[0] > 99 {
		return Version{}, fmt.Errorf("esxi version %q: major %d is not an ESXi release", s, n[0])
	}
	return Version{n[0], n[1], n[2]}, nil
}

func (v Version) String() string {
	if v.Update > 0 {
		return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Update)
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}

// Less orders releases.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Update < w.Update
}

// IsZero reports an unset version.
func (v Version) IsZero() bool { return v == Version{} }

// LintOptions says what the kickstart is for.
type LintOptions struct {
	// ESXi is the target release; version-gated options are checked
	// against it. Zero: gated options get a warning that they could not
	// be checked.
	ESXi Version
}

// versionGates lists options that exist only from a release on.
var versionGates = []struct {
	command, option string
	since           Version
	used            func(Command) bool
}{
	{"install", "--dpupcislots", Version{8, 0, 0}, func(c Command) bool {
		i, ok := c.(*Install)
		return ok && len(i.DPUPCISlots) > 0
	}},
}

// kickstartOnly are commands that are never shell commands, so a body
// line starting with one is almost surely a command swallowed by the
// section above it.
var kickstartOnly = map[string]bool{
	"vmaccepteula": true, "accepteula": true, "rootpw": true, "installorupgrade": true,
	"clearpart": true, "vmserialnum": true, "serialnum": true, "paranoid": true, "dryrun": true,
	"network": true, "keyboard": true,
}

// Lint returns the parser's findings plus the semantic checks the
// installer makes later (or that would make the install silently differ
// from the file), sorted by line. A finding with Severity Error means the
// install fails or does not do what the file says. Use ErrorsOf to turn
// them into an error.
func Lint(f *File, o LintOptions) []Finding {
	l := &linter{file: f}
	l.out = append(l.out, f.Findings...)
	l.installVerb()
	l.required()
	for _, c := range f.Commands {
		switch v := c.(type) {
		case *Install:
			l.install(v)
		case *Rootpw:
			l.rootpw(v)
		case *Network:
			l.network(v)
		case *Clearpart:
			l.clearpart(v)
		case *Section:
			l.section(v)
		}
		l.gates(c, o.ESXi)
	}
	sortFindings(l.out)
	return l.out
}

// Check parses nothing: it lints f and returns ErrorsOf the findings.
func Check(f *File, o LintOptions) error { return ErrorsOf(f.Name, Lint(f, o)) }

type linter struct {
	file *File
	out  []Finding
}

func (l *linter) add(c Command, rule string, sev Severity, fix, format string, a ...any) {
	line, kw := 0, ""
	if c != nil {
		line, kw = c.LineNo(), c.Keyword()
	}
	l.out = append(l.out, Finding{File: l.file.Name, Line: line, Command: kw, Rule: rule, Severity: sev,
		Message: fmt.Sprintf(format, a...), Fix: fix})
}

func (l *linter) installVerb() {
	verbs := l.file.InstallCommands()
	switch {
	case len(verbs) == 0:
		l.out = append(l.out, Finding{File: l.file.Name, Command: "install", Rule: "install-verb", Severity: Error,
			Message: "no install, upgrade or installorupgrade command: the installer has nothing to do",
			Fix:     "add: install --firstdisk --overwritevmfs"})
	case len(verbs) > 1:
		seen := map[Verb]bool{verbs[0].Verb: true}
		for _, v := range verbs[1:] {
			if seen[v.Verb] {
				continue // the parser reported the duplicate-command
			}
			seen[v.Verb] = true
			l.add(v, "install-verb", Error, "keep exactly one install, upgrade or installorupgrade",
				"second install verb (first on line %d): the installer refuses more than one", verbs[0].Line)
		}
	}
}

func (l *linter) required() {
	upgrade := false
	if i := l.file.Install(); i != nil && i.Verb == VerbUpgrade {
		upgrade = true
	}
	if !upgrade && !l.file.Has("vmaccepteula") {
		l.out = append(l.out, Finding{File: l.file.Name, Command: "vmaccepteula", Rule: "accepteula-missing", Severity: Error,
			Message: "no vmaccepteula: the installer refuses to install without accepting the EULA",
			Fix:     "add a line: vmaccepteula"})
	}
	if !l.file.Has("rootpw") {
		l.out = append(l.out, Finding{File: l.file.Name, Command: "rootpw", Rule: "rootpw-missing", Severity: Error,
			Message: "no rootpw: the installer requires a root password",
			Fix:     "add: rootpw --iscrypted <SHA-512 hash> (or render one from a plaintext Secret)"})
	}
}

func (l *linter) install(i *Install) {
	if i.Disk == "" && !i.FirstDisk {
		l.add(i, "disk-selector", Error, "add --firstdisk or --disk=DEVICE",
			"%s names no disk: give --firstdisk[=filters] or --disk", i.Keyword())
	}
	if i.IgnoreSSD && !i.FirstDisk && i.Disk == "" {
		l.add(i, "ignoressd-without-firstdisk", Warning, "add --firstdisk or drop --ignoressd",
			"--ignoressd only affects --firstdisk")
	}
}

func (l *linter) rootpw(r *Rootpw) {
	pw := r.Password.Reveal()
	if pw == "" {
		return // the parser reported the missing password
	}
	if r.Crypted {
		if msg, fix := checkCrypted(pw); msg != "" {
			l.add(r, "rootpw-crypted-format", Error, fix, "%s", msg)
		}
		return
	}
	if rule, msg, fix := checkPlain(pw); rule != "" {
		l.add(r, rule, Error, fix, "%s", msg)
	}
}

func (l *linter) network(n *Network) {
	switch n.BootProto {
	case BootProtoStatic:
		if n.IP == "" {
			l.add(n, "static-needs-ip", Error, "add --ip=ADDRESS (and --netmask, --gateway)",
				"--bootproto=static without --ip")
		} else if n.Netmask == "" || n.Gateway == "" {
			l.add(n, "static-derived", Warning, "give --netmask and --gateway",
				"static network without --netmask or --gateway: the installer guesses them")
		}
	case BootProtoDHCP, "":
		var ignored []string
		for _, x := range []struct{ name, v string }{{"--ip", n.IP}, {"--netmask", n.Netmask}, {"--gateway", n.Gateway}, {"--hostname", n.Hostname}} {
			if x.v != "" {
				ignored = append(ignored, x.name)
			}
		}
		if len(n.Nameservers) > 0 {
			ignored = append(ignored, "--nameserver")
		}
		if len(ignored) > 0 {
			l.add(n, "dhcp-ignores", Warning, "use --bootproto=static, or drop them",
				"with DHCP the installer ignores %s", strings.Join(ignored, ", "))
		}
	}
}

func (l *linter) clearpart(c *Clearpart) {
	if !c.AllDrives && !c.FirstDisk && len(c.Drives) == 0 && len(c.IgnoreDrives) == 0 {
		l.add(c, "clearpart-selector", Error, "add --alldrives, --firstdisk, --drives= or --ignoredrives=",
			"clearpart names no disks: the installer refuses it")
	}
	if l.file.Install() == nil || l.file.Install().Verb != VerbInstall {
		l.add(c, "requires-install", Error, "use install, or drop clearpart", "clearpart works only with install")
	}
}

func (l *linter) section(s *Section) {
	for n, line := range splitLines(s.Body) {
		w := strings.Fields(line)
		if len(w) == 0 || line[0] == ' ' || line[0] == '\t' || !looksLikeCommand(w) {
			continue
		}
		l.out = append(l.out, Finding{File: l.file.Name, Line: s.Line + 1 + n, Command: s.Keyword(), Rule: "command-in-body",
			Severity: Warning,
			Message:  fmt.Sprintf("%q is a kickstart command inside the %s body: the installer runs it as script, not as a command", w[0], s.Kind),
			Fix:      "move kickstart commands before the first section"})
	}
}

// looksLikeCommand: a kickstart-only command, or a command that is also
// a shell word (install, upgrade, reboot) followed by one of its options.
func looksLikeCommand(w []string) bool {
	if kickstartOnly[w[0]] {
		return true
	}
	spec := grammar[w[0]]
	if spec == nil || spec.deprecated || spec.unused {
		return false
	}
	for _, a := range w[1:] {
		k, _, _ := strings.Cut(a, "=")
		if _, ok := spec.args[k]; ok {
			return true
		}
	}
	return false
}

func (l *linter) gates(c Command, v Version) {
	for _, g := range versionGates {
		if c.Keyword() != g.command || !g.used(c) {
			continue
		}
		switch {
		case v.IsZero():
			l.add(c, "version-gated", Warning, "pass the target ESXi version",
				"%s needs ESXi %s or later; no target version given", g.option, g.since)
		case v.Less(g.since):
			l.add(c, "version-gated", Error, fmt.Sprintf("remove %s, or target ESXi %s or later", g.option, g.since),
				"%s needs ESXi %s or later; target is %s", g.option, g.since, v)
		}
	}
}
