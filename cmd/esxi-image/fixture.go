package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/fixture"
)

func init() { root.AddCommand(newFixtureCmd()) }

// The fixture commands are for tests and benchmarks (make bench), hidden
// from operators.
func newFixtureCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "fixture",
		Short:  "Generate ESXi-shaped test images (not VMware content)",
		Hidden: true,
	}
	// Each command has its own flag variables: a flag bound to a shared
	// variable would carry one command's value into another.
	type common struct {
		shape       string
		seed        int64
		moduleBytes string
	}
	addCommon := func(c *cobra.Command, o *common) {
		c.Flags().StringVar(&o.shape, "shape", string(fixture.ESXi80U3), "ESXi shape: 7.0u3 or 8.0u3")
		c.Flags().Int64Var(&o.seed, "seed", 0, "seed for the pseudo-random payloads")
		c.Flags().StringVar(&o.moduleBytes, "module-bytes", "4KiB", "payload bytes per module")
	}

	var isoOpt common
	isoCmd := &cobra.Command{
		Use:   "iso OUT.iso",
		Short: "An installer ISO with the real file set, both BOOT.CFGs and El Torito entries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mb, err := parseSize(isoOpt.moduleBytes)
			if err != nil {
				return err
			}
			return fixture.InstallerISO(args[0], fixture.ISOOptions{Shape: fixture.Shape(isoOpt.shape), ModuleBytes: int(mb), Seed: isoOpt.seed})
		},
	}
	addCommon(isoCmd, &isoOpt)

	var diskOpt, benchOpt common
	var size, bank, onetime = "192MiB", "16MiB", false
	var benchSize string
	diskCmd := &cobra.Command{
		Use:   "disk OUT.raw",
		Short: "An installed-disk raw image with populated bootbanks",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := parseSize(size)
			if err != nil {
				return err
			}
			b, err := parseSize(bank)
			if err != nil {
				return err
			}
			mb, err := parseSize(diskOpt.moduleBytes)
			if err != nil {
				return err
			}
			_, err = fixture.Disk(args[0], fixture.DiskOptions{Shape: fixture.Shape(diskOpt.shape), Size: s, BootbankSize: b, ModuleBytes: int(mb), Seed: diskOpt.seed, Onetime: onetime})
			return err
		},
	}
	addCommon(diskCmd, &diskOpt)
	diskCmd.Flags().StringVar(&size, "size", size, "disk size")
	diskCmd.Flags().StringVar(&bank, "bootbank-size", bank, "bootbank size (a MiB multiple)")
	diskCmd.Flags().BoolVar(&onetime, "onetime", false, "add onetime.tgz (a %firstboot script)")

	var data string
	benchCmd := &cobra.Command{
		Use:   "bench-disk OUT.raw",
		Short: "A large sparse ESXi-shaped disk (32 GiB, ~1.24 GiB mapped, zstd -3 ~ 860 MB)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := parseSize(benchSize)
			if err != nil {
				return err
			}
			d, err := parseSize(data)
			if err != nil {
				return err
			}
			_, err = fixture.BenchDisk(args[0], fixture.BenchOptions{Shape: fixture.Shape(benchOpt.shape), Size: s, Data: d, Seed: benchOpt.seed})
			return err
		},
	}
	addCommon(benchCmd, &benchOpt)
	_ = benchCmd.Flags().MarkHidden("module-bytes") // sized by --data
	benchCmd.Flags().StringVar(&benchSize, "size", "32GiB", "disk size")
	benchCmd.Flags().StringVar(&data, "data", "1.24GiB", "mapped payload")

	cmd.AddCommand(isoCmd, diskCmd, benchCmd)
	return cmd
}

// parseSize reads "32GiB", "1.24GiB", "512MiB", "4KiB", "100MB" or bytes.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	num, mult := s, 1.0
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number with an optional unit (KiB, MiB, GiB, MB, GB)", s)
	}
	n := int64(f * mult)
	if mult >= 1<<20 {
		n = n / 512 * 512 // disks are whole sectors
	}
	return n, nil
}
