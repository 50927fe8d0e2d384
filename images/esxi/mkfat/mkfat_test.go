package mkfat

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat16"

	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

func TestMatchesMkfsFatFor4095MiBBank(t *testing.T) {
	tooltest.Need(t, "mkfs.fat")
	dir := t.TempDir()
	const size = 4095 << 20
	ref := filepath.Join(dir, "ref.img")
	if err := os.WriteFile(ref, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(ref, size); err != nil {
		t.Fatal(err)
	}
	tooltest.Run(t, "mkfs.fat", "-F", "16", "-s", "128", "-S", "512", "-h", "208896", "-n", "BOOTBANK1", ref, "4193280")
	f, err := os.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := ReadGeometry(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Plan(size)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("geometry %+v, mkfs.fat made %+v", got, want)
	}
	if got.ClusterBytes() != 64<<10 || got.ReservedSectors != 128 || got.Clusters != 65514 {
		t.Fatalf("4095 MiB bank: %+v, want 64 KiB clusters, 128 reserved, 65514 clusters", got)
	}
}

func TestFormatPassesFsckAndMtools(t *testing.T) {
	tooltest.Need(t, "fsck.fat", "mdir", "mtype")
	for _, size := range []int64{3 << 20, 32 << 20, 250 << 20, 1 << 30, 4095 << 20} {
		t.Run(name(size), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fat.img")
			const off = 1 << 20 // as inside a disk image
			f, err := os.Create(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(off + size + (1 << 20)); err != nil {
				t.Fatal(err)
			}
			g, err := Format(f, off, size, Options{Label: "bootbank1", VolumeID: 0x1234abcd, HiddenSectors: off / 512})
			if err != nil {
				t.Fatal(err)
			}
			free, err := FreeClusters(f, off, g)
			if err != nil || free != g.Clusters {
				t.Fatalf("free %d of %d: %v", free, g.Clusters, err)
			}
			// go-diskfs reads it and writes a file into it.
			fs, err := fat16.Read(file.New(f, false), size, off, 512)
			if err != nil {
				t.Fatalf("go-diskfs cannot read our FAT16: %v", err)
			}
			w, err := fs.OpenFile("/BOOT.CFG", os.O_CREATE|os.O_RDWR)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write([]byte("kernel=b.b00\n")); err != nil {
				t.Fatal(err)
			}
			w.Close()
			tooltest.Fsck(t, img, off, size)
			spec := tooltest.MSpec(img, off)
			if out := tooltest.Run(t, "mtype", "-i", spec, "::BOOT.CFG"); out != "kernel=b.b00\n" {
				t.Fatalf("mtype BOOT.CFG = %q", out)
			}
			if out := tooltest.Run(t, "mdir", "-i", spec, "::"); !strings.Contains(out, "Volume in drive : is BOOTBANK1") {
				t.Fatalf("mdir:\n%s", out)
			}
		})
	}
}

func TestPlanRejects(t *testing.T) {
	for _, size := range []int64{0, 1 << 20, 5 << 30} {
		if g, err := Plan(size); err == nil {
			t.Errorf("Plan(%d) = %+v, want an error", size, g)
		}
	}
}

func FuzzParseBootSector(f *testing.F) {
	for _, size := range []int64{3 << 20, 4095 << 20} {
		var m memWriter
		if _, err := Format(&m, 0, size, Options{}); err != nil {
			f.Fatal(err)
		}
		f.Add(m.b[:512])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseBootSector(b)
		if err != nil {
			return
		}
		if g.Clusters < minClusters || g.Clusters > maxClusters || g.DataStart() <= 0 {
			t.Fatalf("accepted bad geometry %+v", g)
		}
	})
}

type memWriter struct{ b []byte }

func (m *memWriter) WriteAt(p []byte, off int64) (int, error) {
	if n := off + int64(len(p)); n > int64(len(m.b)) {
		m.b = append(m.b, make([]byte, n-int64(len(m.b)))...)
	}
	return copy(m.b[off:], p), nil
}

func name(size int64) string { return strconv.FormatInt(size>>20, 10) + "MiB" }

func TestCheckFAT(t *testing.T) {
	const size = 3 << 20
	setup := func(links map[uint32]uint16) error {
		var m memWriter
		g, err := Format(&m, 0, size, Options{})
		if err != nil {
			t.Fatal(err)
		}
		m.b = append(m.b, make([]byte, size-len(m.b))...)
		fat := m.b[int(g.ReservedSectors)*512:]
		for c, n := range links {
			fat[2*c], fat[2*c+1] = byte(n), byte(n>>8)
		}
		return CheckFAT(bytes.NewReader(m.b), 0, g)
	}
	tests := []struct {
		name  string
		links map[uint32]uint16
		want  string
	}{
		{"empty", nil, ""},
		{"chain", map[uint32]uint16{2: 3, 3: 4, 4: 0xFFFF, 9: 0xFFF8}, ""},
		{"loop with head", map[uint32]uint16{2: 3, 3: 4, 4: 3}, "cross-linked"},
		{"pure cycle", map[uint32]uint16{5: 6, 6: 7, 7: 5}, "on a chain that loops"},
		{"self loop", map[uint32]uint16{8: 8}, "on a chain that loops"},
		{"out of range", map[uint32]uint16{2: 60000}, "outside 2.."},
		{"cross-linked", map[uint32]uint16{2: 4, 3: 4, 4: 0xFFFF}, "cross-linked"},
	}
	for _, tt := range tests {
		err := setup(tt.links)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
}

func FuzzCheckFAT(f *testing.F) {
	var m memWriter
	g, err := Format(&m, 0, 3<<20, Options{})
	if err != nil {
		f.Fatal(err)
	}
	fatLen := int(g.SectorsPerFAT) * 512
	fatOff := int(g.ReservedSectors) * 512
	f.Add(m.b[fatOff : fatOff+64])
	f.Add([]byte{0xF8, 0xFF, 0xFF, 0xFF, 3, 0, 2, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		img := make([]byte, fatOff+fatLen)
		copy(img[fatOff:], b[:min(len(b), fatLen)])
		err := CheckFAT(bytes.NewReader(img), 0, g)
		if err != nil {
			return
		}
		// Accepted: every chain from every cluster must end within Clusters steps.
		for c := uint32(2); c < g.Clusters+2; c++ {
			x, steps := c, uint32(0)
			for {
				n := uint32(img[fatOff+2*int(x)]) | uint32(img[fatOff+2*int(x)+1])<<8
				if n == 0 || n >= 0xFFF7 {
					break
				}
				if steps++; steps > g.Clusters {
					t.Fatalf("accepted a looping chain from cluster %d", c)
				}
				x = n
			}
		}
	})
}
