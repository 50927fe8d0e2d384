package kickstart

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata")

// golden compares got with the file at path, or writes it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./kickstart -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./kickstart -update rewrites it after review):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func parseFile(t *testing.T, path string) *File {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(bytes.NewReader(b), filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// summary is a stable text form of the parsed model: what the installer
// simulator and the tests rely on.
func summary(f *File) []byte {
	var b strings.Builder
	for _, c := range f.Commands {
		fmt.Fprintf(&b, "%d %s", c.LineNo(), c.Keyword())
		switch v := c.(type) {
		case *Install:
			fmt.Fprintf(&b, " disk=%q firstdisk=%v filters=%q overwritevmfs=%v preservevmfs=%v novmfsondisk=%v ignoressd=%v prereqw=%v prereqe=%v force=%v",
				v.Disk, v.FirstDisk, v.FirstDiskFilters, v.OverwriteVMFS, v.PreserveVMFS, v.NoVMFSOnDisk, v.IgnoreSSD,
				v.IgnorePrereqWarnings, v.IgnorePrereqErrors, v.ForceUnsupportedInstall)
		case *Rootpw:
			fmt.Fprintf(&b, " crypted=%v len=%d", v.Crypted, len(v.Password.Reveal()))
		case *Network:
			fmt.Fprintf(&b, " bootproto=%q device=%q ip=%q netmask=%q gateway=%q ns=%q host=%q vlan=%q", v.BootProto, v.Device,
				v.IP, v.Netmask, v.Gateway, v.Nameservers, v.Hostname, v.VLANID)
		case *Clearpart:
			fmt.Fprintf(&b, " firstdisk=%v alldrives=%v drives=%q overwritevmfs=%v", v.FirstDisk, v.AllDrives, v.Drives, v.OverwriteVMFS)
		case *Part:
			fmt.Fprintf(&b, " datastore=%q ondisk=%q", v.Datastore, v.OnDisk)
		case *Keyboard:
			fmt.Fprintf(&b, " layout=%q", v.Layout)
		case *Include:
			fmt.Fprintf(&b, " path=%q", v.Path)
		case *Section:
			fmt.Fprintf(&b, " interpreter=%q", v.Interpreter)
			if v.Timeout != nil {
				fmt.Fprintf(&b, " timeout=%d", *v.Timeout)
			}
			if v.IgnoreFailure != nil {
				fmt.Fprintf(&b, " ignorefailure=%v", *v.IgnoreFailure)
			}
			fmt.Fprintf(&b, " body=%q", v.Body)
		case *Raw:
			fmt.Fprintf(&b, " kind=%s args=%q", v.Kind, v.Args)
		}
		if len(c.base().Extra) > 0 {
			fmt.Fprintf(&b, " extra=%q", c.base().Extra)
		}
		b.WriteByte('\n')
	}
	b.WriteString("-- installer pre-parse findings\n")
	for _, fd := range f.Findings {
		b.WriteString(fd.String())
		b.WriteByte('\n')
	}
	return []byte(b.String())
}

// TestParseTestdata parses every kickstart under testdata (files in the
// style of packer-maas, Tinkerbell crocodile, Tinkerbell's ESXi template,
// VMware's documented default, and one file per edge case) and compares
// the model and the installer-level findings with a reviewed golden file.
func TestParseTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*/*.cfg")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			golden(t, strings.TrimSuffix(path, ".cfg")+".parsed", summary(parseFile(t, path)))
		})
	}
}

// The public-style files must parse with the sections the installer
// would run, bodies verbatim.
func TestParsePublicStyles(t *testing.T) {
	maas := parseFile(t, "testdata/public/maas-style.cfg")
	post := maas.Sections(SectionPost)
	if len(post) != 1 || post[0].Body != "# Stop here so the builder can capture the disk: the image never boots.\nhalt\n\n" {
		t.Fatalf("maas %%post %+v", post)
	}
	fb := maas.Sections(SectionFirstboot)
	if len(fb) != 1 || fb[0].Interpreter != "busybox" || !strings.HasSuffix(fb[0].Body, "failed=1\nfi\n") {
		t.Fatalf("maas %%firstboot %+v", fb)
	}
	if i := maas.Install(); i == nil || !i.FirstDisk || !i.ForceUnsupportedInstall || i.FirstDiskFilters != nil {
		t.Fatalf("maas install %+v", i)
	}
	tink := parseFile(t, "testdata/public/tinkerbell-template.cfg")
	if n := len(tink.Sections(SectionPost)); n != 2 {
		t.Fatalf("tinkerbell: %d %%post sections, want 2", n)
	}
	if p := tink.Sections(SectionPost)[1]; p.IgnoreFailure == nil || !*p.IgnoreFailure || p.Interpreter != "" {
		t.Fatalf("tinkerbell second %%post %+v", p)
	}
	if !strings.Contains(tink.Sections(SectionFirstboot)[0].Body, "EOF2\npython /tmp/net.py\nreboot\n") {
		t.Fatalf("tinkerbell firstboot body cut: %q", tink.Sections(SectionFirstboot)[0].Body)
	}
	if got := tink.Network().Device; got != "0c:c4:7a:00:11:22" {
		t.Fatalf("tinkerbell device %q", got)
	}
}

func TestTokenizeLikeShlex(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  error
	}{
		{"a b\tc\n", []string{"a", "b", "c"}, nil},
		{`rootpw 'a b' "c d" e\ f` + "\n", []string{"rootpw", "a b", "c d", "e f"}, nil},
		{`x "a\"b\\c\d"`, []string{"x", `a"b\c\d`}, nil},
		{`x 'a\b'`, []string{"x", `a\b`}, nil},
		{`x a'b'"c"d`, []string{"x", "abcd"}, nil},
		{`x '' ""`, []string{"x", "", ""}, nil},
		{"x ab#c d\n", []string{"x", "ab"}, nil},
		{"x # comment\n", []string{"x"}, nil},
		{"x 'a#b'\n", []string{"x", "a#b"}, nil},
		{"x \\\n", []string{"x", "\n"}, nil},
		{"x 'open\n", nil, errNoClosingQuote},
		{`x \`, nil, errNoEscapedChar},
	} {
		got, err := tokenizeLine(tc.in)
		if err != tc.err {
			t.Errorf("%q: err %v, want %v", tc.in, err, tc.err)
			continue
		}
		if err == nil && fmt.Sprintf("%q", got.tokens) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("%q: tokens %q, want %q", tc.in, got.tokens, tc.want)
		}
	}
}

func TestParseRejectsHugeInput(t *testing.T) {
	_, err := Parse(bytes.NewReader(make([]byte, MaxFileSize+1)), "big")
	if err == nil || !strings.Contains(err.Error(), ErrTooLarge.Error()) {
		t.Fatalf("err %v", err)
	}
}

func TestSectionInterpreter(t *testing.T) {
	for _, tc := range []struct{ in, eff, shebang string }{
		{"", "busybox", "#!/bin/sh -l"},
		{"busybox", "busybox", "#!/bin/sh -l"},
		{"python", "python", "#!/usr/bin/python"},
	} {
		s := &Section{Kind: SectionFirstboot, Interpreter: tc.in}
		if s.EffectiveInterpreter() != tc.eff || s.Shebang() != tc.shebang {
			t.Errorf("%q: %s %s", tc.in, s.EffectiveInterpreter(), s.Shebang())
		}
	}
}
