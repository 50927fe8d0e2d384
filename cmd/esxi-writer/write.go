package main

import (
	"github.com/spf13/cobra"
)

const writeExample = `  # The fast path: a signed, published image (archive found next to the manifest)
  esxi-writer write --manifest http://10.0.0.1/esxi-8.0u3.manifest.json --pubkey esxi.pub --disk /dev/sda

  # A compressed image over HTTP onto an NVMe disk, checked against its digest
  esxi-writer write --image http://10.0.0.1/esxi-8.0u3.raw.zst --sha256 3f1c... --disk /dev/nvme0n1

  # A local raw image into a file (created if missing; replaced if present)
  esxi-writer write --image ./esxi.raw --disk ./disk.img`

func newWriteCmd() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:     "write --image URL|PATH [--manifest URL|PATH --pubkey KEY] --disk /dev/X|FILE",
		Short:   "Write an image onto a disk or file",
		Example: writeExample,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := o.request(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			return run(cmd, &o, req)
		},
	}
	cmd.Flags().SortFlags = false
	o.register(cmd.Flags())
	return cmd
}
