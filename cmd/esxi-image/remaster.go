package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/iso"
)

func init() { root.AddCommand(newRemasterCmd()) }

func newRemasterCmd() *cobra.Command {
	var (
		adds      []string
		kernelopt string
		appendOpt string
		volumeID  string
	)
	cmd := &cobra.Command{
		Use:   "remaster IN.iso OUT.iso",
		Short: "Copy an ESXi installer ISO, adding files and editing both BOOT.CFGs",
		Long: `Remaster writes OUT.iso: IN.iso with files added (ISO path=local file) and
kernelopt changed in both /BOOT.CFG (BIOS) and /EFI/BOOT/BOOT.CFG (UEFI),
keeping both El Torito boot entries. ISO names must be upper-case 8.3 (the
ISO has no Joliet or Rock Ridge); ks=cdrom: must name the upper-case file.`,
		Example: `  esxi-image remaster VMware-VMvisor-Installer-8.0U3.iso esxi-ks.iso \
    --add KS.CFG=./ks.cfg --kernelopt "runweasel ks=cdrom:/KS.CFG"
  esxi-image remaster in.iso out.iso --append-kernelopt "systemMediaSize=min"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opt := iso.RemasterOptions{KernelOpt: kernelopt, AppendKernelOpt: appendOpt, VolumeID: volumeID}
			for _, a := range adds {
				isoPath, local, ok := strings.Cut(a, "=")
				if !ok || isoPath == "" || local == "" {
					return fmt.Errorf("--add %q: want ISO_PATH=LOCAL_FILE, e.g. KS.CFG=./ks.cfg", a)
				}
				opt.Add = append(opt.Add, iso.File{Path: isoPath, From: local})
			}
			if err := iso.Remaster(args[0], args[1], opt); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s\n", args[1])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&adds, "add", nil, "add a file: ISO_PATH=LOCAL_FILE (repeatable)")
	f.StringVar(&kernelopt, "kernelopt", "", "replace kernelopt in both boot.cfg files")
	f.StringVar(&appendOpt, "append-kernelopt", "", "merge these options into kernelopt (same key replaced)")
	f.StringVar(&volumeID, "volume-id", "", "volume id of the new ISO (default: the input's)")
	return cmd
}
