package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/report"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/runonce"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

func init() { root.AddCommand(newStateCmd(), newStatusCmd()) }

func newStateCmd() *cobra.Command {
	var toolsDir, cliTool string
	c := &cobra.Command{
		Use:     "state",
		Short:   "Print this host's managed configuration as JSON (input for plan --host-state)",
		Example: `  esxi-firstboot state > host.json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := esxi.ReadState(&esxi.ExecRunner{Tools: tools(toolsDir)}, cliTool)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		},
	}
	c.Flags().StringVar(&toolsDir, "tools-dir", cli.Env("ESXI_FIRSTBOOT_TOOLS_DIR", ""), cli.EnvUsage("take esxcli from this directory", "ESXI_FIRSTBOOT_TOOLS_DIR"))
	c.Flags().StringVar(&cliTool, "cli", "esxcli", "esxcli or localcli")
	return c
}

func newStatusCmd() *cobra.Command {
	var stateDir string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the instance this host was configured for and the last result",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rec, err := runonce.Store{Dir: stateDir}.Load()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if rec == nil {
				fmt.Fprintf(w, "never configured (no state in %s)\n", stateDir)
			} else {
				fmt.Fprintf(w, "instance %s from %s: %s (run %d, steps done: %d)\n", rec.InstanceID, rec.Source, rec.Status, rec.Runs, len(rec.Steps))
			}
			b, err := readSmall(stateDir + "/result.json")
			if err != nil {
				return nil
			}
			var res report.Result
			if err := json.Unmarshal(b, &res); err != nil {
				return fmt.Errorf("result.json: %w", err)
			}
			fmt.Fprintf(w, "last run: %s, exit %d, finished %s\n", res.Status, res.ExitCode, res.Finished.Format("2006-01-02T15:04:05Z"))
			if res.Error != "" {
				fmt.Fprintf(w, "error: %s\n", res.Error)
			}
			if rec != nil && rec.Status != "succeeded" {
				return &cli.ExitError{Code: 1}
			}
			return nil
		},
	}
	c.Flags().StringVar(&stateDir, "state-dir", cli.Env("ESXI_FIRSTBOOT_STATE_DIR", runonce.DefaultDir), cli.EnvUsage("run-once state directory", "ESXI_FIRSTBOOT_STATE_DIR"))
	return c
}
