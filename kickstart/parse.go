package kickstart

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// MaxFileSize bounds what Parse reads; real kickstarts are a few KiB.
const MaxFileSize = 4 << 20

// MaxCommands is the installer's limit on commands across all files.
const MaxCommands = 256

// ErrTooLarge is returned for input over MaxFileSize.
var ErrTooLarge = errors.New("kickstart too large")

// Parse reads a kickstart the way the installer's pre-parser does: one
// line at a time through shlex (quotes, escapes, '#' comments; no line
// joining), script bodies up to the next line starting with a section
// keyword, unknown or deprecated commands kept as warnings. Problems in
// the text never fail Parse: they are Findings on the returned file (Lint
// reports them with the semantic checks). Parse fails only on read errors
// and oversized input. name labels findings.
func Parse(r io.Reader, name string) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read kickstart %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("kickstart %s: more than %d bytes: %w", name, MaxFileSize, ErrTooLarge)
	}
	p := &parser{file: &File{Name: name}, lines: splitLines(string(data)), seen: map[string]int{}}
	p.run()
	sortFindings(p.file.Findings)
	return p.file, nil
}

// splitLines splits like Python's readlines on bytes (on "\n" only,
// keeping it) and turns CRLF into LF, as the installer does.
func splitLines(s string) []string {
	var lines []string
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		var l string
		if i < 0 {
			l, s = s, ""
		} else {
			l, s = s[:i+1], s[i+1:]
		}
		lines = append(lines, strings.ReplaceAll(l, "\r\n", "\n"))
	}
	return lines
}

type parser struct {
	file      *File
	lines     []string
	nCommands int
	seen      map[string]int // first line of each non-repeatable command
}

func (p *parser) add(line int, command, rule string, sev Severity, fix, format string, a ...any) {
	p.file.Findings = append(p.file.Findings, Finding{
		File: p.file.Name, Line: line, Command: command, Rule: rule, Severity: sev,
		Message: fmt.Sprintf(format, a...), Fix: fix,
	})
}

func (p *parser) run() {
	continuationOf := 0       // line number whose trailing backslash ran into this line
	cutBy := map[int]string{} // line index -> section whose body it ended
	for i := 0; i < len(p.lines); i++ {
		ln := i + 1
		line := p.lines[i]
		prevContinued := continuationOf == ln-1 && continuationOf > 0
		lt, err := tokenizeLine(line)
		if err != nil {
			p.add(ln, "-", "syntax", Error, "close the quote or remove the stray backslash",
				"%v: the installer stops reading the file at this line", err)
			continue
		}
		if len(lt.tokens) == 0 {
			continue
		}
		cmd := lt.tokens[0]
		secretLine := cmd == "rootpw"
		if lt.continuation {
			continuationOf = ln
			lt.tokens = lt.tokens[:len(lt.tokens)-1] // the literal newline token
			if len(lt.tokens) == 0 {
				cmd = "-"
			}
			p.add(ln, cmd, "line-continuation", Error, "join the continued lines into one line",
				"line ends in a backslash: the installer does not join lines, so line %d is read as a separate command and its options are lost", ln+1)
			if len(lt.tokens) == 0 {
				continue
			}
		}
		if hasNonASCII(line) {
			p.add(ln, cmd, "non-ascii", Warning, "use ASCII only", "line contains a non-ASCII character")
		}
		if lt.commentInWord {
			if secretLine {
				p.add(ln, cmd, "comment-in-word", Error, "quote the password ('...')",
					"an unquoted '#' starts a comment, so the installer reads only the part before it")
			} else {
				p.add(ln, cmd, "comment-in-word", Warning, "quote the word containing '#'",
					"an unquoted '#' starts a comment, so the installer ignores the rest of the line")
			}
		}
		section, endedBody := cutBy[i]
		if endedBody && !isSectionKeyword(cmd) {
			p.add(ln, cmd, "section-cut", Error, "indent the line or rewrite it so it does not start with a section keyword",
				"this line starts with %q, so the installer ends the %s body here and reads the rest as commands",
				keywordPrefix(line), section)
		}
		spec := grammar[cmd]
		if spec == nil {
			p.file.Commands = append(p.file.Commands, &Raw{Base: Base{Line: ln}, Name: cmd, Args: nonEmpty(lt.tokens[1:]), Kind: RawUnknown})
			if !prevContinued && !endedBody {
				p.add(ln, cmd, "unknown-command", Warning, "remove it or fix the spelling",
					"unknown command %q: the installer warns and ignores it", cmd)
			}
			continue
		}
		args := lt.tokens[1:]
		if spec.multiline {
			body, next, dropped := p.body(i + 1)
			args = append(args, body)
			if dropped {
				p.add(next+1, strings.Fields(p.lines[next])[0], "dropped-last-line", Warning,
					"add an empty line after it",
					"the installer skips a section keyword on the last line of the file right after a script body")
				i = next // skip it, as the installer does
			} else {
				i = next - 1
				if next < len(p.lines) {
					cutBy[next] = spec.name
				}
			}
		}
		p.nCommands++
		if p.nCommands == MaxCommands+1 {
			p.add(ln, cmd, "too-many-commands", Error, "merge or remove commands",
				"more than %d commands: the installer refuses the file", MaxCommands)
		}
		switch {
		case spec.deprecated:
			p.file.Commands = append(p.file.Commands, &Raw{Base: Base{Line: ln}, Name: cmd, Args: nonEmpty(args), Kind: RawDeprecated})
			p.add(ln, cmd, "deprecated-command", Warning, "remove it", "command %q is deprecated: the installer ignores it", cmd)
			continue
		case spec.unused:
			p.file.Commands = append(p.file.Commands, &Raw{Base: Base{Line: ln}, Name: cmd, Args: nonEmpty(args), Kind: RawUnused})
			p.add(ln, cmd, "unused-command", Warning, "remove it", "command %q is currently unused by the installer", cmd)
			continue
		}
		if !spec.multiple {
			if first, dup := p.seen[spec.name]; dup {
				sev, what := Warning, "the installer uses the latest"
				if spec.dupError {
					sev, what = Error, "the installer refuses the file"
				}
				p.add(ln, cmd, "duplicate-command", sev, "keep one", "%s already given on line %d: %s", spec.name, first, what)
			} else {
				p.seen[spec.name] = ln
			}
		}
		b := p.branch(spec, cmd, args, ln, secretLine)
		p.file.Commands = append(p.file.Commands, typed(spec, cmd, b, ln))
	}
}

// isSectionKeyword: a command that legitimately starts a line after a
// script body (a section, an include, or a deprecated section keyword).
func isSectionKeyword(cmd string) bool {
	switch cmd {
	case "%pre", "%post", "%firstboot", "%include", "include", "%packages", "%vmlicense_text":
		return true
	}
	return false
}

func keywordPrefix(line string) string {
	for _, k := range sectionKeywordPrefixes {
		if strings.HasPrefix(line, k) {
			return k
		}
	}
	return ""
}

// nonEmpty returns nil for an empty slice so parsed and built models compare equal.
func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// body returns the script starting at line index from, the index of the
// line that ended it, and whether the installer drops that line (a
// keyword on the file's last line: its reader does not step back there).
func (p *parser) body(from int) (string, int, bool) {
	var b strings.Builder
	j := from
	for ; j < len(p.lines); j++ {
		if startsWithKeyword(p.lines[j]) {
			break
		}
		b.WriteString(p.lines[j])
	}
	dropped := j < len(p.lines) && j == len(p.lines)-1 && len(strings.Fields(p.lines[j])) > 0
	return b.String(), j, dropped
}

// branch is the installer's "bump tree" entry for one command: the
// accepted options by canonical name, the hanging argument and what it
// did not understand.
type branch struct {
	vals       map[string]string
	bare       map[string]bool // valueOptional given without '='
	hanging    string
	hasHanging bool
	extra      []string
}

func (b *branch) has(k string) bool { _, ok := b.vals[k]; return ok }

func canonicalArg(spec *cmdSpec, key string) string {
	if a := spec.args[key]; a.alias != "" {
		return a.alias
	}
	return key
}

func (p *parser) branch(spec *cmdSpec, cmd string, args []string, ln int, secretLine bool) *branch {
	b := &branch{vals: map[string]string{}, bare: map[string]bool{}}
	type extraArg struct {
		idx int
		arg string
	}
	type tuple struct {
		idx      int
		key, val string
		hasEq    bool
	}
	var tuples []tuple
	var extras []extraArg
	for idx, a := range args {
		key, val, hasEq := strings.Cut(a, "=")
		if _, ok := spec.args[key]; !ok {
			extras = append(extras, extraArg{idx, a})
			continue
		}
		tuples = append(tuples, tuple{idx, key, val, hasEq})
	}
	// Deprecated hanging words (install cdrom) are dropped with a warning.
	kept := extras[:0]
	for _, e := range extras {
		if slices.Contains(spec.deprecatedWords, e.arg) {
			p.add(ln, cmd, "deprecated-argument", Warning, "remove it", "%q is deprecated for %s", e.arg, spec.name)
			continue
		}
		kept = append(kept, e)
	}
	extras = kept
	if h := spec.hanging; h != nil {
		if len(extras) == 0 {
			p.add(ln, cmd, "missing-argument", Error, fmt.Sprintf("give the %s", h.name), "%s not specified for %s", h.name, spec.name)
		} else {
			var e extraArg
			if h.front {
				e, extras = extras[0], extras[1:]
				if e.idx != 0 {
					p.add(ln, cmd, "argument-order", Warning, fmt.Sprintf("put the %s first", h.name),
						"expected the %s at the front; the installer uses the word at position %d", h.name, e.idx+1)
				}
			} else {
				e, extras = extras[len(extras)-1], extras[:len(extras)-1]
				if e.idx != len(args)-1 {
					p.add(ln, cmd, "argument-order", Warning, fmt.Sprintf("put the %s last", h.name),
						"expected the %s at the end; the installer uses the word at position %d", h.name, e.idx+1)
				}
			}
			if e.arg == "" && h.name == "script" {
				p.add(ln, cmd, "empty-section", Warning, "add the script or remove the section",
					"%s has an empty body: the installer ignores it", spec.name)
			} else if e.arg == "" {
				p.add(ln, cmd, "missing-argument", Error, fmt.Sprintf("give the %s", h.name), "%s is empty for %s", h.name, spec.name)
			} else if h.regex != nil && !h.regex.MatchString(e.arg) {
				sev := Warning
				if h.regexError {
					sev = Error
				}
				p.add(ln, cmd, "bad-value", sev, fmt.Sprintf("give a valid %s", h.name), "invalid %s for %s", h.name, spec.name)
			} else {
				b.hanging, b.hasHanging = e.arg, true
			}
		}
	}
	missingAt := map[int]string{}
	given := map[string]bool{}
	for _, t := range tuples {
		a := spec.args[t.key]
		canon := canonicalArg(spec, t.key)
		given[canon] = true
		if !t.hasEq && a.kind == valueOptional {
			b.bare[canon] = true
		} else if a.kind != flagOnly && t.val == "" {
			missingAt[t.idx] = t.key
			continue
		} else if a.kind == flagOnly && t.val != "" {
			p.add(ln, cmd, "superfluous-value", Warning, fmt.Sprintf("write %s without a value", t.key),
				"argument %s does not take a value: the installer ignores it", t.key)
			continue
		}
		if !b.bare[canon] && a.regex != nil && !a.regex.MatchString(t.val) {
			sev, what := Warning, "the installer ignores it"
			if a.regexError {
				sev, what = Error, "the installer refuses the file"
			}
			val := fmt.Sprintf(" %q", t.val)
			if secretLine {
				val = ""
			}
			p.add(ln, cmd, "bad-value", sev, valueFix(spec.name, t.key), "invalid value%s for %s: %s", val, t.key, what)
			continue
		}
		if a.validate != nil {
			if err := a.validate(t.val); err != nil {
				p.add(ln, cmd, "bad-value", Error, valueFix(spec.name, t.key), "%s: %v", t.key, err)
			}
		}
		if a.deprecated {
			p.add(ln, cmd, "deprecated-argument", Warning, "remove it", "%s is deprecated: the installer ignores it", t.key)
		}
		if b.has(canon) {
			sev := Warning
			if a.dupError {
				sev = Error
			}
			p.add(ln, cmd, "duplicate-argument", sev, fmt.Sprintf("give %s once", canon), "%s given more than once", canon)
			continue
		}
		b.vals[canon] = t.val
	}
	// A value written after a space ("--ip 10.0.0.5") is the most common
	// way an option is silently lost: report the pair once, as an error.
	unknownIdx := map[int]bool{}
	for _, e := range extras {
		unknownIdx[e.idx] = true
	}
	for idx, key := range missingAt {
		if unknownIdx[idx+1] && !strings.HasPrefix(args[idx+1], "-") {
			delete(unknownIdx, idx+1)
			p.add(ln, cmd, "space-separated-value", Error, fmt.Sprintf("write %s=VALUE", key),
				"%s takes its value after '=': the installer drops %s and ignores the next word", key, key)
			continue
		}
		p.add(ln, cmd, "missing-value", Warning, fmt.Sprintf("write %s=VALUE", key), "argument %s is missing a value: the installer ignores it", key)
	}
	for _, e := range extras {
		if !unknownIdx[e.idx] {
			continue
		}
		if secretLine && !strings.HasPrefix(e.arg, "--") {
			p.add(ln, cmd, "unknown-argument", Warning, "quote a password containing spaces",
				"extra word at position %d: the installer ignores it", e.idx+1)
			continue
		}
		sev := Warning
		if spec.name == "installorupgrade" && e.arg == "--ignoressd" {
			sev = Error
		}
		p.add(ln, cmd, "unknown-argument", sev, "remove it or fix the spelling", "unknown argument %q to %s", e.arg, spec.name)
		b.extra = append(b.extra, e.arg)
	}
	keys := make([]string, 0, len(spec.args))
	for k := range spec.args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	seen := map[string]bool{}
	for _, k := range keys {
		a := spec.args[k]
		if a.required && !given[canonicalArg(spec, k)] {
			p.add(ln, cmd, "missing-argument", Error, fmt.Sprintf("add %s=VALUE", k), "%s requires %s", spec.name, k)
		}
		if !b.has(k) || a.alias != "" {
			continue
		}
		for _, other := range a.invalids {
			oc := canonicalArg(spec, other)
			if oc == k || !b.has(oc) {
				continue
			}
			x, y := k, oc
			if y < x {
				x, y = y, x
			}
			if seen[x+" "+y] {
				continue
			}
			seen[x+" "+y] = true
			p.add(ln, cmd, "conflicting-arguments", Error, fmt.Sprintf("keep only one of %s and %s", x, y),
				"%s and %s exclude each other: the installer refuses the file", x, y)
		}
	}
	return b
}

// valueFix says how to write a valid value for an option.
func valueFix(cmd, key string) string {
	switch key {
	case "--interpreter":
		return "use --interpreter=busybox or --interpreter=python"
	case "--bootproto":
		return "use --bootproto=dhcp or --bootproto=static"
	case "--esx":
		return "use --esx=XXXXX-XXXXX-XXXXX-XXXXX-XXXXX"
	case "--timeout":
		return "give whole seconds, e.g. --timeout=600"
	case "--ignorefailure":
		return "use --ignorefailure=true or --ignorefailure=false"
	case "--addvmportgroup":
		return "use --addvmportgroup=0 or 1"
	}
	return fmt.Sprintf("give %s %s a valid value", cmd, key)
}

func splitList(v string) []string {
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// filters returns nil for a bare --firstdisk (installer default).
func (b *branch) filters(k string) []string {
	if b.bare[k] {
		return nil
	}
	return splitList(b.vals[k])
}

func typed(spec *cmdSpec, cmd string, b *branch, ln int) Command {
	base := Base{Line: ln, Extra: b.extra}
	switch spec.name {
	case "vmaccepteula":
		return &AcceptEULA{Base: base}
	case "install", "upgrade", "installorupgrade":
		return &Install{Base: base, Verb: Verb(spec.name),
			Disk: b.vals["--disk"], FirstDisk: b.has("--firstdisk"), FirstDiskFilters: b.filters("--firstdisk"),
			IgnoreSSD: b.has("--ignoressd"), OverwriteVMFS: b.has("--overwritevmfs"), PreserveVMFS: b.has("--preservevmfs"),
			NoVMFSOnDisk: b.has("--novmfsondisk"), OverwriteVSAN: b.has("--overwritevsan"),
			IgnorePrereqWarnings: b.has("--ignoreprereqwarnings"), IgnorePrereqErrors: b.has("--ignoreprereqerrors"),
			ForceUnsupportedInstall: b.has("--forceunsupportedinstall"), ForceMigrate: b.has("--forcemigrate"),
			DPUPCISlots: splitList(b.vals["--dpupcislots"]),
		}
	case "clearpart":
		return &Clearpart{Base: base, All: b.has("--all"), AllDrives: b.has("--alldrives"),
			Drives: splitList(b.vals["--drives"]), IgnoreDrives: splitList(b.vals["--ignoredrives"]),
			FirstDisk: b.has("--firstdisk"), FirstDiskFilters: b.filters("--firstdisk"), OverwriteVMFS: b.has("--overwritevmfs")}
	case "part":
		return &Part{Base: base, Datastore: b.hanging, OnDisk: b.vals["--ondisk"],
			OnFirstDisk: b.has("--onfirstdisk"), OnFirstDiskFilters: b.filters("--onfirstdisk")}
	case "rootpw":
		// Unknown words on a rootpw line may be pieces of a password:
		// keep only option-looking ones.
		var extra []string
		for _, e := range base.Extra {
			if strings.HasPrefix(e, "--") {
				extra = append(extra, e)
			}
		}
		base.Extra = extra
		return &Rootpw{Base: base, Password: secret.New(b.hanging), Crypted: b.has("--iscrypted")}
	case "network":
		return &Network{Base: base, BootProto: BootProto(b.vals["--bootproto"]), Device: b.vals["--device"],
			IP: b.vals["--ip"], Netmask: b.vals["--netmask"], Gateway: b.vals["--gateway"],
			Nameservers: splitList(b.vals["--nameserver"]), Hostname: b.vals["--hostname"], VLANID: b.vals["--vlanid"],
			AddVMPortgroup: b.vals["--addvmportgroup"], NoDNS: b.has("--nodns")}
	case "keyboard":
		return &Keyboard{Base: base, Layout: b.hanging}
	case "serialnum":
		return &Serialnum{Base: base, ESX: b.vals["--esx"]}
	case "reboot":
		return &Reboot{Base: base, NoEject: b.has("--noeject")}
	case "paranoid":
		return &Paranoid{Base: base}
	case "dryrun":
		return &Dryrun{Base: base}
	case "%include":
		return &Include{Base: base, Path: b.hanging}
	case "%pre", "%post", "%firstboot":
		s := &Section{Base: base, Kind: SectionKind(spec.name), Interpreter: b.vals["--interpreter"], Body: b.hanging}
		if v, ok := b.vals["--timeout"]; ok {
			if n, err := strconv.Atoi(v); err == nil {
				s.Timeout = &n
			}
		}
		if v, ok := b.vals["--ignorefailure"]; ok {
			t := strings.EqualFold(v, "true")
			s.IgnoreFailure = &t
		}
		return s
	}
	return &Raw{Base: base, Name: cmd, Kind: RawKnown}
}
