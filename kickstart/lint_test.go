package kickstart

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

var esxi80 = LintOptions{ESXi: Version{8, 0, 0}}

func lintText(t *testing.T, text string, o LintOptions) []Finding {
	t.Helper()
	f, err := Parse(strings.NewReader(text), "t.cfg")
	if err != nil {
		t.Fatal(err)
	}
	return Lint(f, o)
}

func rules(fs []Finding) string {
	var r []string
	for _, f := range fs {
		r = append(r, f.Rule)
	}
	return strings.Join(r, ",")
}

// TestLintTestdata records every finding for every testdata file; the
// golden files were reviewed line by line.
func TestLintTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.cfg")
	for _, path := range files {
		t.Run(path, func(t *testing.T) {
			var b bytes.Buffer
			for _, f := range Lint(parseFile(t, path), esxi80) {
				b.WriteString(f.String())
				b.WriteByte('\n')
			}
			golden(t, strings.TrimSuffix(path, ".cfg")+".lint", b.Bytes())
		})
	}
}

func TestLintFiveMistakes(t *testing.T) {
	fs := Lint(parseFile(t, "testdata/lint/five-mistakes.cfg"), esxi80)
	want := []struct {
		line int
		rule string
	}{
		{3, "rootpw-crypted-format"}, {4, "conflicting-arguments"}, {5, "static-needs-ip"},
		{6, "line-continuation"}, {8, "bad-value"},
	}
	if len(fs) != len(want) {
		t.Fatalf("%d findings, want %d:\n%s", len(fs), len(want), joinFindings(fs))
	}
	for i, w := range want {
		f := fs[i]
		if f.Line != w.line || f.Rule != w.rule || f.Severity != Error || f.Fix == "" {
			t.Errorf("finding %d = %s, want line %d rule %s with a fix", i, f, w.line, w.rule)
		}
	}
	err := ErrorsOf("five-mistakes.cfg", fs)
	var le *LintError
	if !errors.Is(err, ErrLint) || !errors.As(err, &le) || len(le.Findings) != 5 {
		t.Fatalf("ErrorsOf = %v", err)
	}
}

func joinFindings(fs []Finding) string {
	var s []string
	for _, f := range fs {
		s = append(s, f.String())
	}
	return strings.Join(s, "\n")
}

func TestLintRules(t *testing.T) {
	const ok = "vmaccepteula\nrootpw VMware1!x\ninstall --firstdisk --overwritevmfs\n"
	for _, tc := range []struct {
		name, text string
		o          LintOptions
		want       string
	}{
		{"clean", ok, esxi80, ""},
		{"no install verb", "vmaccepteula\nrootpw VMware1!x\n", esxi80, "install-verb"},
		{"two install verbs", ok + "upgrade --firstdisk\n", esxi80, "install-verb"},
		{"same verb twice", ok + "install --firstdisk\n", esxi80, "duplicate-command"},
		{"no eula", "rootpw VMware1!x\ninstall --firstdisk\n", esxi80, "accepteula-missing"},
		{"upgrade needs no eula", "rootpw VMware1!x\nupgrade --firstdisk\n", esxi80, ""},
		{"no rootpw", "vmaccepteula\ninstall --firstdisk\n", esxi80, "rootpw-missing"},
		{"short password", "vmaccepteula\nrootpw Ab1!\ninstall --firstdisk\n", esxi80, "rootpw-length"},
		{"long password", "vmaccepteula\nrootpw Aa1!" + strings.Repeat("x", 37) + "\ninstall --firstdisk\n", esxi80, "rootpw-length"},
		{"weak password", "vmaccepteula\nrootpw abcdefgh\ninstall --firstdisk\n", esxi80, "rootpw-weak"},
		{"capital first and digit last do not count", "vmaccepteula\nrootpw Password1\ninstall --firstdisk\n", esxi80, "rootpw-weak"},
		{"three classes", "vmaccepteula\nrootpw passWord1x\ninstall --firstdisk\n", esxi80, ""},
		{"non-ascii password", "vmaccepteula\nrootpw pässWord1x\ninstall --firstdisk\n", esxi80, "rootpw-charset,non-ascii"},
		{"sha512 with rounds", "vmaccepteula\nrootpw --iscrypted $6$rounds=5000$abc$" + strings.Repeat("a", 86) + "\ninstall --firstdisk\n", esxi80, "rootpw-crypted-format"},
		{"sha512 ok", "vmaccepteula\nrootpw --iscrypted $6$abc$" + strings.Repeat("a", 86) + "\ninstall --firstdisk\n", esxi80, ""},
		{"md5 ok", "vmaccepteula\nrootpw --iscrypted $1$abcdefgh$abcdefghijklmnopqrstuv\ninstall --firstdisk\n", esxi80, ""},
		{"des ok", "vmaccepteula\nrootpw --iscrypted abJnggxhB/yWI\ninstall --firstdisk\n", esxi80, ""},
		{"yescrypt", "vmaccepteula\nrootpw --iscrypted $y$j9T$abc$def\ninstall --firstdisk\n", esxi80, "rootpw-crypted-format"},
		{"overwrite and preserve", "vmaccepteula\nrootpw VMware1!x\ninstall --firstdisk --overwritevmfs --preservevmfs\n", esxi80, "conflicting-arguments"},
		{"ignoressd with disk", "vmaccepteula\nrootpw VMware1!x\ninstall --disk=sda --ignoressd\n", esxi80, "conflicting-arguments"},
		{"ignoressd alone", "vmaccepteula\nrootpw VMware1!x\ninstall --disk=sda\ninstall --ignoressd\n", esxi80, "disk-selector,duplicate-command,ignoressd-without-firstdisk"},
		{"disk and firstdisk", "vmaccepteula\nrootpw VMware1!x\ninstall --disk=sda --firstdisk\n", esxi80, "conflicting-arguments"},
		{"no disk", "vmaccepteula\nrootpw VMware1!x\ninstall --overwritevmfs\n", esxi80, "disk-selector"},
		{"static without ip", ok + "network --bootproto=static\n", esxi80, "static-needs-ip"},
		{"static without gateway", ok + "network --bootproto=static --ip=192.0.2.2\n", esxi80, "static-derived"},
		{"dhcp with ip", ok + "network --bootproto=dhcp --ip=192.0.2.2\n", esxi80, "dhcp-ignores"},
		{"bad ip", ok + "network --bootproto=static --ip=192.0.2.300 --netmask=255.255.255.0 --gateway=192.0.2.1\n", esxi80, "bad-value"},
		{"bad netmask", ok + "network --bootproto=static --ip=192.0.2.3 --netmask=255.0.255.0 --gateway=192.0.2.1\n", esxi80, "bad-value"},
		{"bad vlan", ok + "network --vlanid=4096\n", esxi80, "bad-value"},
		{"bad hostname", ok + "network --bootproto=static --ip=192.0.2.3 --netmask=255.255.255.0 --gateway=192.0.2.1 --hostname=-esx_1\n", esxi80, "bad-value"},
		{"bad nameserver", ok + "network --bootproto=static --ip=192.0.2.3 --netmask=255.255.255.0 --gateway=192.0.2.1 --nameserver=192.0.2.1,x\n", esxi80, "bad-value"},
		{"space separated", ok + "network --bootproto dhcp\n", esxi80, "space-separated-value"},
		{"dpupcislots on 8.0", "vmaccepteula\nrootpw VMware1!x\ninstall --firstdisk --dpupcislots=0000:3b:00.0\n", esxi80, ""},
		{"dpupcislots on 7.0", "vmaccepteula\nrootpw VMware1!x\ninstall --firstdisk --dpupcislots=0000:3b:00.0\n", LintOptions{ESXi: Version{7, 0, 3}}, "version-gated"},
		{"dpupcislots unknown target", "vmaccepteula\nrootpw VMware1!x\ninstall --firstdisk --dpupcislots=0000:3b:00.0\n", LintOptions{}, "version-gated"},
		{"clearpart without selector", ok + "clearpart --overwritevmfs\n", esxi80, "clearpart-selector"},
		{"clearpart with installorupgrade", "vmaccepteula\nrootpw VMware1!x\ninstallorupgrade --firstdisk\nclearpart --alldrives\n", esxi80, "requires-install"},
		{"kickstart command swallowed by body", ok + "%post\nhalt\nnetwork --bootproto=dhcp\n", esxi80, "command-in-body"},
		{"256 commands", ok + strings.Repeat("clearpart --alldrives\n", 253), esxi80, ""},
		{"257 commands", ok + strings.Repeat("clearpart --alldrives\n", 254), esxi80, "too-many-commands"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := lintText(t, tc.text, tc.o)
			if got := rules(fs); got != tc.want {
				t.Fatalf("rules %q, want %q\n%s", got, tc.want, joinFindings(fs))
			}
			for _, f := range fs {
				if f.Fix == "" || f.Message == "" || f.Command == "" {
					t.Errorf("finding lacks command, message or fix: %s", f)
				}
			}
		})
	}
}

// Passwords and hashes never reach a finding or a formatted model.
func TestSecretsNeverInFindings(t *testing.T) {
	for _, pw := range []string{"Tr0ub4dor&3xyz", "weakweak", "s#cret-Pw-1", "$6$rounds=9$abc$def", "two words-X1"} {
		for _, line := range []string{"rootpw " + pw, "rootpw --iscrypted " + pw, "rootpw '" + pw + "' extra#", "rootpw " + pw + " --nope=1"} {
			text := "vmaccepteula\ninstall --firstdisk\n" + line + "\n"
			f, err := Parse(strings.NewReader(text), "t.cfg")
			if err != nil {
				t.Fatal(err)
			}
			fs := Lint(f, esxi80)
			out := joinFindings(fs) + dump(f.Commands)
			for _, piece := range strings.Fields(strings.ReplaceAll(pw, "#", " ")) {
				if len(piece) >= 4 && strings.Contains(out, piece) {
					t.Errorf("%q leaked via %q:\n%s", piece, line, out)
				}
			}
		}
	}
}

func TestCryptSHA512(t *testing.T) {
	// Test vector from Drepper's "Unix crypt using SHA-256 and SHA-512"
	// specification (default 5000 rounds, so no rounds= in the output).
	h, err := CryptSHA512(secret.New("Hello world!"), "saltstring")
	if err != nil {
		t.Fatal(err)
	}
	const want = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
	if h.Reveal() != want {
		t.Fatalf("spec vector: got %s", h.Reveal())
	}
	// Independent checker: OpenSSL's implementation.
	openssl := tooltest.Path(t, "openssl")
	for _, pw := range []string{"VMware1!", "pass word#1", `it's "q"`} {
		h, err := CryptSHA512(secret.New(pw), "abcdefgh12345678")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(openssl, "passwd", "-6", "-salt", "abcdefgh12345678", "-stdin")
		cmd.Stdin = strings.NewReader(pw + "\n")
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(out)); got != h.Reveal() {
			t.Errorf("%q: openssl %s, ours %s", pw, got, h.Reveal())
		}
		if msg, _ := checkCrypted(h.Reveal()); msg != "" {
			t.Errorf("our own hash fails the installer's pattern: %s", msg)
		}
	}
	r1, _ := CryptSHA512(secret.New("x"), "")
	r2, _ := CryptSHA512(secret.New("x"), "")
	if r1.Reveal() == r2.Reveal() || !reCryptSHA512.MatchString(r1.Reveal()) {
		t.Fatalf("random salts: %s %s", r1.Reveal(), r2.Reveal())
	}
	if _, err := CryptSHA512(secret.New("x"), "bad salt!"); err == nil {
		t.Fatal("bad salt accepted")
	}
}

func TestRenderCryptsPasswords(t *testing.T) {
	f := &File{Commands: []Command{&AcceptEULA{}, &Rootpw{Password: secret.New("VMware1!x")}, &Install{FirstDisk: true}}}
	out, err := f.RenderWith(RenderOptions{CryptPasswords: true, Salt: "fixedsalt"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("VMware1!x")) || !bytes.Contains(out, []byte("rootpw --iscrypted $6$fixedsalt$")) {
		t.Fatalf("rendered:\n%s", out)
	}
	g, _ := Parse(bytes.NewReader(out), "x")
	if fs := Lint(g, esxi80); len(fs) != 0 {
		t.Fatalf("findings: %s", joinFindings(fs))
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{"8.0": {8, 0, 0}, "7.0.3": {7, 0, 3}, "7.0u3": {7, 0, 3}, "7.0 U3": {7, 0, 3}, "8": {8, 0, 0}} {
		got, err := ParseVersion(in)
		if err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "eight", "8.0.1.2", "2.0", "-7.0"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
