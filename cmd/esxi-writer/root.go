package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

const rootLong = `esxi-writer writes a disk image onto a block device (or a file), verified,
at the speed of the hardware. A run ends either with the whole image on the
disk and exit 0, or with a non-zero exit naming the cause and a disk whose
first MiB holds no partition table, so a half-written disk never boots.

Exit codes: 0 written; 2 usage; 3 source (network, server, file); 4 verify
(signature, digest, chunk hash, corrupt or truncated data); 5 target (write,
flush, size); 1 anything else.

With no subcommand and IMG_URL set, esxi-writer is a drop-in for Tinkerbell's
image2disk action: it reads IMG_URL, DEST_DISK, COMPRESSED, RETRY_ENABLED,
RETRY_DURATION_MINUTES, PROGRESS_INTERVAL_SECONDS and TEXT_LOGGING (see
"esxi-writer write --help" for every variable).`

func newRoot() *cobra.Command {
	root := cli.NewRoot("esxi-writer", "Write a published ESXi image onto a disk, fast and verified", rootLong)
	var o options
	o.register(root.Flags())
	// Flags of the compat mode stay out of the root's help: they are the
	// same as write's, documented there.
	root.Flags().VisitAll(func(f *pflag.Flag) { f.Hidden = true })
	root.Args = cobra.NoArgs
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if os.Getenv("IMG_URL") == "" && os.Getenv("MANIFEST_URL") == "" {
			return cmd.Help()
		}
		req, err := o.request(cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		req.Log.Info("esxi-writer in image2disk-compatible mode", "image", req.Image, "disk", req.Disk)
		return run(cmd, &o, req)
	}
	root.AddCommand(newWriteCmd())
	return root
}

func run(cmd *cobra.Command, o *options, req writer.Request) error {
	if o.manifest != "" {
		pub, err := o.publicKey()
		if err != nil {
			return usageErr(fmt.Sprintf("--pubkey: %v", err))
		}
		// The signature is checked before anything else is read or written.
		signed, err := writer.LoadSigned(cmd.Context(), o.manifest, o.signature, pub, req.Fetch)
		if err != nil {
			req.Log.Error("manifest rejected; the disk was not touched", "error", err.Error(), "exit_code", writer.ExitCode(err))
			return exit(err)
		}
		m := signed.Manifest
		req.Log.Info("manifest signature verified", "name", m.Name, "trusted_comment", signed.TrustedComment,
			"image_bytes", m.Image.Size, "chunks", len(m.Chunks), "data_chunks", m.Image.DataChunks)
		req.Plan = signed.Plan
		if req.Image == "" {
			req.Image = signed.Image
		}
	}
	res, err := writer.Write(cmd.Context(), req)
	if err != nil {
		req.Log.Error("write failed", "error", err.Error(), "exit_code", writer.ExitCode(err))
		return exit(err)
	}
	if req.TTY {
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d bytes to %s: %s\n", res.ImageSize, req.Disk, res.Summary)
	}
	return nil
}
