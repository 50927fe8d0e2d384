package kickstart

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeSpec(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fb.sh"), []byte("/bootbank/agent\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KS_TEST_PW", "VMware1!golden")
	s, err := DecodeSpec(filepath.Join(dir, "s.hcl"), []byte(`
root_password  = env("KS_TEST_PW")
crypt_salt     = "abc"
vlan_id        = 7
post_commands  = ["touch /x"]
firstboot_body = file("fb.sh")
`))
	if err != nil {
		t.Fatal(err)
	}
	o := s.GoldenOptions()
	if o.RootPassword.Reveal() != "VMware1!golden" || o.VLANID != 7 || o.FirstbootBody != "/bootbank/agent\n" || o.PostCommands[0] != "touch /x" {
		t.Fatalf("options %+v", o)
	}
	if _, err := Golden(o); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, src string }{
		{"s.hcl", `preset = "other"`},
		{"s.hcl", `root_password = env("KS_TEST_UNSET_VAR")`},
		{"s.hcl", `no_such_field = 1`},
		{"s.json", `{"vlan_id": "x"}`},
		{"s.hcl", `firstboot_body = file("missing.sh")`},
	} {
		if _, err := DecodeSpec(filepath.Join(dir, tc.name), []byte(tc.src)); !errors.Is(err, ErrSpec) {
			t.Errorf("%s %q: err %v, want ErrSpec", tc.name, tc.src, err)
		}
	}
	// The shipped examples decode.
	t.Setenv("ESXI_ROOT_PASSWORD", "VMware1!golden")
	for _, ex := range []string{"examples/golden.hcl", "examples/golden.json"} {
		s, err := LoadSpec(ex)
		if err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
		if _, err := Golden(s.GoldenOptions()); err != nil {
			t.Fatalf("%s: %v", ex, err)
		}
	}
	if _, err := LoadSpec("examples/nope.hcl"); err == nil || !strings.Contains(err.Error(), "nope.hcl") {
		t.Fatalf("missing file: %v", err)
	}
}
