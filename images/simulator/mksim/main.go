// Command mksim assembles the ESXi installer simulator ISO from an unpacked
// Debian kernel package, the static /init binary and syslinux files. The
// Makefile runs it (`make simulator`); it is a build tool, not a product
// binary, so it lives beside the package it drives instead of in cmd/.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/images/simulator"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mksim:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		kernel   = flag.String("kernel", "", "Linux bzImage (vmlinuz)")
		modDir   = flag.String("modules", "", "/lib/modules/<version> directory after `depmod -b`")
		initBin  = flag.String("init", "", "static /init binary")
		isolinux = flag.String("isolinux", "/usr/lib/ISOLINUX/isolinux.bin", "ISOLINUX.BIN")
		ldlinux  = flag.String("ldlinux", "/usr/lib/syslinux/modules/bios/ldlinux.c32", "LDLINUX.C32")
		efiboot  = flag.String("efiboot", "", "FAT image for the EFI El Torito entry")
		build    = flag.String("build", simulator.DefaultBuild, "ESXi build announced in BOOT.CFG")
		out      = flag.String("o", "", "output ISO path")
	)
	flag.Parse()
	for name, v := range map[string]string{"-kernel": *kernel, "-modules": *modDir, "-init": *initBin, "-efiboot": *efiboot, "-o": *out} {
		if v == "" {
			return fmt.Errorf("%s is required", name)
		}
	}
	dep, err := os.Open(filepath.Join(*modDir, "modules.dep"))
	if err != nil {
		return fmt.Errorf("%w (run depmod -b first)", err)
	}
	order, err := simulator.ModuleLoadOrder(dep, simulator.BootModules)
	dep.Close()
	if err != nil {
		return err
	}
	initData, err := os.ReadFile(*initBin)
	if err != nil {
		return err
	}
	files := []simulator.InitramfsFile{{Path: "/init", Data: initData, Mode: 0o755}}
	var list strings.Builder
	for _, rel := range order {
		b, err := os.ReadFile(filepath.Join(*modDir, rel))
		if err != nil {
			return err
		}
		p := "/lib/modules/" + path.Base(rel)
		files = append(files, simulator.InitramfsFile{Path: p, Data: b, Mode: 0o644})
		list.WriteString(p + "\n")
	}
	files = append(files, simulator.InitramfsFile{Path: simulator.ModulesOrderPath, Data: []byte(list.String()), Mode: 0o644})
	var initrd bytes.Buffer
	if err := simulator.WriteInitramfs(&initrd, files); err != nil {
		return err
	}
	in := simulator.ISOInput{Initrd: initrd.Bytes(), Build: *build}
	for _, f := range []struct {
		dst  *[]byte
		path string
	}{{&in.Kernel, *kernel}, {&in.Isolinux, *isolinux}, {&in.Ldlinux, *ldlinux}, {&in.EFIBoot, *efiboot}} {
		if *f.dst, err = os.ReadFile(f.path); err != nil {
			return err
		}
	}
	if err := simulator.BuildISO(*out, in); err != nil {
		return err
	}
	fmt.Printf("mksim: %s (%d modules, initrd %d KiB, build %s)\n", *out, len(order), initrd.Len()/1024, *build)
	return nil
}
