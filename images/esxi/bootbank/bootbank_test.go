package bootbank

import (
	"bytes"
	"errors"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat16"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/mkfat"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

const (
	partOff = 1 << 20
	tail    = 1 << 20 // a "next partition" after the bank, filled with a sentinel
)

var testUUID = UUID{0x5f, 0x1e, 0x2a, 0x60, 0x7c, 0x2b, 0x4e, 0x3a, 0x9a, 0x10, 0x00, 0x0c, 0x29, 0xab, 0xcd, 0xef}

// newImage makes a file with a formatted bank of size bytes at partOff and
// a sentinel-filled region after it.
func newImage(t *testing.T, size int64, magic bool) (string, *os.File) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.raw")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(partOff + size + tail); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, tail), partOff+size); err != nil {
		t.Fatal(err)
	}
	if _, err := mkfat.Format(f, partOff, size, mkfat.Options{Label: "BOOTBANK1", VolumeID: 1, HiddenSectors: partOff / 512}); err != nil {
		t.Fatal(err)
	}
	if magic {
		if err := WriteMagic(f, partOff, testUUID); err != nil {
			t.Fatal(err)
		}
	}
	return img, f
}

func sentinelIntact(t *testing.T, f *os.File, size int64) bool {
	t.Helper()
	b := make([]byte, tail)
	if _, err := f.ReadAt(b, partOff+size); err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(b, bytes.Repeat([]byte{0xA5}, tail))
}

func TestUUIDRendering(t *testing.T) {
	if got := testUUID.BootUUID(); got != "5f1e2a607c2b4e3a9a10000c29abcdef" {
		t.Errorf("bootUUID %s", got)
	}
	if got := testUUID.VolumeID(); got != "602a1e5f-3a4e2b7c-109a-000c29abcdef" {
		t.Errorf("volume id %s", got)
	}
}

func TestWriteReadReplaceCheckedByFsckAndMtools(t *testing.T) {
	tooltest.Need(t, "fsck.fat", "mtype", "mdir")
	const size = 32 << 20
	img, f := newImage(t, size, true)
	b, err := Open(f, partOff, size, true, "bootbank 5")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := b.UUID(); err != nil || u != testUUID {
		t.Fatalf("uuid %v %v", u, err)
	}
	spec := tooltest.MSpec(img, partOff)
	cfg := "bootstate=0\nkernel=b.b00\nmodules=b.b00 --- state.tgz\nbuild=8.0.3-0.0.24022510\nupdated=1\n"
	steps := []struct{ name, data string }{
		{"/boot.cfg", cfg},
		{"b.b00", strings.Repeat("kernel", 40000)},
		{"/state.tgz", "state"},
		{"/boot.cfg", strings.Replace(cfg, "updated=1", "updated=2", 1)}, // replace
		{"/b.b00", "small now"},                                          // replace, shrink
		{"/firstbt/done.txt", "ok"},                                      // subdirectory
		{"/empty.txt", ""},
		{"/empty.txt", "now full"},
		{"/empty.txt", ""},
	}
	for _, s := range steps {
		if err := b.WriteFile(s.name, []byte(s.data)); err != nil {
			t.Fatalf("write %s: %v", s.name, err)
		}
		tooltest.Fsck(t, img, partOff, size)
		if got := tooltest.Run(t, "mtype", "-i", spec, "::"+strings.TrimPrefix(s.name, "/")); got != s.data {
			t.Fatalf("mtype %s: %d bytes, want %d", s.name, len(got), len(s.data))
		}
		if got, err := b.ReadFile(s.name); err != nil || string(got) != s.data {
			t.Fatalf("ReadFile %s: %v", s.name, err)
		}
	}
	c, err := b.BootCfg()
	if err != nil || c.Value("updated") != "2" {
		t.Fatalf("boot.cfg: %v", err)
	}
	list, err := b.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fi := range list {
		names = append(names, strings.ToLower(fi.Path))
	}
	if got := strings.Join(names, " "); got != "/b.b00 /boot.cfg /empty.txt /firstbt /firstbt/done.txt /state.tgz" {
		t.Fatalf("list: %s", got)
	}
	if err := b.Remove("/state.tgz"); err != nil {
		t.Fatal(err)
	}
	tooltest.Fsck(t, img, partOff, size)
	if out := tooltest.Run(t, "mdir", "-b", "-i", spec, "::"); strings.Contains(strings.ToLower(out), "state.tgz") {
		t.Fatalf("state.tgz still listed:\n%s", out)
	}
	if _, err := b.ReadFile("/state.tgz"); !errors.Is(err, iofs.ErrNotExist) {
		t.Fatalf("read removed file: %v", err)
	}
	if err := b.WriteFile("/toolongname.cfg", nil); err == nil || !strings.Contains(err.Error(), "8.3") {
		t.Fatalf("long name: %v", err)
	}
	if !sentinelIntact(t, f, size) {
		t.Fatal("wrote past the bank")
	}
	ro, err := Open(f, partOff, size, false, "bootbank 5")
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.WriteFile("/x", nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("read-only write: %v", err)
	}
}

func TestFullBankRefusedBeforeWriting(t *testing.T) {
	tooltest.Need(t, "fsck.fat")
	const size = 3 << 20
	img, f := newImage(t, size, true)
	b, err := Open(f, partOff, size, true, "bootbank 6")
	if err != nil {
		t.Fatal(err)
	}
	free, err := b.FreeBytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WriteFile("/big.v00", make([]byte, free)); err != nil {
		t.Fatalf("exactly the free space: %v", err)
	}
	err = b.WriteFile("/more.v00", []byte{1})
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "bootbank 6: write /more.v00") {
		t.Fatalf("full bank: %v", err)
	}
	// Replacing a file may reuse its own clusters.
	if err := b.WriteFile("/big.v00", make([]byte, free-1)); err != nil {
		t.Fatalf("replace in a full bank: %v", err)
	}
	tooltest.Fsck(t, img, partOff, size)
	if !sentinelIntact(t, f, size) {
		t.Fatal("wrote past the bank")
	}
}

// TestUpstreamWritesPastEnd documents the go-diskfs v1.9.4 bug WriteFile
// guards against. When it fails, upstream fixed the bug: keep the guard
// (it is cheap) but update the comment in WriteFile and this test.
func TestUpstreamWritesPastEnd(t *testing.T) {
	const size = 3 << 20
	_, f := newImage(t, size, false)
	geo, err := mkfat.ReadGeometry(f, partOff)
	if err != nil {
		t.Fatal(err)
	}
	if slack := int64(geo.SectorsPerFAT)*256 - int64(geo.Clusters) - 2; slack < 8 {
		t.Fatalf("test volume has only %d FAT slack entries", slack)
	}
	fs, err := fat16.Read(file.New(f, false), size, partOff, 512)
	if err != nil {
		t.Fatal(err)
	}
	w, err := fs.OpenFile("/OVER.BIN", os.O_CREATE|os.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	over := (int64(geo.Clusters) + 4) * geo.ClusterBytes()
	_, werr := w.Write(bytes.Repeat([]byte{0x11}, int(over)))
	if werr == nil && !sentinelIntact(t, f, size) {
		return // the bug is still there
	}
	t.Fatalf("go-diskfs no longer writes past the end of a full FAT16 volume silently (write error %v): upstream fixed it", werr)
}

func TestNoMagicIsOneClearLine(t *testing.T) {
	const size = 3 << 20
	_, f := newImage(t, size, false)
	b, err := Open(f, partOff, size, false, "bootbank 5")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.UUID()
	want := `bootbank 5: bad magic "................" at byte 512, want "VMWARE FAT16    ": no VMware FAT16 bootbank magic`
	if !errors.Is(err, ErrNoMagic) || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

func TestOpenRejectsNonFAT(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "zero.raw"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Truncate(4 << 20)
	_, err = Open(f, 0, 4<<20, false, "bootbank 5")
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "want 55aa") {
		t.Fatalf("got %v", err)
	}
}

func cfg(t *testing.T, s string) *bootcfg.Config {
	c, err := bootcfg.ParseBytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSelect(t *testing.T) {
	ok := func(upd, state string) *bootcfg.Config {
		return cfg(t, "bootstate="+state+"\nkernel=b.b00\nbuild=8.0.3-0.0.1\nupdated="+upd+"\n")
	}
	tests := []struct {
		name  string
		cands []Candidate
		want  int // partition, 0 = error
		err   string
	}{
		{"higher updated wins", []Candidate{{5, testUUID, true, ok("1", "0"), nil}, {6, testUUID, true, ok("2", "0"), nil}}, 6, ""},
		{"upgrading boots", []Candidate{{5, testUUID, true, ok("1", "0"), nil}, {6, testUUID, true, ok("2", "1"), nil}}, 6, ""},
		{"dirty rolls back", []Candidate{{5, testUUID, true, ok("1", "0"), nil}, {6, testUUID, true, ok("2", "2"), nil}}, 5, ""},
		{"no magic skipped", []Candidate{{5, testUUID, false, ok("3", "0"), nil}, {6, testUUID, true, ok("2", "0"), nil}}, 6, ""},
		{"tie keeps first", []Candidate{{5, testUUID, true, ok("2", "0"), nil}, {6, testUUID, true, ok("2", "0"), nil}}, 5, ""},
		{"none", []Candidate{{5, testUUID, true, ok("0", "0"), nil}, {6, testUUID, true, cfg(t, "kernel=b\nupdated=4\n"), nil}},
			0, "no bootable bootbank (bank 5: updated=0; bank 6: empty build=)"},
		{"missing bootstate", []Candidate{{5, testUUID, true, cfg(t, "kernel=b\nbuild=1\nupdated=4\n"), nil}, {6, testUUID, true, nil, errors.New("boom")}},
			0, "no bootable bootbank (bank 5: bootstate undefined; bank 6: no usable boot.cfg: boom)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(tt.cands)
			if tt.want == 0 {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil || got.Partition != tt.want {
				t.Fatalf("got %d %v, want %d", got.Partition, err, tt.want)
			}
		})
	}
}

func FuzzParseMagic(f *testing.F) {
	good := append(append([]byte{}, Magic[:]...), testUUID[:]...)
	f.Add(good)
	f.Add([]byte("VMWARE FAT16   "))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := ParseMagic(b)
		if err != nil {
			if !errors.Is(err, ErrNoMagic) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %v", err)
			}
			return
		}
		if !bytes.Equal(b[16:32], u[:]) {
			t.Fatal("uuid mismatch")
		}
	})
}

// TestUpstreamPartialReadPastEOF documents the go-diskfs v1.9.4 read bug
// ReadFile avoids. When it fails, upstream fixed it.
func TestUpstreamPartialReadPastEOF(t *testing.T) {
	const size = 1 << 30 // 16 KiB clusters
	_, f := newImage(t, size, true)
	b, err := Open(f, partOff, size, true, "bootbank 5")
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("abcdefghij"), 170)
	if err := b.WriteFile("/boot.cfg", data); err != nil {
		t.Fatal(err)
	}
	if got, err := b.ReadFile("/boot.cfg"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadFile: %d bytes, %v", len(got), err)
	}
	r, err := b.fs.OpenFile("/boot.cfg", os.O_RDONLY)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if len(got) == len(data) {
		t.Fatal("go-diskfs File.Read no longer returns bytes past EOF after a partial read: upstream fixed it")
	}
}
