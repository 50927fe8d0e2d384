package kickstart

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsimple"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
)

// Spec is the document `esxi-image kickstart render` reads, in HCL
// (.hcl) or JSON (.json): the golden preset's options with snake_case
// names. Two functions are available: env("NAME") (fails when unset, so
// a password never silently becomes empty) and file("path") (relative to
// the spec). See examples/golden.hcl.
type Spec struct {
	// Preset names the preset; only "golden" exists (the default).
	Preset                  string   `hcl:"preset,optional" json:"preset"`
	ESXiVersion             string   `hcl:"esxi_version,optional"`
	RootPassword            *string  `hcl:"root_password,optional"`
	RootPasswordCrypted     *string  `hcl:"root_password_crypted,optional"`
	PlaintextRootpw         bool     `hcl:"plaintext_rootpw,optional"`
	CryptSalt               string   `hcl:"crypt_salt,optional"`
	Disk                    string   `hcl:"disk,optional"`
	FirstDiskFilters        []string `hcl:"first_disk_filters,optional"`
	IgnoreSSD               bool     `hcl:"ignore_ssd,optional"`
	PreserveVMFS            bool     `hcl:"preserve_vmfs,optional"`
	NoVMFSOnDisk            bool     `hcl:"no_vmfs_on_disk,optional"`
	IgnorePrereqWarnings    bool     `hcl:"ignore_prereq_warnings,optional"`
	IgnorePrereqErrors      bool     `hcl:"ignore_prereq_errors,optional"`
	ForceUnsupportedInstall bool     `hcl:"force_unsupported_install,optional"`
	NIC                     string   `hcl:"nic,optional"`
	VLANID                  int      `hcl:"vlan_id,optional"`
	Keyboard                string   `hcl:"keyboard,optional"`
	PostCommands            []string `hcl:"post_commands,optional"`
	FirstbootBody           string   `hcl:"firstboot_body,optional"`
}

// ErrSpec is wrapped by errors about a render spec.
var ErrSpec = errors.New("invalid kickstart spec")

// LoadSpec decodes a spec file (.hcl or .json).
func LoadSpec(path string) (*Spec, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kickstart spec: %w", err)
	}
	return DecodeSpec(path, src)
}

// DecodeSpec decodes src; filename's extension (.hcl, .json) picks the
// syntax and its directory anchors file().
func DecodeSpec(filename string, src []byte) (*Spec, error) {
	dir := filepath.Dir(filename)
	ctx := &hcl.EvalContext{Functions: map[string]function.Function{
		"env": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "name", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				name := args[0].AsString()
				v, ok := os.LookupEnv(name)
				if !ok || v == "" {
					return cty.NilVal, fmt.Errorf("environment variable %s is not set", name)
				}
				return cty.StringVal(v), nil
			},
		}),
		"file": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "path", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				p := args[0].AsString()
				if !filepath.IsAbs(p) {
					p = filepath.Join(dir, p)
				}
				b, err := os.ReadFile(p)
				if err != nil {
					return cty.NilVal, err
				}
				return cty.StringVal(string(b)), nil
			},
		}),
	}}
	var s Spec
	if err := hclsimple.Decode(filename, src, ctx, &s); err != nil {
		// HCL diagnostics quote source ranges, not values: a password
		// from env() does not appear in them.
		return nil, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	if s.Preset != "" && s.Preset != "golden" {
		return nil, fmt.Errorf("%w: %s: preset %q, want \"golden\"", ErrSpec, filename, s.Preset)
	}
	return &s, nil
}

// GoldenOptions converts the spec into preset options.
func (s *Spec) GoldenOptions() GoldenOptions {
	o := GoldenOptions{
		ESXiVersion: s.ESXiVersion, PlaintextRootpw: s.PlaintextRootpw, CryptSalt: s.CryptSalt,
		Disk: s.Disk, FirstDiskFilters: s.FirstDiskFilters, IgnoreSSD: s.IgnoreSSD,
		PreserveVMFS: s.PreserveVMFS, NoVMFSOnDisk: s.NoVMFSOnDisk,
		IgnorePrereqWarnings: s.IgnorePrereqWarnings, IgnorePrereqErrors: s.IgnorePrereqErrors,
		ForceUnsupportedInstall: s.ForceUnsupportedInstall, NIC: s.NIC, VLANID: s.VLANID,
		Keyboard: s.Keyboard, PostCommands: s.PostCommands, FirstbootBody: s.FirstbootBody,
	}
	if s.RootPassword != nil {
		o.RootPassword = secret.New(*s.RootPassword)
	}
	if s.RootPasswordCrypted != nil {
		o.RootPasswordCrypted = secret.New(*s.RootPasswordCrypted)
	}
	return o
}
