package kickstart

import (
	"bytes"
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
//
// When f has %include commands whose content Lint cannot see (often a
// file the %pre script writes), a required command that is missing is a
// warning, not an error; LintResolved checks the whole set.
func Lint(f *File, o LintOptions) []Finding {
	var unresolved []string
	for _, i := range f.Includes() {
		unresolved = append(unresolved, i.Path)
	}
	return lintFiles([]*File{f}, unresolved, o)
}

// LintResolved lints a kickstart together with the files it includes, as
// returned by ResolveIncludes: required commands and the command limit
// are checked across all of them, like the installer does.
func LintResolved(files []*File, o LintOptions) []Finding {
	return lintFiles(files, nil, o)
}

func lintFiles(files []*File, unresolved []string, o LintOptions) []Finding {
	if len(files) == 0 {
		return nil
	}
	l := &linter{files: files, unresolved: unresolved}
	total := 0
	for _, f := range files {
		l.out = append(l.out, f.Findings...)
		for _, c := range f.Commands {
			if r, ok := c.(*Raw); !ok || r.Kind != RawUnknown {
				total++
			}
		}
	}
	l.cur = files[0]
	if len(files) > 1 && total > MaxCommands && !l.reported("too-many-commands") {
		l.add(nil, "too-many-commands", Error, "merge or remove commands",
			"%d commands across %d files: the installer refuses more than %d", total, len(files), MaxCommands)
	}
	l.installVerb()
	l.required()
	for _, f := range files {
		l.cur = f
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
	}
	sortFindings(l.out)
	return l.out
}

// Check lints f and returns ErrorsOf the findings.
func Check(f *File, o LintOptions) error { return ErrorsOf(f.Name, Lint(f, o)) }

// CheckModel is Check for a model built in code: it renders f, parses the
// text as the installer would and lints that, so values only the
// installer's parser validates (addresses, VLAN IDs, serial numbers) are
// checked too. Line numbers refer to the rendered text. A model that
// cannot be rendered is an error wrapping ErrUnrenderable.
func CheckModel(f *File, o LintOptions) error {
	b, err := f.Render()
	if err != nil {
		return err
	}
	name := f.Name
	if name == "" {
		name = "kickstart"
	}
	back, err := Parse(bytes.NewReader(b), name+" (rendered)")
	if err != nil {
		return err
	}
	return ErrorsOf(back.Name, Lint(back, o))
}

type linter struct {
	files      []*File
	cur        *File    // the file the current command is in
	unresolved []string // %include paths whose content is not known
	out        []Finding
}

func (l *linter) reported(rule string) bool {
	for _, f := range l.out {
		if f.Rule == rule {
			return true
		}
	}
	return false
}

func (l *linter) add(c Command, rule string, sev Severity, fix, format string, a ...any) {
	line, kw := 0, "-"
	if c != nil {
		line, kw = c.LineNo(), c.Keyword()
	}
	l.out = append(l.out, Finding{File: l.cur.Name, Line: line, Command: kw, Rule: rule, Severity: sev,
		Message: fmt.Sprintf(format, a...), Fix: fix})
}

// missing reports a required command that no file has. With unresolved
// includes it may come from one of them, so it is only a warning.
func (l *linter) missing(command, rule, msg, fix string) {
	sev := Error
	if len(l.unresolved) > 0 {
		sev = Warning
		msg += fmt.Sprintf(" (unless %%include %s provides it)", strings.Join(l.unresolved, ", "))
	}
	l.out = append(l.out, Finding{File: l.files[0].Name, Command: command, Rule: rule, Severity: sev, Message: msg, Fix: fix})
}

// inFile pairs a command with the file it is in.
type inFile[T any] struct {
	file *File
	cmd  T
}

func (l *linter) installs() []inFile[*Install] {
	var out []inFile[*Install]
	for _, f := range l.files {
		for _, i := range f.InstallCommands() {
			out = append(out, inFile[*Install]{f, i})
		}
	}
	return out
}

func (l *linter) has(keyword string) bool {
	for _, f := range l.files {
		if f.Has(keyword) {
			return true
		}
	}
	return false
}

func (l *linter) installVerb() {
	verbs := l.installs()
	switch {
	case len(verbs) == 0:
		l.missing("install", "install-verb", "no install, upgrade or installorupgrade command: the installer has nothing to do",
			"add: install --firstdisk --overwritevmfs")
	case len(verbs) > 1:
		seen := map[Verb]bool{verbs[0].cmd.Verb: true}
		for _, v := range verbs[1:] {
			if seen[v.cmd.Verb] && v.file == verbs[0].file {
				continue // the parser reported the duplicate-command
			}
			seen[v.cmd.Verb] = true
			l.cur = v.file
			l.add(v.cmd, "install-verb", Error, "keep exactly one install, upgrade or installorupgrade",
				"second install verb (first in %s line %d): the installer refuses more than one", verbs[0].file.Name, verbs[0].cmd.Line)
		}
	}
}

// verb is the install verb in use, "" when none.
func (l *linter) verb() Verb {
	if v := l.installs(); len(v) > 0 {
		return Verb(v[len(v)-1].cmd.Keyword())
	}
	return ""
}

func (l *linter) required() {
	if l.verb() != VerbUpgrade && !l.has("vmaccepteula") {
		l.missing("vmaccepteula", "accepteula-missing", "no vmaccepteula: the installer refuses to install without accepting the EULA",
			"add a line: vmaccepteula")
	}
	if !l.has("rootpw") {
		l.missing("rootpw", "rootpw-missing", "no rootpw: the installer requires a root password",
			"add: rootpw --iscrypted <SHA-512 hash> (or render one from a plaintext Secret)")
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
	if l.verb() != VerbInstall {
		l.add(c, "requires-install", Error, "use install, or drop clearpart", "clearpart works only with install")
	}
}

func (l *linter) section(s *Section) {
	for n, line := range splitLines(s.Body) {
		w := strings.Fields(line)
		if len(w) == 0 || line[0] == ' ' || line[0] == '\t' || !looksLikeCommand(w) {
			continue
		}
		l.out = append(l.out, Finding{File: l.cur.Name, Line: s.Line + 1 + n, Command: s.Keyword(), Rule: "command-in-body",
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
