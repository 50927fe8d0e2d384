package kickstart

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// TestGoldenPresetRenders compares rendered presets byte for byte with
// reviewed files (go test ./kickstart -update rewrites them).
func TestGoldenPresetRenders(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    GoldenOptions
	}{
		{"golden-default", GoldenOptions{RootPassword: secret.New("VMware1!golden"), CryptSalt: "esxigoldensalt"}},
		{"golden-qemu", GoldenOptions{
			ESXiVersion: "7.0.3", RootPassword: secret.New("VMware1!golden"), CryptSalt: "esxigoldensalt",
			FirstDiskFilters: []string{"local"}, IgnoreSSD: true,
			IgnorePrereqWarnings: true, IgnorePrereqErrors: true, ForceUnsupportedInstall: true,
			NIC: "vmnic0", VLANID: 42, Keyboard: "US Default",
			PostCommands: []string{
				"mkdir -p /vmfs/volumes/BOOTBANK1/esxi-golden",
				"echo ok > /vmfs/volumes/BOOTBANK1/esxi-golden/installed",
			},
			FirstbootBody: "/bootbank/esxi-golden/firstboot.sh --log /var/log/agent.log\n",
		}},
		{"golden-crypted-disk", GoldenOptions{
			RootPasswordCrypted: secret.New("$6$abc$" + strings.Repeat("A", 86)),
			Disk:                "mpx.vmhba0:C0:T0:L0", PreserveVMFS: true,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Golden(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			out, err := f.Render()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "testdata/golden/"+tc.name+".ks", out)
			if pw := tc.o.RootPassword.Reveal(); pw != "" && bytes.Contains(out, []byte(pw)) {
				t.Fatal("plaintext password in the rendered kickstart")
			}
			// What the builder writes is what the installer simulator reads.
			back, err := Parse(bytes.NewReader(out), "golden.cfg")
			if err != nil {
				t.Fatal(err)
			}
			v, _ := ParseVersion(tc.o.ESXiVersion + map[bool]string{true: "8.0"}[tc.o.ESXiVersion == ""])
			if fs := Lint(back, LintOptions{ESXi: v}); len(fs) != 0 {
				t.Fatalf("preset has findings:\n%s", joinFindings(fs))
			}
			post := back.Sections(SectionPost)
			if len(post) != 1 || !strings.HasSuffix(post[0].Body, "\nhalt\n") {
				t.Fatalf("%%post must end in halt: %+v", post)
			}
			for _, c := range tc.o.PostCommands {
				if !strings.Contains(post[0].Body, c+"\n") {
					t.Fatalf("post command %q missing", c)
				}
			}
			fb := back.Sections(SectionFirstboot)
			want := tc.o.FirstbootBody
			if want == "" {
				want = DefaultFirstbootBody
			}
			if len(fb) != 1 || fb[0].Body != want || fb[0].Interpreter != "busybox" {
				t.Fatalf("firstboot %+v", fb)
			}
		})
	}
}

func TestGoldenPresetRefusesBadOptions(t *testing.T) {
	pw := secret.New("VMware1!golden")
	for _, tc := range []struct {
		name string
		o    GoldenOptions
		is   error
	}{
		{"no password", GoldenOptions{}, ErrPreset},
		{"both passwords", GoldenOptions{RootPassword: pw, RootPasswordCrypted: pw}, ErrPreset},
		{"weak password", GoldenOptions{RootPassword: secret.New("password")}, ErrLint},
		{"bad crypted", GoldenOptions{RootPasswordCrypted: secret.New("$6$rounds=5000$a$b")}, ErrLint},
		{"disk and filters", GoldenOptions{RootPassword: pw, Disk: "sda", FirstDiskFilters: []string{"local"}}, ErrPreset},
		{"bad version", GoldenOptions{RootPassword: pw, ESXiVersion: "eight"}, ErrPreset},
		{"bad vlan", GoldenOptions{RootPassword: pw, VLANID: 5000}, ErrPreset},
		{"post command that ends the section", GoldenOptions{RootPassword: pw, PostCommands: []string{"include_marker=1"}}, ErrUnrenderable},
		{"bad salt", GoldenOptions{RootPassword: pw, CryptSalt: "no spaces"}, ErrPreset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Golden(tc.o)
			if !errors.Is(err, tc.is) {
				t.Fatalf("err %v, want %v", err, tc.is)
			}
			if strings.Contains(err.Error(), "VMware1!golden") || strings.Contains(err.Error(), "password\"") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}
}

// CheckModel validates what only the installer's parser checks, for
// models built in code.
func TestCheckModel(t *testing.T) {
	f, err := Golden(GoldenOptions{RootPassword: secret.New("VMware1!golden")})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckModel(f, esxi80); err != nil {
		t.Fatal(err)
	}
	f.Network().BootProto = BootProtoStatic
	f.Network().IP, f.Network().Netmask, f.Network().Gateway = "192.0.2.300", "255.255.255.0", "192.0.2.1"
	if err := Check(f, esxi80); err != nil {
		t.Fatalf("model lint sees no parser findings, got %v", err)
	}
	err = CheckModel(f, esxi80)
	var le *LintError
	if !errors.As(err, &le) || len(le.Findings) != 1 || le.Findings[0].Rule != "bad-value" || le.Findings[0].Line != 4 {
		t.Fatalf("CheckModel = %v", err)
	}
	f.Commands = append(f.Commands, &Reboot{})
	if err := CheckModel(f, esxi80); !errors.Is(err, ErrUnrenderable) {
		t.Fatalf("command after sections: %v", err)
	}
}
