package iso

import (
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
)

// KickstartISOPath is where the kickstart goes on the remastered ISO. The
// installer needs the upper-case path (research/esxi-formats.md §2).
const KickstartISOPath = "/KS.CFG"

// bootOptions edits an installer kernelopt for an unattended install:
// runweasel (start the installer), ks=cdrom:/KS.CFG, the serial console on
// COM1 so the builder can watch it, and the configured extras. Options the
// ISO already has (cdromBoot, ...) stay; ones set here replace theirs.
func bootOptions(c *Config, in bootcfg.Options) bootcfg.Options {
	out := in
	set := func(k, v string) { out = out.Set(bootcfg.Option{Key: k, Value: v, HasValue: true}) }
	if _, ok := out.Get("runweasel"); !ok {
		out = append(bootcfg.Options{{Key: "runweasel"}}, out...)
	}
	set("ks", "cdrom:"+KickstartISOPath)
	set("com1_Port", "0x3f8")
	set("tty2Port", "com1")
	if c.SystemMediaSize != "" {
		set("systemMediaSize", c.SystemMediaSize)
	}
	if c.AllowLegacyCPU {
		set("allowLegacyCPU", "true")
	}
	return out.Merge(bootcfg.ParseOptions(strings.Join(c.BootOptions, " ")))
}
