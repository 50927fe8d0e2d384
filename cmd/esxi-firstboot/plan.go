package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi/fakehost"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/plan"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/provider"
)

func init() { root.AddCommand(newPlanCmd()) }

// goldenFiles is the file tree of a freshly installed host, for plans
// made away from it.
type goldenFiles map[string]string

func (g goldenFiles) ReadFile(p string) ([]byte, error) {
	if s, ok := g[p]; ok {
		return []byte(s), nil
	}
	return nil, plan.ErrNotExist
}

func newPlanCmd() *cobra.Command {
	var (
		src       sourceFlags
		hostState string
		asJSON    bool
	)
	c := &cobra.Command{
		Use:   "plan",
		Short: "Print the commands run would execute, secrets redacted (any Linux machine)",
		Long: `plan fetches and validates the metadata, then diffs it against a host: a
freshly installed golden host (vmk0 on DHCP behind vSwitch0, vmnic0 = the
metadata's first uplink MAC) unless --host-state gives a snapshot taken with
"esxi-firstboot state" on the host. It changes nothing anywhere.`,
		Example: `  esxi-firstboot plan --metadata metadata.json
  esxi-firstboot plan --provider equinix --metadata http://10.1.1.1:50061 --host-state host.json
  esxi-firstboot plan --provider nocloud --metadata ./seed/ --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if src.location == "" {
				return errors.New("--metadata is required")
			}
			client, err := src.client()
			if err != nil {
				return err
			}
			p, err := src.explicit(nil)
			if err != nil {
				return err
			}
			sel := provider.Selection{Explicit: p, Client: client, ExpectInstance: src.instanceID}
			m, _, err := sel.Discover(time.Now().Add(src.timeout))
			if err != nil {
				return err
			}
			var st *esxi.State
			if hostState != "" {
				b, err := readSmall(hostState)
				if err != nil {
					return err
				}
				st = &esxi.State{}
				if err := json.Unmarshal(b, st); err != nil {
					return fmt.Errorf("--host-state %s: %w", filepath.Base(hostState), err)
				}
			} else {
				macs := []string{"00:50:56:00:00:01"}
				if len(m.Uplinks) > 0 {
					macs = nil
					for _, u := range m.Uplinks {
						macs = append(macs, u.String())
					}
				}
				st = fakehost.New(macs...).Snapshot()
			}
			files := goldenFiles{plan.ShadowPath: "root:*:19000:0:99999:7:::\n"}
			pl, err := plan.Build(m, st, files)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(pl)
			}
			fmt.Fprint(cmd.OutOrStdout(), pl.String())
			return nil
		},
	}
	src.add(c, 30*time.Second)
	c.Flags().StringVar(&hostState, "host-state", "", "JSON host snapshot from `esxi-firstboot state` (default: a fresh golden host)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return c
}
