package kickstart

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// gen builds random but renderable models: every field the renderer
// writes, awkward values that need quoting, unknown and deprecated
// commands, sections in any order at the end.
type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }
func (g gen) maybe() bool              { return g.r.IntN(2) == 0 }

// word returns a value that needs no quoting, or one that does.
func (g gen) word() string {
	return g.pick("vmnic0", "mpx.vmhba0:C0:T0:L0", "naa.600508b1001c3a", "US Default", "it's", `a"b`, `back\slash`,
		"hash#tag", "t\tab", "$6$x", "ünï", "a=b", "x'y\"z")
}

func (g gen) list() []string {
	var out []string
	for i := 0; i <= g.r.IntN(3); i++ {
		out = append(out, g.pick("local", "remote", "usb", "vmw_ahci", "lsi_mr3", "esx", "KXG50 TOSHIBA", "it's"))
	}
	return out
}

func (g gen) extra() []string {
	if g.r.IntN(4) != 0 {
		return nil
	}
	return []string{g.pick("--frobnicate", "--x=y z", "--dry#run")}
}

func (g gen) body() string {
	var b strings.Builder
	for i := 0; i <= g.r.IntN(4); i++ {
		b.WriteString(g.pick("halt", "echo 'hi there' > /tmp/x", "  %post indented is fine", "# comment",
			"", "esxcli system hostname set --fqdn=a.b", "\tinclude indented", "exit 0", "python -c 'print(1)'"))
		b.WriteString("\n")
	}
	return b.String()
}

func (g gen) command() Command {
	switch g.r.IntN(13) {
	case 0:
		return &AcceptEULA{}
	case 1:
		i := &Install{Verb: Verb(g.pick("install", "upgrade", "installorupgrade"))}
		if g.maybe() {
			i.Disk = g.word()
		} else {
			i.FirstDisk = true
			if g.maybe() {
				i.FirstDiskFilters = g.list()
			}
		}
		i.OverwriteVMFS = g.maybe()
		i.IgnorePrereqWarnings, i.IgnorePrereqErrors, i.ForceUnsupportedInstall = g.maybe(), g.maybe(), g.maybe()
		switch i.Verb {
		case VerbInstall:
			i.IgnoreSSD, i.NoVMFSOnDisk, i.OverwriteVSAN = g.maybe(), g.maybe(), g.maybe()
			if !i.OverwriteVMFS {
				i.PreserveVMFS = g.maybe()
			}
		case VerbInstallOrUpgrade:
			i.ForceMigrate, i.OverwriteVSAN = g.maybe(), g.maybe()
		case VerbUpgrade:
			i.ForceMigrate = g.maybe()
		}
		if g.maybe() {
			i.DPUPCISlots = []string{"0000:3b:00.0", "0000:af:00.0"}[:1+g.r.IntN(2)]
		}
		i.Extra = g.extra()
		return i
	case 2:
		c := &Clearpart{All: g.maybe(), OverwriteVMFS: g.maybe()}
		c.Extra = g.extra()
		switch g.r.IntN(4) {
		case 0:
			c.AllDrives = true
		case 1:
			c.Drives = g.list()
		case 2:
			c.IgnoreDrives = g.list()
		case 3:
			c.FirstDisk = true
			if g.maybe() {
				c.FirstDiskFilters = g.list()
			}
		}
		return c
	case 3:
		p := &Part{Datastore: g.pick("datastore2", "big store", "ds#1")}
		if g.maybe() {
			p.OnDisk = g.word()
		} else {
			p.OnFirstDisk = true
			if g.maybe() {
				p.OnFirstDiskFilters = g.list()
			}
		}
		return p
	case 4:
		r := &Rootpw{Password: secret.New(g.pick("VMware1!", "pass word#1", `it's "q"`, "$6$abc$def")), Crypted: g.maybe()}
		r.Extra = g.extra()
		return r
	case 5:
		n := &Network{BootProto: BootProto(g.pick("", "dhcp", "static")), Device: g.pick("", "vmnic1", "00:50:56:aa:bb:cc")}
		if g.maybe() {
			n.IP, n.Netmask, n.Gateway = "192.0.2.10", "255.255.255.0", "192.0.2.1"
			n.Nameservers = []string{"192.0.2.53", "192.0.2.54"}[:1+g.r.IntN(2)]
			n.Hostname = g.pick("esx1", "esx1.example.com")
		}
		n.VLANID = g.pick("", "0", "42")
		n.AddVMPortgroup = g.pick("", "0", "1", "true", "FALSE")
		n.NoDNS = g.maybe()
		n.Extra = g.extra()
		return n
	case 6:
		return &Keyboard{Layout: g.pick("US Default", "German", "it's")}
	case 7:
		return &Serialnum{ESX: "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"}
	case 8:
		return &Reboot{NoEject: g.maybe()}
	case 9:
		return &Paranoid{}
	case 10:
		return &Dryrun{}
	case 11:
		return &Include{Path: g.pick("/tmp/ks-part.cfg", "/vmfs/volumes/my ds/x.cfg")}
	default:
		name := g.pick("autopart", "timezone", "firewall", "lang", "partitionembed", "frobnicate", "set-hostname")
		r := &Raw{Name: name, Kind: RawUnknown}
		if s := grammar[name]; s != nil {
			switch {
			case s.deprecated:
				r.Kind = RawDeprecated
			case s.unused:
				r.Kind = RawUnused
			default:
				r.Kind = RawKnown
			}
		}
		if r.Kind != RawKnown && g.maybe() {
			r.Args = []string{g.word(), "--x=1"}
		}
		return r
	}
}

func (g gen) section() Command {
	s := &Section{Kind: SectionKind(g.pick("%pre", "%post", "%firstboot")), Body: g.body()}
	if g.maybe() {
		s.Interpreter = g.pick("busybox", "python")
	}
	if s.Kind == SectionPost {
		if g.maybe() {
			n := g.r.IntN(3600)
			s.Timeout = &n
		}
		if g.maybe() {
			b := g.maybe()
			s.IgnoreFailure = &b
		}
	}
	return s
}

func (g gen) file() *File {
	f := &File{Name: "gen.cfg"}
	for i := 0; i < g.r.IntN(12); i++ {
		f.Commands = append(f.Commands, g.command())
	}
	for i := 0; i < g.r.IntN(4); i++ {
		if g.r.IntN(4) == 0 {
			f.Commands = append(f.Commands, &Include{Path: "/tmp/more.cfg"})
		} else {
			f.Commands = append(f.Commands, g.section())
		}
	}
	return f
}

// zeroLines clears what parsing adds (line numbers), and normalises
// nil/empty slices the way the parser returns them.
func zeroLines(f *File) []Command {
	out := make([]Command, len(f.Commands))
	for i, c := range f.Commands {
		c.base().Line = 0
		if len(c.base().Extra) == 0 {
			c.base().Extra = nil
		}
		out[i] = c
	}
	return out
}

func TestRoundTripGeneratedCorpus(t *testing.T) {
	const n = 3000
	g := gen{rand.New(rand.NewPCG(1, 2))}
	for i := 0; i < n; i++ {
		want := g.file()
		out, err := want.Render()
		if err != nil {
			t.Fatalf("model %d: render: %v", i, err)
		}
		got, err := Parse(bytes.NewReader(out), "gen.cfg")
		if err != nil {
			t.Fatalf("model %d: parse: %v", i, err)
		}
		again, err := got.Render()
		if err != nil {
			t.Fatalf("model %d: re-render: %v", i, err)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("model %d: render not stable:\n%s\n---\n%s", i, out, again)
		}
		w, gc := zeroLines(want), zeroLines(got)
		if !reflect.DeepEqual(w, gc) {
			t.Fatalf("model %d: parse(render(x)) != x\nrendered:\n%s\nwant %s\ngot  %s", i, out, dump(w), dump(gc))
		}
		for _, fd := range got.Findings {
			switch fd.Rule {
			case "unknown-command", "deprecated-command", "unused-command", "unknown-argument", "comment-in-word",
				"non-ascii", "bad-value", "conflicting-arguments", "duplicate-command", "empty-section":
			default:
				t.Fatalf("model %d: unexpected parse finding %s in\n%s", i, fd, out)
			}
		}
	}
}

func dump(cs []Command) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "\n  %T %+v", c, c)
	}
	return b.String()
}

func TestRenderRefusesWhatTheInstallerWouldReadDifferently(t *testing.T) {
	pw := secret.New("VMware1!x")
	for _, tc := range []struct {
		name string
		f    File
	}{
		{"command after section", File{Commands: []Command{&Section{Kind: SectionPost, Body: "halt\n"}, &Reboot{}}}},
		{"body line starting with a keyword", File{Commands: []Command{&Section{Kind: SectionPost, Body: "echo\ninclude_dir=/x\n"}}}},
		{"body line %firstboot", File{Commands: []Command{&Section{Kind: SectionPre, Body: "%firstboot\n"}}}},
		{"newline in a value", File{Commands: []Command{&Network{Hostname: "a\nb"}}}},
		{"comma in a list item", File{Commands: []Command{&Network{Nameservers: []string{"1.1.1.1,2.2.2.2"}}}}},
		{"interpreter the installer drops", File{Commands: []Command{&Section{Kind: SectionPost, Interpreter: "bash"}}}},
		{"timeout on %pre", File{Commands: []Command{&Section{Kind: SectionPre, Timeout: new(int)}}}},
		{"password that looks like an option", File{Commands: []Command{&Rootpw{Password: secret.New("--iscrypted")}}}},
		{"raw command that is known", File{Commands: []Command{&Raw{Name: "install", Kind: RawUnknown}}}},
		{"extra that is a known option", File{Commands: []Command{&Install{FirstDisk: true, Base: Base{Extra: []string{"--overwritevmfs"}}}}}},
		{"install-only flag on upgrade", File{Commands: []Command{&Install{Verb: VerbUpgrade, FirstDisk: true, PreserveVMFS: true}}}},
		{"empty last section after a section", File{Commands: []Command{&Rootpw{Password: pw}, &Section{Kind: SectionPost, Body: "x\n"}, &Section{Kind: SectionFirstboot}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.f.Render()
			if err == nil {
				t.Fatalf("rendered:\n%s", out)
			}
			if !strings.Contains(err.Error(), ErrUnrenderable.Error()) {
				t.Fatalf("error %v does not wrap ErrUnrenderable", err)
			}
		})
	}
}

func TestRenderIncludeAfterSectionIsNotDropped(t *testing.T) {
	f := &File{Commands: []Command{&Section{Kind: SectionPost, Body: "halt\n"}, &Include{Path: "/tmp/x.cfg"}}}
	out, err := f.Render()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(bytes.NewReader(out), "x")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Includes()) != 1 || len(got.Findings) != 0 {
		t.Fatalf("include lost or findings %v in\n%s", got.Findings, out)
	}
}
