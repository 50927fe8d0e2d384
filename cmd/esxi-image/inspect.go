package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/disk"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/iso"
)

func init() { root.AddCommand(newInspectCmd()) }

func newInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show what an ESXi installer ISO or installed disk image holds",
		Long: `Inspect reads an ESXi installer ISO or an installed disk (raw image or block
device) and prints its version and build; for an ISO the volume id, both
boot.cfg kernelopts and the El Torito entries; for a disk the partitions and
each bootbank (state, updated, build, modules) and which one safeboot boots.`,
		Example: `  esxi-image inspect VMware-VMvisor-Installer-8.0U3-24022510.x86_64.iso
  esxi-image inspect --json output/esxi.raw | jq .banks`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runInspect(cmd.OutOrStdout(), args[0], asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return cmd
}

func isISO(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b := make([]byte, 5)
	if _, err := f.ReadAt(b, 16*2048+1); err != nil {
		return false, nil
	}
	return string(b) == "CD001", nil
}

func runInspect(w io.Writer, p string, asJSON bool) error {
	isoImg, err := isISO(p)
	if err != nil {
		return err
	}
	if isoImg {
		img, err := iso.Open(p)
		if err != nil {
			return err
		}
		defer img.Close()
		info, err := img.Inspect()
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(w, info)
		}
		printISO(w, p, info)
		return nil
	}
	d, err := disk.Open(p)
	if err != nil {
		if errors.Is(err, disk.ErrNotESXi) {
			return fmt.Errorf("%w (and no ISO9660 volume descriptor at byte 32768, so not an installer ISO either)", err)
		}
		return err
	}
	defer d.Close()
	info := d.Inspect()
	if asJSON {
		return writeJSON(w, info)
	}
	printDisk(w, p, info)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func human(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f := float64(n)
	u := 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d %s", int64(f), units[u])
	}
	return fmt.Sprintf("%.1f %s", f, units[u])
}

func printISO(w io.Writer, p string, info iso.Info) {
	fmt.Fprintf(w, "%s: ESXi installer ISO, %s, %d files\n", p, human(info.Bytes), info.Files)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  volume id\t%s\n", info.VolumeID)
	fmt.Fprintf(tw, "  version\t%s (build %s)\n", info.Version, info.Build)
	fmt.Fprintf(tw, "  kernel\t%s, %d modules\n", info.Kernel, info.Modules)
	fmt.Fprintf(tw, "  kernelopt\t%s\t(/BOOT.CFG)\n", info.KernelOpt)
	fmt.Fprintf(tw, "  kernelopt\t%s\t(/EFI/BOOT/BOOT.CFG)\n", info.EFIKernOpt)
	for k, e := range info.ElTorito {
		label := ""
		if k == 0 {
			label = "el torito"
		}
		opts := ""
		if e.BootTable {
			opts = " boot-info-table"
		}
		fmt.Fprintf(tw, "  %s\t%d %s, emulation %s, load %d sectors, %s%s\n", label, k+1, e.Platform, e.Emulation, e.LoadSectors, e.File, opts)
	}
	tw.Flush()
}

func printDisk(w io.Writer, p string, info disk.Info) {
	fmt.Fprintf(w, "%s: ESXi %s installed disk, %s\n", p, info.Family, human(info.DiskBytes))
	if info.Version != "" {
		fmt.Fprintf(w, "  version %s (build %s)\n", info.Version, info.Build)
	}
	if info.Error != "" {
		fmt.Fprintf(w, "  boot: %s\n", info.Error)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tname\trole\tfirst LBA\tlast LBA\tsize")
	for _, pt := range info.Partitions {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%d\t%s\n", pt.Number, pt.Name, pt.Role, pt.FirstLBA, pt.LastLBA, human(pt.Size()))
	}
	tw.Flush()
	for _, b := range info.Banks {
		status := "active"
		if !b.Active {
			status = "skipped: " + b.Skipped
			if b.Skipped == "" {
				status = "bootable, not chosen"
			}
		}
		fmt.Fprintf(w, "  bootbank %d: %s\n", b.Partition, status)
		if b.UUID != "" {
			fmt.Fprintf(w, "    uuid %s (bootUUID=%s)\n", b.UUID, b.BootUUID)
		}
		if b.Build != "" || b.State != "no boot.cfg" {
			fmt.Fprintf(w, "    state %s, updated %d, build %s\n", b.State, b.Updated, b.Build)
			fmt.Fprintf(w, "    kernelopt %s\n", b.KernelOpt)
			fmt.Fprintf(w, "    modules (%d): %s\n", len(b.Modules), strings.Join(b.Modules, " "))
		}
		var size int64
		for _, f := range b.Files {
			size += f.Size
		}
		fmt.Fprintf(w, "    %d files, %s\n", len(b.Files), human(size))
	}
}
