package main

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/httpc"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/nopoll"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/provider"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

// sourceFlags choose where metadata comes from (run and plan share them).
type sourceFlags struct {
	provider   string
	location   string
	instanceID string
	caFile     string
	timeout    time.Duration
}

func (f *sourceFlags) add(c *cobra.Command, timeout time.Duration) {
	c.Flags().StringVar(&f.provider, "provider", cli.Env("ESXI_FIRSTBOOT_PROVIDER", ""),
		cli.EnvUsage("metadata service: equinix, ec2, openstack, nocloud, file, guestinfo (empty: infer from --metadata)", "ESXI_FIRSTBOOT_PROVIDER"))
	c.Flags().StringVar(&f.location, "metadata", cli.Env("ESXI_FIRSTBOOT_METADATA", ""),
		cli.EnvUsage("metadata URL, seed directory or document file", "ESXI_FIRSTBOOT_METADATA"))
	c.Flags().StringVar(&f.instanceID, "instance-id", cli.Env("ESXI_FIRSTBOOT_INSTANCE_ID", ""),
		cli.EnvUsage("accept only metadata for this instance id (ec2: also selects Tootles' /tootles/instanceID/<id>/ path)", "ESXI_FIRSTBOOT_INSTANCE_ID"))
	c.Flags().StringVar(&f.caFile, "ca-file", cli.Env("ESXI_FIRSTBOOT_CA_FILE", ""),
		cli.EnvUsage("PEM bundle for https metadata (default: the system CA store); https works where Go's poller can run, not on ESXi", "ESXI_FIRSTBOOT_CA_FILE"))
	c.Flags().DurationVar(&f.timeout, "timeout", timeout, "overall deadline for finding metadata")
}

func (f *sourceFlags) explicit(r esxi.Runner) (provider.Provider, error) {
	if f.location == "" && f.provider != "guestinfo" {
		if f.provider != "" {
			return nil, fmt.Errorf("--provider %s needs --metadata", f.provider)
		}
		return nil, nil
	}
	return provider.ParseSpec(f.provider, f.location, f.instanceID, r)
}

func (f *sourceFlags) client() (*httpc.Client, error) {
	c := &httpc.Client{Timeout: 10 * time.Second}
	if f.caFile != "" {
		roots, err := httpc.LoadRoots(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		c.RootCAs = roots
	}
	return c, nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// tools resolves --tools-dir.
func tools(dir string) esxi.Tools {
	if dir != "" {
		return esxi.ToolsIn(dir)
	}
	return esxi.DefaultTools()
}

// readSmall reads a small local file without the poller.
func readSmall(path string) ([]byte, error) { return nopoll.ReadFile(path, 16<<20) }
