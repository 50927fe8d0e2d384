//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootbank"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/mkfat"
	"github.com/esxi-golden/packer-plugin-esxi/images/simulator"
	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

// installedDisk is the disk being installed, with its two bootbanks open.
type installedDisk struct {
	f     *os.File
	banks map[int]*bootbank.Bank // partition number -> bank
}

func (d *installedDisk) close() error {
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", d.f.Name(), err)
	}
	return d.f.Close()
}

// writeDisk lays the disk out as ESXi 7/8 does (simulator.Layout), formats
// partition 1 and both bootbanks FAT16 with the VMware magic, and fills
// bootbank 1 as the real installer does: the ISO's modules, state.tgz, the
// %firstboot scripts in onetime.tgz, and a boot.cfg carrying the ISO's
// build. OSDATA is left unformatted (VMFS-L is VMware's).
func writeDisk(in *install, ks *kickstart.File) (*installedDisk, error) {
	size, err := deviceSize(in.disk)
	if err != nil {
		return nil, err
	}
	parts, err := simulator.Layout(size)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", in.disk, err)
	}
	say("Partitioning %s (%.1f GiB): %s", in.disk, float64(size)/(1<<30), describe(parts))
	if err := partition(in.disk, parts); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(in.disk, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	d := &installedDisk{f: f, banks: map[int]*bootbank.Bank{}}
	for _, p := range parts {
		if p.FAT == "" {
			continue
		}
		off, n := int64(p.Start)*512, int64(p.End-p.Start+1)*512
		if _, err := mkfat.Format(f, off, n, mkfat.Options{Label: p.FAT, HiddenSectors: uint32(p.Start)}); err != nil {
			f.Close()
			return nil, fmt.Errorf("partition %d: %w", p.Index, err)
		}
		if p.Index == 1 {
			continue
		}
		var u bootbank.UUID
		_, _ = rand.Read(u[:])
		if err := bootbank.WriteMagic(f, off, u); err != nil {
			f.Close()
			return nil, fmt.Errorf("partition %d: %w", p.Index, err)
		}
		b, err := bootbank.Open(f, off, n, true, fmt.Sprintf("bootbank %d", p.Index))
		if err != nil {
			f.Close()
			return nil, err
		}
		d.banks[p.Index] = b
	}
	if err := fillBootbank(in, ks, d.banks[5]); err != nil {
		f.Close()
		return nil, err
	}
	return d, nil
}

func deviceSize(dev string) (int64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("%s: size: %w", dev, err)
	}
	return n, nil
}

func describe(parts []simulator.Partition) string {
	var s []string
	for _, p := range parts {
		s = append(s, fmt.Sprintf("%d %s %d MiB", p.Index, p.Name, (p.End-p.Start+1)/2048))
	}
	return strings.Join(s, ", ")
}

func partition(dev string, parts []simulator.Partition) error {
	d, err := diskfs.Open(dev, diskfs.WithOpenMode(diskfs.ReadWriteExclusive), diskfs.WithSectorSize(512))
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	defer d.Close()
	t := &gpt.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512, ProtectiveMBR: true}
	for _, p := range parts {
		t.Partitions = append(t.Partitions, &gpt.Partition{
			Index: p.Index, Start: p.Start, End: p.End, Type: gpt.Type(p.Type), Name: p.Name,
		})
	}
	if err := d.Partition(t); err != nil {
		return fmt.Errorf("write GPT to %s: %w", dev, err)
	}
	return nil
}

// fillBootbank writes what the installer puts in the new bootbank.
func fillBootbank(in *install, ks *kickstart.File, b *bootbank.Bank) error {
	var mods []bootcfg.Module
	for _, m := range in.boot.Modules() {
		name := strings.ToLower(path.Base(m.Path))
		data, err := readCD(in.cdDir, "/"+strings.ToUpper(name))
		if err != nil {
			return fmt.Errorf("module %s: %w", m.Path, err)
		}
		say("Copying %s (%d KiB)", name, len(data)/1024)
		if err := b.WriteFile(name, data); err != nil {
			return err
		}
		mods = append(mods, bootcfg.Module{Path: name})
	}
	kernel := strings.ToLower(path.Base(in.boot.Kernel()))
	kdata, err := readCD(in.cdDir, "/"+strings.ToUpper(kernel))
	if err != nil {
		return fmt.Errorf("kernel %s: %w", kernel, err)
	}
	if err := b.WriteFile(kernel, kdata); err != nil {
		return err
	}

	state, err := stateTgz(ks)
	if err != nil {
		return err
	}
	if err := b.WriteFile("state.tgz", state); err != nil {
		return err
	}
	mods = append(mods, bootcfg.Module{Path: "state.tgz"})
	onetime, n, err := onetimeTgz(ks)
	if err != nil {
		return err
	}
	if n > 0 {
		say("Saving %d %%firstboot script(s) in onetime.tgz", n)
		if err := b.WriteFile("onetime.tgz", onetime); err != nil {
			return err
		}
		mods = append(mods, bootcfg.Module{Path: "onetime.tgz"})
	}

	cfg, err := bootcfg.ParseBytes([]byte("bootstate=0\ntitle=Loading VMware ESXi\ntimeout=5\nprefix=\n"))
	if err != nil {
		return err
	}
	cfg.Set(bootcfg.KeyKernel, kernel)
	cfg.Set(bootcfg.KeyKernelOpt, "autoPartition=FALSE")
	cfg.SetModules(mods)
	cfg.Set(bootcfg.KeyBuild, in.build)
	cfg.SetUpdated(1)
	return b.WriteBootCfg(cfg)
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
