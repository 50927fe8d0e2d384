package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/agent"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/plan"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/provider"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/report"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/runonce"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

func init() { root.AddCommand(newRunCmd()) }

func newRunCmd() *cobra.Command {
	var (
		src        sourceFlags
		stateDir   string
		hostRoot   string
		toolsDir   string
		cliTool    string
		seedDirs   []string
		noProbe    bool
		checkTries int
		logLevel   string
	)
	c := &cobra.Command{
		Use:   "run",
		Short: "Configure this ESXi host from its metadata (what the %firstboot launcher calls)",
		Long: `run finds the metadata (explicit --metadata, then boot options, local seeds,
guestinfo, then the Equinix and EC2 well-known endpoints), reads the host with
esxcli, and applies the plan once per instance-id. Exit codes:
  0  configured, or already configured for this instance (verify only)
  10 no metadata before --timeout; host unchanged
  11 metadata invalid, malformed, for another host, or https on ESXi; host unchanged
  12 host unreadable or a non-network step failed
  13 network change failed and was rolled back
  14 network rollback failed; network state unknown
  15 host configured, userdata failed`,
		Example: `  # what the launcher runs on the host
  esxi-firstboot run
  # a Tinkerbell Hegel endpoint, 10 minutes to find it
  esxi-firstboot run --provider equinix --metadata http://10.1.1.1:50061 --timeout 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			client, err := src.client()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(stateDir, 0o700); err != nil {
				return &cli.ExitError{Code: agent.ExitHost, Err: fmt.Errorf("--state-dir: %w", err)}
			}
			runner := &esxi.ExecRunner{Tools: tools(toolsDir), TmpDir: stateDir}
			explicit, err := src.explicit(runner)
			if err != nil {
				return err
			}
			code, res := agent.Run(agent.Config{
				Selection: provider.Selection{Explicit: explicit, Runner: runner, SeedDirs: seedDirs, NoProbe: noProbe, Client: client, Log: log, ExpectInstance: src.instanceID},
				Host:      &plan.Host{Runner: runner, CLI: cliTool, Root: hostRoot, TmpDir: stateDir, Log: log, CheckTries: checkTries},
				StateDir:  stateDir,
				Deadline:  time.Now().Add(src.timeout),
				Reporter:  &report.Reporter{Client: client, Log: log},
				Log:       log,
			})
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (exit %d)\n", res.InstanceID, res.Status, code)
			if code != 0 {
				return &cli.ExitError{Code: code}
			}
			return nil
		},
	}
	src.add(c, 5*time.Minute)
	f := c.Flags()
	f.StringVar(&stateDir, "state-dir", cli.Env("ESXI_FIRSTBOOT_STATE_DIR", runonce.DefaultDir), cli.EnvUsage("run-once state, result.json", "ESXI_FIRSTBOOT_STATE_DIR"))
	f.StringVar(&hostRoot, "root", "/", "root of the host's file tree (etc/shadow, etc/ssh/keys-root)")
	f.StringVar(&toolsDir, "tools-dir", cli.Env("ESXI_FIRSTBOOT_TOOLS_DIR", ""), cli.EnvUsage("take esxcli, vim-cmd, vmkping, auto-backup.sh... from this directory", "ESXI_FIRSTBOOT_TOOLS_DIR"))
	f.StringVar(&cliTool, "cli", "esxcli", "esxcli or localcli (localcli works while hostd is down)")
	f.StringSliceVar(&seedDirs, "seed-dir", provider.DefaultSeedDirs, "local seed directories (NoCloud or config drive)")
	f.BoolVar(&noProbe, "no-probe", false, "never probe the well-known network endpoints")
	f.IntVar(&checkTries, "check-tries", 5, "gateway check attempts (2 s apart) before rolling back")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return c
}
