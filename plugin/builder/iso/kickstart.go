package iso

import (
	"fmt"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

// redacted replaces secrets in the kickstart copy kept with the artifact.
const redacted = "[redacted]"

// kickstart renders the build's kickstart with the kickstart package's
// golden-image preset (%post ends in halt so the image never boots in the
// builder) with the completion marker for token as the last %post command.
// The preset lints what it renders for esxi_version; lint errors come back
// naming the rule and line, and since Prepare calls this too, `packer
// validate` fails on them.
func (c *Config) kickstart(token string) (*renderedKickstart, error) {
	ignore := c.IgnorePrereqs == nil || *c.IgnorePrereqs
	f, err := kickstart.Golden(kickstart.GoldenOptions{
		ESXiVersion:             c.ESXiVersion,
		RootPassword:            secret.New(c.RootPassword),
		RootPasswordCrypted:     secret.New(c.RootPasswordCrypted),
		Disk:                    c.InstallDisk,
		IgnorePrereqWarnings:    ignore,
		IgnorePrereqErrors:      ignore,
		ForceUnsupportedInstall: ignore,
		NIC:                     c.ManagementNIC,
		Keyboard:                c.Keyboard,
		PostCommands:            append(append([]string(nil), c.PostCommands...), markerCommand(token)),
		FirstbootBody:           c.FirstbootScript,
	})
	if err != nil {
		return nil, fmt.Errorf("kickstart (root_password, install_disk, management_nic, keyboard, post_commands, firstboot_script for esxi_version %s): %w", c.ESXiVersion, err)
	}
	text, err := f.Render()
	if err != nil {
		return nil, fmt.Errorf("kickstart: render: %w", err)
	}
	red := string(text)
	if rp := f.Rootpw(); rp != nil && !rp.Password.IsZero() {
		red = strings.ReplaceAll(red, rp.Password.Reveal(), redacted)
	}
	if c.RootPassword != "" {
		red = strings.ReplaceAll(red, c.RootPassword, redacted)
	}
	return &renderedKickstart{Text: secret.New(string(text)), Redacted: red, Token: token}, nil
}
