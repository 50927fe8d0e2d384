//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/disk"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/fixture"
	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

// writeDisk installs onto in.disk through the format library's one code
// path (disk.Plan + disk.Install, the same that writes the test
// fixtures): ESXi 7/8 layout sized by the disk and systemMediaSize, FAT16
// BOOT and bootbanks with the VMware magic, bootbank 1 filled as the real
// installer does (the ISO's modules, state.tgz, onetime.tgz with the
// %firstboot scripts, boot.cfg with the ISO's build written last), GPT
// last, read back. It returns the disk reopened for %post's offline edits.
func writeDisk(in *install, ks *kickstart.File) (*disk.Disk, error) {
	f, err := os.OpenFile(in.disk, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	d, err := installOn(f, in, ks)
	if err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func installOn(f *os.File, in *install, ks *kickstart.File) (*disk.Disk, error) {
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("%s: size: %w", in.disk, err)
	}
	opt := disk.Options{SystemMediaSize: in.systemMediaSize}
	l, err := disk.Plan(disk.Family7, size, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.disk, err)
	}
	say("Partitioning %s (%.1f GiB): %s", in.disk, float64(size)/(1<<30), describe(l))
	bank, err := bank1(in, ks)
	if err != nil {
		return nil, err
	}
	if _, err := disk.Install(f, disk.Spec{Family: disk.Family7, Options: opt, Bank1: bank}); err != nil {
		return nil, fmt.Errorf("%s: %w", in.disk, err)
	}
	return disk.FromFile(f, in.disk, true)
}

func describe(l disk.Layout) string {
	var s []string
	for _, p := range l.Partitions {
		s = append(s, fmt.Sprintf("%d %s %d MiB", p.Number, p.Name, p.Size()>>20))
	}
	return strings.Join(s, ", ")
}

// bank1 is what the installer puts in the new bootbank: the kernel and
// modules the ISO's BOOT.CFG names, copied from the CD, the saved state,
// the %firstboot scripts, and the boot.cfg fixture.InstalledFrom derives
// from the ISO's (so the simulator and the fixtures agree on its shape).
func bank1(in *install, ks *kickstart.File) (disk.BankSpec, error) {
	onetime, n, err := onetimeTgz(ks)
	if err != nil {
		return disk.BankSpec{}, err
	}
	cfg := fixture.InstalledFrom(in.boot, n > 0)
	var files []disk.File
	for _, name := range append([]string{cfg.Kernel()}, moduleNames(cfg)...) {
		var data []byte
		switch name {
		case "state.tgz":
			if data, err = stateTgz(ks); err != nil {
				return disk.BankSpec{}, err
			}
		case "onetime.tgz":
			say("Saving %d %%firstboot script(s) in onetime.tgz", n)
			data = onetime
		default:
			if data, err = readCD(in.cdDir, "/"+strings.ToUpper(path.Base(name))); err != nil {
				return disk.BankSpec{}, fmt.Errorf("module %s: %w", name, err)
			}
			say("Copying %s (%d KiB)", name, len(data)/1024)
		}
		files = append(files, disk.File{Name: "/" + name, Data: data})
	}
	return disk.BankSpec{Files: files, BootCfg: cfg}, nil
}

func moduleNames(cfg *bootcfg.Config) []string {
	var out []string
	for _, m := range cfg.Modules() {
		out = append(out, m.Path)
	}
	return out
}

// onetimeTgz packs the %firstboot sections as the real installer does:
// /var/lib/vmware/firstboot/NNN.firstboot_NNN scripts starting with their
// interpreter line, plus firstboot.json. It returns the number of scripts.
func onetimeTgz(ks *kickstart.File) ([]byte, int, error) {
	secs := ks.Sections(kickstart.SectionFirstboot)
	if len(secs) == 0 {
		return nil, 0, nil
	}
	files := map[string][]byte{}
	var order []string
	for i, s := range secs {
		interp := s.Shebang() // the first line the installer writes
		name := fmt.Sprintf("var/lib/vmware/firstboot/%03d.firstboot_%03d", (i+1)*10, i+1)
		files[name] = []byte(interp + "\n" + s.Body)
		order = append(order, name)
	}
	meta, err := json.MarshalIndent(map[string]any{"scripts": order}, "", "  ")
	if err != nil {
		return nil, 0, err
	}
	files["var/lib/vmware/firstboot/firstboot.json"] = meta
	order = append(order, "var/lib/vmware/firstboot/firstboot.json")
	b, err := tgz(order, files)
	return b, len(secs), err
}

// stateTgz is the saved configuration: local.tgz with /etc/shadow holding
// the kickstart's root password (SHA-512 crypt, as the installer stores it)
// and a minimal esx.conf.
func stateTgz(ks *kickstart.File) ([]byte, error) {
	hash := "*"
	if rp := ks.Rootpw(); rp != nil {
		if rp.Crypted {
			hash = rp.Password.Reveal()
		} else {
			h, err := kickstart.CryptSHA512(rp.Password, "")
			if err != nil {
				return nil, fmt.Errorf("rootpw: %w", err)
			}
			hash = h.Reveal()
		}
	}
	local, err := tgz([]string{"etc/shadow", "etc/vmware/esx.conf"}, map[string][]byte{
		"etc/shadow":          []byte("root:" + hash + ":19000:0:99999:7:::\n"),
		"etc/vmware/esx.conf": []byte("/adv/Misc/HostName = \"localhost\"\n"),
	})
	if err != nil {
		return nil, err
	}
	return tgz([]string{"local.tgz"}, map[string][]byte{"local.tgz": local})
}

func tgz(order []string, files map[string][]byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mtime := time.Unix(0, 0)
	dirs := map[string]bool{}
	for _, name := range order {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			if dirs[dir] {
				break
			}
			dirs[dir] = true
		}
	}
	var dirList []string
	for dname := range dirs {
		dirList = append(dirList, dname)
	}
	sort.Strings(dirList)
	for _, dname := range dirList {
		if err := tw.WriteHeader(&tar.Header{Name: dname + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
			return nil, err
		}
	}
	for _, name := range order {
		data := files[name]
		mode := int64(0o644)
		if strings.Contains(name, ".firstboot_") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data)), ModTime: mtime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
