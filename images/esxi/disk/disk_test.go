package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

type lbas struct {
	n           int
	first, last uint64
	typ, name   string
}

func checkLayout(t *testing.T, l Layout, want []lbas) {
	t.Helper()
	if len(l.Partitions) != len(want) {
		t.Fatalf("%d partitions, want %d: %+v", len(l.Partitions), len(want), l.Partitions)
	}
	for _, w := range want {
		p, ok := l.Part(w.n)
		if !ok || p.FirstLBA != w.first || p.LastLBA != w.last || p.Type != w.typ || p.Name != w.name {
			t.Errorf("partition %d: %+v, want %+v", w.n, p, w)
		}
	}
}

// The real tables in research/esxi-formats.md §4.
func TestPlanMatchesRealTables(t *testing.T) {
	t.Run("7.0 on 142 GiB", func(t *testing.T) {
		l, err := Plan(Family7, (297795550+34)*512, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, l, []lbas{
			{1, 64, 204863, TypeESP, "BOOT"},
			{5, 208896, 8595455, TypeBasicData, "BOOTBANK1"},
			{6, 8597504, 16984063, TypeBasicData, "BOOTBANK2"},
			{7, 16986112, 268435455, TypeVMFSL, "OSDATA"},
			{8, 268437504, 297795550, TypeVMFS, "datastore1"},
		})
	})
	t.Run("7.0 on a 16 GB SD card", func(t *testing.T) {
		l, err := Plan(Family7, 31293440*512, Options{OSDataName: "LOCKER"})
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, l, []lbas{
			{1, 64, 204863, TypeESP, "BOOT"},
			{5, 208896, 2306047, TypeBasicData, "BOOTBANK1"},
			{6, 2308096, 4405247, TypeBasicData, "BOOTBANK2"},
			{7, 4407296, 31293406, TypeVMFSL, "LOCKER"},
		})
	})
	t.Run("6.0 on 16 GiB", func(t *testing.T) {
		l, err := Plan(Family6, 16<<30, Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkLayout(t, l, []lbas{
			{1, 64, 8191, TypeESP, ""},
			{5, 8224, 520191, TypeBasicData, ""},
			{6, 520224, 1032191, TypeBasicData, ""},
			{7, 1032224, 1257471, TypeVMKDiag, ""},
			{8, 1257504, 1843199, TypeBasicData, ""},
			{9, 1843200, 7086079, TypeVMKDiag, ""},
			{2, 7086080, 15472639, TypeBasicData, ""},
			{3, 15472640, 33554398, TypeVMFS, ""},
		})
	})
}

func TestPlanRules(t *testing.T) {
	tests := []struct {
		name     string
		size     int64
		opt      Options
		bank     int64
		osEnd    int64 // byte offset after OSDATA
		hasDS    bool
		errMatch string
	}{
		{"9 GB", 9 * gb, Options{}, 500 * mib, 9*gb - 33*512, false, ""},
		{"20 GB", 20 * gb, Options{}, 1024 * mib, 20*gb - 33*512, false, ""},
		{"40 GB", 40 * gb, Options{}, 4095 * mib, 40*gb - 33*512, false, ""},
		{"1 TB min", 1000 * gb, Options{SystemMediaSize: "min"}, 4095 * mib, 32 * gib, true, ""},
		{"1 TB small", 1000 * gb, Options{SystemMediaSize: "small"}, 4095 * mib, 64 * gib, true, ""},
		{"1 TB max", 1000 * gb, Options{SystemMediaSize: "max"}, 4095 * mib, 1000*gb - 33*512, false, ""},
		{"1 TB no datastore", 1000 * gb, Options{NoDatastore: true}, 4095 * mib, 128 * gib, false, ""},
		{"fixture", 1 * gib, Options{BootbankSize: 32 * mib, OSDataSize: 256 * mib, MinDatastore: mib}, 32 * mib, 0, true, ""},
		{"4 GB", 4 * gb, Options{}, 0, 0, false, "below ESXi's 8 GB minimum"},
		{"bad sms", 40 * gb, Options{SystemMediaSize: "huge"}, 0, 0, false, `systemMediaSize "huge"`},
		{"odd bank", 40 * gb, Options{BootbankSize: 3}, 0, 0, false, "multiple of 1 MiB"},
		{"osdata too big", 1 * gib, Options{BootbankSize: 32 * mib, OSDataSize: 2 * gib}, 0, 0, false, "partition 7 (osdata) would end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := Plan(Family7, tt.size, tt.opt)
			if tt.errMatch != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errMatch) {
					t.Fatalf("err %v, want %q", err, tt.errMatch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b5, _ := l.Part(5)
			p7, _ := l.Part(7)
			_, ds := l.Part(8)
			if b5.Size() != tt.bank || ds != tt.hasDS || (tt.osEnd != 0 && p7.Offset()+p7.Size() != tt.osEnd) {
				t.Fatalf("bank %d osdata end %d datastore %v", b5.Size(), p7.Offset()+p7.Size(), ds)
			}
			for _, p := range l.Partitions {
				if p.Number != 1 && p.FirstLBA%2048 != 0 {
					t.Errorf("partition %d not MiB aligned", p.Number)
				}
			}
		})
	}
}

func testSpec() Spec {
	cfg, _ := bootcfg.ParseBytes([]byte("bootstate=0\ntitle=Loading VMware ESXi\ntimeout=5\nprefix=\nkernel=b.b00\nkernelopt=autoPartition=FALSE\nmodules=b.b00 --- jumpstrt.gz --- s.v00 --- state.tgz --- onetime.tgz\nbuild=8.0.3-0.0.24022510\nupdated=1\n"))
	return Spec{
		Family:  Family7,
		Options: Options{BootbankSize: 16 * mib, OSDataSize: 8 * mib, MinDatastore: mib},
		Seed:    []byte("test"),
		Boot: []File{
			{"/syslinux.cfg", []byte("DEFAULT safeboot.c32 -S 1\nNOHALT 1\n")},
			{"/EFI/BOOT/BOOTX64.EFI", bytes.Repeat([]byte("efi"), 1000)},
			{"/EFI/VMware/safeboot64.efi", []byte("sb")},
		},
		Bank1: BankSpec{
			Files: []File{
				{"/b.b00", bytes.Repeat([]byte{0xb0}, 300000)},
				{"/jumpstrt.gz", []byte("jump")},
				{"/s.v00", bytes.Repeat([]byte{7}, 1<<20)},
				{"/state.tgz", []byte("state")},
				{"/onetime.tgz", []byte("onetime-content")},
				{"/DONE.TXT", []byte("installed\n")},
			},
			BootCfg: cfg,
		},
	}
}

func TestInstallCheckedBySgdiskFsckMtools(t *testing.T) {
	tooltest.Need(t, "sgdisk", "fsck.fat", "mtype")
	img := filepath.Join(t.TempDir(), "disk.raw")
	l, err := CreateImage(img, 192*mib, testSpec())
	if err != nil {
		t.Fatal(err)
	}
	out := tooltest.Run(t, "sgdisk", "-v", img)
	if !strings.Contains(out, "No problems found") {
		t.Fatalf("sgdisk -v:\n%s", out)
	}
	p7 := tooltest.Run(t, "sgdisk", "-i", "7", img)
	if !strings.Contains(p7, TypeVMFSL) || !strings.Contains(p7, "'OSDATA'") {
		t.Fatalf("sgdisk -i 7:\n%s", p7)
	}
	for _, p := range l.Partitions {
		if p.IsFAT() {
			tooltest.Fsck(t, img, p.Offset(), p.Size())
		}
	}
	b5, _ := l.Part(5)
	if got := tooltest.Run(t, "mtype", "-i", tooltest.MSpec(img, b5.Offset()), "::onetime.tgz"); got != "onetime-content" {
		t.Fatalf("mtype onetime.tgz = %q", got)
	}
	p1, _ := l.Part(1)
	if got := tooltest.Run(t, "mtype", "-i", tooltest.MSpec(img, p1.Offset()), "::EFI/VMware/safeboot64.efi"); got != "sb" {
		t.Fatalf("mtype safeboot64.efi = %q", got)
	}

	d, err := Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Layout.Family != Family7 || len(d.Layout.Partitions) != 5 {
		t.Fatalf("layout %+v", d.Layout)
	}
	act, err := d.Active()
	if err != nil || act.Partition != 5 {
		t.Fatalf("active %d %v", act.Partition, err)
	}
	done, err := d.ReadFile(5, "/done.txt")
	if err != nil || string(done) != "installed\n" {
		t.Fatalf("marker %q %v", done, err)
	}
	info := d.Inspect()
	if info.Version != "8.0.3" || info.Build != "8.0.3-0.0.24022510" || len(info.Banks) != 2 || !info.Banks[0].Active ||
		info.Banks[1].Skipped != "no usable boot.cfg: "+img+": bootbank 6: open /boot.cfg: file does not exist" {
		t.Fatalf("inspect %+v", info)
	}

	// Deterministic: the same spec gives the same bytes.
	img2 := filepath.Join(t.TempDir(), "disk2.raw")
	if _, err := CreateImage(img2, 192*mib, testSpec()); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(img)
	b, _ := os.ReadFile(img2)
	if !bytes.Equal(a, b) {
		t.Fatal("same spec and seed gave different images")
	}
}

func TestOfflineBankEdit(t *testing.T) {
	tooltest.Need(t, "fsck.fat")
	img := filepath.Join(t.TempDir(), "disk.raw")
	if _, err := CreateImage(img, 192*mib, testSpec()); err != nil {
		t.Fatal(err)
	}
	d, err := OpenWritable(img)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v, err := d.Volume(5)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := v.BootCfg()
	if err != nil {
		t.Fatal(err)
	}
	cfg.AppendModule(bootcfg.Module{Path: "agent.tgz"})
	if err := v.WriteFile("/agent.tgz", []byte("agent")); err != nil {
		t.Fatal(err)
	}
	if err := v.WriteBootCfg(cfg); err != nil {
		t.Fatal(err)
	}
	p, _ := d.Layout.Part(5)
	tooltest.Fsck(t, img, p.Offset(), p.Size())
	c2, err := d.BootCfg(5)
	if err != nil || c2.Modules()[len(c2.Modules())-1].Path != "agent.tgz" {
		t.Fatalf("boot.cfg after edit: %v", err)
	}
}

func TestNotESXiIsOneClearLine(t *testing.T) {
	tooltest.Need(t, "sgdisk")
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.raw")
	os.WriteFile(zero, make([]byte, 1<<20), 0o644)
	linux := filepath.Join(dir, "linux.raw")
	os.WriteFile(linux, nil, 0o644)
	os.Truncate(linux, 64<<20)
	tooltest.Run(t, "sgdisk", "-n", "1:2048:+32M", "-t", "1:8300", linux)
	tests := []struct{ path, want string }{
		{zero, zero + ": not an ESXi disk layout: no valid GPT partition table ("},
		{linux, linux + ": not an ESXi disk layout: want GPT partitions 1 (EFI system), 5 and 6 (bootbanks, basic data) and 7 (VMFS-L OSDATA, or 6.x diagnostic); found 1 (Linux filesystem)"},
	}
	for _, tt := range tests {
		_, err := Open(tt.path)
		if !errors.Is(err, ErrNotESXi) || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("got  %v\nwant %s", err, tt.want)
		}
	}
}

func FuzzReadTable(f *testing.F) {
	img := filepath.Join(f.TempDir(), "disk.raw")
	if _, err := CreateImage(img, 192*mib, testSpec()); err != nil {
		f.Fatal(err)
	}
	b, _ := os.ReadFile(img)
	f.Add(b[:34*512])
	f.Add(make([]byte, 64*512))
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := ReadTable(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrNotESXi) {
				t.Fatalf("error not ErrNotESXi: %v", err)
			}
			return
		}
		l, err := Identify(parts, int64(len(b)))
		if err != nil {
			return
		}
		for _, p := range l.Partitions {
			if p.Offset()+p.Size() > int64(len(b)) {
				t.Fatalf("identified partition beyond the disk: %+v", p)
			}
		}
	})
}

func TestInstall6x(t *testing.T) {
	tooltest.Need(t, "sgdisk", "fsck.fat", "mtype")
	cfg, _ := bootcfg.ParseBytes([]byte("bootstate=0\nkernel=tboot.b00\nmodules=b.b00 --- k.b00 --- state.tgz\nbuild=6.0.0-3620759\nupdated=2\n"))
	spec := Spec{Family: Family6, Seed: []byte("6x"), Bank1: BankSpec{Files: []File{{"/tboot.b00", []byte("t")}, {"/b.b00", []byte("b")}, {"/k.b00", []byte("k")}, {"/state.tgz", []byte("s")}}, BootCfg: cfg}}
	img := filepath.Join(t.TempDir(), "esxi6.raw")
	l, err := CreateImage(img, 16<<30, spec)
	if err != nil {
		t.Fatal(err)
	}
	if out := tooltest.Run(t, "sgdisk", "-v", img); !strings.Contains(out, "No problems found") {
		t.Fatalf("sgdisk -v:\n%s", out)
	}
	for _, p := range l.Partitions {
		if p.IsFAT() {
			tooltest.Fsck(t, img, p.Offset(), p.Size())
		}
	}
	d, err := Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	info := d.Inspect()
	if info.Family != Family6 || info.Version != "6.0.0" || len(info.Partitions) != 8 {
		t.Fatalf("6.x inspect: %+v", info)
	}
	if p, _ := d.Layout.Part(8); p.Role != RoleStore {
		t.Fatalf("partition 8 role %s", p.Role)
	}
	b5, _ := l.Part(5)
	if got := tooltest.Run(t, "mtype", "-i", tooltest.MSpec(img, b5.Offset()), "::tboot.b00"); got != "t" {
		t.Fatalf("mtype tboot.b00 = %q", got)
	}
}

// craftedGPT is a 32 KiB disk whose valid GPT header claims 4 million
// partition entries.
func craftedGPT() []byte {
	b := make([]byte, 64*512)
	h := b[512:]
	copy(h, "EFI PART")
	binary.LittleEndian.PutUint32(h[8:], 0x00010000)
	binary.LittleEndian.PutUint32(h[12:], 92)
	binary.LittleEndian.PutUint64(h[24:], 1)
	binary.LittleEndian.PutUint64(h[32:], 63)
	binary.LittleEndian.PutUint64(h[72:], 2)
	binary.LittleEndian.PutUint32(h[80:], 4_000_000)
	binary.LittleEndian.PutUint32(h[84:], 128)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
	return b
}

func TestCraftedGPTRefusedBeforeGoDiskfs(t *testing.T) {
	b := craftedGPT()
	_, err := ReadTable(bytes.NewReader(b), int64(len(b)))
	if !errors.Is(err, ErrNotESXi) || !strings.Contains(err.Error(), "lists 4000000 entries of 128 bytes, want at most 1024 of 128") {
		t.Fatalf("got %v", err)
	}
}

// TestUpstreamGPTAllocatesFromHeader documents why ReadTable checks the
// header first: go-diskfs v1.9.4 allocates entries*size bytes as the
// header says (488 MiB here; with the maximum count, hundreds of GiB).
// When it fails, upstream bounded the allocation.
func TestUpstreamGPTAllocatesFromHeader(t *testing.T) {
	b := craftedGPT()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	_, _ = gpt.Read(&readerFile{r: bytes.NewReader(b), size: int64(len(b))}, 512, 512)
	runtime.ReadMemStats(&m1)
	if got := (m1.TotalAlloc - m0.TotalAlloc) >> 20; got < 400 {
		t.Fatalf("go-diskfs allocated only %d MiB for a crafted header: upstream fixed it", got)
	}
}
