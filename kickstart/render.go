package kickstart

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ErrUnrenderable is wrapped by Render errors: the model holds something
// the installer would read back differently (a body line that would end
// the section, a command that would be swallowed by a body, a value the
// installer drops).
var ErrUnrenderable = errors.New("kickstart cannot be rendered faithfully")

// RenderOptions changes how Render writes a model.
type RenderOptions struct {
	// CryptPasswords writes a plaintext rootpw as "rootpw --iscrypted"
	// with a SHA-512 crypt hash, so the file never holds the plaintext.
	CryptPasswords bool
	// Salt for CryptPasswords (reproducible output); empty = random.
	Salt string
}

// Render writes the file deterministically: one line per command in
// model order, options in a fixed order, values quoted only when needed,
// section bodies verbatim (a body that is not the last command gets a
// final newline if it lacks one). Parse of
// the output gives the same model. It refuses models the installer would
// read differently (see ErrUnrenderable).
func (f *File) Render() ([]byte, error) { return f.RenderWith(RenderOptions{}) }

// RenderWith is Render with options.
func (f *File) RenderWith(o RenderOptions) ([]byte, error) {
	var out strings.Builder
	afterBody := false // the previous command was a section: its body runs to the next keyword line
	for i, c := range f.Commands {
		words, err := commandWords(c, o)
		if err != nil {
			return nil, fmt.Errorf("command %d (%s): %w", i+1, c.Keyword(), err)
		}
		line, err := joinWords(words)
		if err != nil {
			return nil, fmt.Errorf("command %d (%s): %w", i+1, c.Keyword(), err)
		}
		if afterBody && !startsWithKeyword(line) {
			return nil, fmt.Errorf("command %d (%s) follows a script section and would become part of its body: move it before the first section: %w",
				i+1, c.Keyword(), ErrUnrenderable)
		}
		out.WriteString(line)
		out.WriteByte('\n')
		s, isSection := c.(*Section)
		if !isSection {
			if afterBody && i == len(f.Commands)-1 {
				// The installer skips a keyword on the last line right
				// after a body: give it a line after.
				out.WriteByte('\n')
			}
			afterBody = false
			continue
		}
		body := s.Body
		// A body without its final newline can only be the end of the
		// file; anywhere else the next keyword needs a line of its own.
		if body != "" && !strings.HasSuffix(body, "\n") && i < len(f.Commands)-1 {
			body += "\n"
		}
		for n, l := range splitLines(body) {
			if startsWithKeyword(l) {
				return nil, fmt.Errorf("%s section (command %d): body line %d starts with a section keyword and would end the section: %w",
					s.Kind, i+1, n+1, ErrUnrenderable)
			}
		}
		if body == "" && afterBody && i == len(f.Commands)-1 {
			return nil, fmt.Errorf("%s section (command %d): an empty section on the last line after another section is skipped by the installer: %w",
				s.Kind, i+1, ErrUnrenderable)
		}
		out.WriteString(body)
		afterBody = true
	}
	return []byte(out.String()), nil
}

func joinWords(words []string) (string, error) {
	q := make([]string, len(words))
	for i, w := range words {
		// An option's key stays bare so the installer's split on '='
		// sees it; only the value is quoted.
		if k, v, ok := strings.Cut(w, "="); ok && i > 0 && strings.HasPrefix(k, "--") && isBare(k) {
			qv, ok := shellQuote(v)
			if !ok {
				return "", fmt.Errorf("value of %s contains a newline: %w", k, ErrUnrenderable)
			}
			q[i] = k + "=" + qv
			continue
		}
		qw, ok := shellQuote(w)
		if !ok {
			return "", fmt.Errorf("word %d contains a newline: %w", i+1, ErrUnrenderable)
		}
		q[i] = qw
	}
	return strings.Join(q, " "), nil
}

func isBare(s string) bool { q, ok := shellQuote(s); return ok && q == s }

// opts collects option words for one command, checking each value the
// way the parser will, so that what is rendered is what is parsed.
type opts struct {
	spec  *cmdSpec
	words []string
	err   error
}

func (w *opts) flag(name string, on bool) {
	if on {
		w.words = append(w.words, name)
	}
}

func (w *opts) value(name, v string) {
	if v == "" || w.err != nil {
		return
	}
	if a := w.spec.args[name]; a.regex != nil && !a.regex.MatchString(v) {
		w.err = fmt.Errorf("%s=%q would be dropped by the installer: %w", name, v, ErrUnrenderable)
		return
	}
	w.words = append(w.words, name+"="+v)
}

func (w *opts) list(name string, vs []string) {
	if len(vs) == 0 || w.err != nil {
		return
	}
	for _, v := range vs {
		if v == "" || strings.Contains(v, ",") {
			w.err = fmt.Errorf("%s: list item %q is empty or contains a comma: %w", name, v, ErrUnrenderable)
			return
		}
	}
	w.value(name, strings.Join(vs, ","))
}

// optional is a valueOptional option: bare when filters are empty.
func (w *opts) optional(name string, on bool, filters []string) {
	if !on {
		return
	}
	if len(filters) == 0 {
		w.words = append(w.words, name)
		return
	}
	w.list(name, filters)
}

// extra appends unknown arguments, refusing ones the parser would read
// as something else.
func (w *opts) extra(xs []string) {
	for _, x := range xs {
		if w.err != nil {
			return
		}
		k, _, _ := strings.Cut(x, "=")
		_, known := w.spec.args[k]
		if known || slices.Contains(w.spec.deprecatedWords, x) || (w.spec.hanging != nil && !strings.HasPrefix(x, "-")) {
			w.err = fmt.Errorf("extra argument %q would be read as a known argument: %w", x, ErrUnrenderable)
			return
		}
		w.words = append(w.words, x)
	}
}

// hanging checks a positional value.
func (w *opts) hanging(v string) {
	if w.err != nil {
		return
	}
	if k, _, _ := strings.Cut(v, "="); hasArg(w.spec, k) {
		w.err = fmt.Errorf("%s value looks like one of its options: %w", w.spec.hanging.name, ErrUnrenderable)
	}
}

func hasArg(spec *cmdSpec, k string) bool { _, ok := spec.args[k]; return ok }

func commandWords(c Command, o RenderOptions) ([]string, error) {
	kw := c.Keyword()
	spec := grammar[kw]
	w := &opts{spec: spec}
	if spec == nil {
		spec = &cmdSpec{}
		w.spec = spec
	}
	var tail []string // hanging argument at the end
	var head []string // hanging argument at the front
	switch v := c.(type) {
	case *AcceptEULA, *Paranoid, *Dryrun:
	case *Install:
		if v.Verb != VerbInstall && v.Verb != VerbUpgrade && v.Verb != VerbInstallOrUpgrade && v.Verb != "" {
			return nil, fmt.Errorf("unknown verb %q: %w", v.Verb, ErrUnrenderable)
		}
		w.value("--disk", v.Disk)
		w.optional("--firstdisk", v.FirstDisk, v.FirstDiskFilters)
		for _, fl := range []struct {
			name string
			on   bool
		}{
			{"--ignoressd", v.IgnoreSSD}, {"--overwritevmfs", v.OverwriteVMFS}, {"--preservevmfs", v.PreserveVMFS},
			{"--novmfsondisk", v.NoVMFSOnDisk}, {"--overwritevsan", v.OverwriteVSAN},
			{"--ignoreprereqwarnings", v.IgnorePrereqWarnings}, {"--ignoreprereqerrors", v.IgnorePrereqErrors},
			{"--forceunsupportedinstall", v.ForceUnsupportedInstall}, {"--forcemigrate", v.ForceMigrate},
		} {
			if fl.on && !hasArg(spec, fl.name) {
				return nil, fmt.Errorf("%s is not an option of %s: %w", fl.name, kw, ErrUnrenderable)
			}
			w.flag(fl.name, fl.on)
		}
		w.list("--dpupcislots", v.DPUPCISlots)
	case *Clearpart:
		w.flag("--all", v.All)
		w.flag("--alldrives", v.AllDrives)
		w.list("--drives", v.Drives)
		w.list("--ignoredrives", v.IgnoreDrives)
		w.optional("--firstdisk", v.FirstDisk, v.FirstDiskFilters)
		w.flag("--overwritevmfs", v.OverwriteVMFS)
	case *Part:
		w.hanging(v.Datastore)
		head = []string{v.Datastore}
		w.value("--ondisk", v.OnDisk)
		w.optional("--onfirstdisk", v.OnFirstDisk, v.OnFirstDiskFilters)
	case *Rootpw:
		pw, crypted := v.Password, v.Crypted
		if o.CryptPasswords && !crypted && !pw.IsZero() {
			h, err := CryptSHA512(pw, o.Salt)
			if err != nil {
				return nil, err
			}
			pw, crypted = h, true
		}
		w.flag("--iscrypted", crypted)
		if strings.HasPrefix(pw.Reveal(), "-") {
			return nil, fmt.Errorf("rootpw: a password starting with '-' is read as an option: %w", ErrUnrenderable)
		}
		tail = []string{pw.Reveal()}
	case *Network:
		w.value("--bootproto", string(v.BootProto))
		w.value("--device", v.Device)
		w.value("--ip", v.IP)
		w.value("--netmask", v.Netmask)
		w.value("--gateway", v.Gateway)
		w.list("--nameserver", v.Nameservers)
		w.value("--hostname", v.Hostname)
		w.value("--vlanid", v.VLANID)
		w.value("--addvmportgroup", v.AddVMPortgroup)
		w.flag("--nodns", v.NoDNS)
	case *Keyboard:
		w.hanging(v.Layout)
		tail = []string{v.Layout}
	case *Serialnum:
		w.value("--esx", v.ESX)
	case *Reboot:
		w.flag("--noeject", v.NoEject)
	case *Include:
		w.hanging(v.Path)
		tail = []string{v.Path}
	case *Section:
		if v.Kind != SectionPre && v.Kind != SectionPost && v.Kind != SectionFirstboot {
			return nil, fmt.Errorf("unknown section kind %q: %w", v.Kind, ErrUnrenderable)
		}
		w.value("--interpreter", v.Interpreter)
		if v.Timeout != nil {
			if v.Kind != SectionPost || *v.Timeout < 0 {
				return nil, fmt.Errorf("--timeout: only %%post takes it, in whole seconds >= 0: %w", ErrUnrenderable)
			}
			w.value("--timeout", strconv.Itoa(*v.Timeout))
		}
		if v.IgnoreFailure != nil {
			if v.Kind != SectionPost {
				return nil, fmt.Errorf("--ignorefailure: only %%post takes it: %w", ErrUnrenderable)
			}
			w.value("--ignorefailure", strconv.FormatBool(*v.IgnoreFailure))
		}
	case *Raw:
		want := RawUnknown
		if g := grammar[v.Name]; g != nil {
			switch {
			case g.deprecated:
				want = RawDeprecated
			case g.unused:
				want = RawUnused
			default:
				want = RawKnown
			}
		}
		if v.Name == "" || v.Kind != want || (want == RawKnown && (v.Name != "partitionembed" || len(v.Args) > 0)) {
			return nil, fmt.Errorf("raw command %q of kind %q: the parser would read it as %q: %w", v.Name, v.Kind, want, ErrUnrenderable)
		}
		if v.Name != strings.TrimSpace(v.Name) || strings.ContainsAny(v.Name, "\n") {
			return nil, fmt.Errorf("raw command name %q: %w", v.Name, ErrUnrenderable)
		}
		if len(v.Extra) > 0 {
			return nil, fmt.Errorf("raw command %q: use Args, not Extra: %w", v.Name, ErrUnrenderable)
		}
		if spec.multiline {
			return nil, fmt.Errorf("raw command %q: %w", v.Name, ErrUnrenderable)
		}
		return append([]string{v.Name}, v.Args...), nil
	default:
		return nil, fmt.Errorf("unknown command type %T: %w", c, ErrUnrenderable)
	}
	w.extra(c.base().Extra)
	if w.err != nil {
		return nil, w.err
	}
	words := append([]string{kw}, head...)
	words = append(words, w.words...)
	return append(words, tail...), nil
}
