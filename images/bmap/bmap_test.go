package bmap

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

// image has data chunks, zero chunks, and a last chunk that ends inside a
// 4 KiB block, so the partial last block is exercised.
func image(size int64) []byte {
	r := rand.New(rand.NewPCG(3, 4))
	raw := make([]byte, size)
	for off := int64(0); off < size; off += format.MinChunkSize {
		if (off/format.MinChunkSize)%3 == 1 {
			continue // zero chunk
		}
		for i := off; i < min(size, off+format.MinChunkSize-7000); i++ {
			raw[i] = byte(r.IntN(8))
		}
	}
	return raw
}

func publish(t *testing.T, dir string, raw []byte) *format.Manifest {
	t.Helper()
	enc, err := format.NewEncoder(zstd.SpeedFastest, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var out bytes.Buffer
	aw, err := format.NewArchiveWriter(&out, int64(len(raw)), format.MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	for i := range aw.Chunks() {
		c := raw[int64(i)*format.MinChunkSize:][:aw.RawSize(i)]
		if err := aw.Append(enc.Encode(nil, c), c); err != nil {
			t.Fatal(err)
		}
	}
	m, err := aw.Finish(format.Meta{Name: "img", Created: time.Unix(1, 0), Builder: format.Builder{Tool: "bmap_test"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, m.Archive.File), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return m
}

type xmlBmap struct {
	Version     string `xml:"version,attr"`
	ImageSize   int64  `xml:"ImageSize"`
	BlockSize   int64  `xml:"BlockSize"`
	BlocksCount int64  `xml:"BlocksCount"`
	Mapped      int64  `xml:"MappedBlocksCount"`
	Type        string `xml:"ChecksumType"`
	Sum         string `xml:"BmapFileChecksum"`
	Ranges      []struct {
		Sum  string `xml:"chksum,attr"`
		Text string `xml:",chardata"`
	} `xml:"BlockMap>Range"`
}

func TestMarshal(t *testing.T) {
	raw := image(7*format.MinChunkSize + 1000)
	m := publish(t, t.TempDir(), raw)
	b, err := FromManifest(m).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var x xmlBmap
	if err := xml.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	blocks := (int64(len(raw)) + 4095) / 4096
	if x.Version != "2.0" || x.ImageSize != int64(len(raw)) || x.BlockSize != 4096 || x.BlocksCount != blocks || strings.TrimSpace(x.Type) != "sha256" {
		t.Fatalf("header %+v", x)
	}
	// The file checksum is computed with its own value replaced by zeros.
	sum := strings.TrimSpace(x.Sum)
	zeroed := bytes.Replace(b, []byte(sum), []byte(checksumPlaceholder), 1)
	if h := sha256.Sum256(zeroed); hex.EncodeToString(h[:]) != sum {
		t.Fatalf("BmapFileChecksum %s, want %x", sum, h)
	}
	// Each range is a data chunk and its checksum is over its bytes.
	if len(x.Ranges) != m.Image.DataChunks {
		t.Fatalf("%d ranges, %d data chunks", len(x.Ranges), m.Image.DataChunks)
	}
	var mapped int64
	for i, r := range x.Ranges {
		var first, last int64
		parts := strings.Split(strings.TrimSpace(r.Text), "-")
		first, last = atoi(t, parts[0]), atoi(t, parts[len(parts)-1])
		mapped += last - first + 1
		end := min((last+1)*4096, int64(len(raw)))
		if h := sha256.Sum256(raw[first*4096 : end]); hex.EncodeToString(h[:]) != r.Sum {
			t.Fatalf("range %d (%d-%d): checksum %s is not of its bytes", i, first, last, r.Sum)
		}
	}
	if mapped != x.Mapped {
		t.Fatalf("MappedBlocksCount %d, ranges hold %d", x.Mapped, mapped)
	}
	if _, err := (&Map{ImageSize: 4096, BlockSize: 4096, Ranges: []Range{{First: 0, Last: 1}}}).Marshal(); err == nil {
		t.Fatal("range past the image accepted")
	}
}

func atoi(t *testing.T, s string) int64 {
	var n int64
	for _, c := range strings.TrimSpace(s) {
		if c < '0' || c > '9' {
			t.Fatalf("bad block number %q", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// The real bmaptool copies our .img.zst with our .bmap into a file
// identical to the raw image, and refuses an archive whose data changed.
func TestBmaptoolCopy(t *testing.T) {
	bmaptool := tooltest.Path(t, "bmaptool")
	tooltest.Path(t, "zstd") // bmaptool decompresses .zst through it
	dir := t.TempDir()
	raw := image(9*format.MinChunkSize + 3000)
	m := publish(t, dir, raw)
	b, err := FromManifest(m).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bmapPath := filepath.Join(dir, "img.bmap")
	if err := os.WriteFile(bmapPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "disk.img")
	out, err := exec.Command(bmaptool, "copy", "--bmap", bmapPath, filepath.Join(dir, m.Archive.File), dst).CombinedOutput()
	if err != nil {
		t.Fatalf("bmaptool copy: %v\n%s", err, out)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, raw) {
		t.Fatalf("bmaptool wrote an image that differs from the raw one (%d vs %d bytes)\n%s", len(got), len(raw), out)
	}

	// A chunk whose bytes no longer match its range checksum: build an
	// archive from different data but keep the old bmap.
	raw2 := bytes.Clone(raw)
	raw2[5] ^= 1
	dir2 := t.TempDir()
	m2 := publish(t, dir2, raw2)
	out, err = exec.Command(bmaptool, "copy", "--bmap", bmapPath, filepath.Join(dir2, m2.Archive.File), filepath.Join(dir2, "disk.img")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "checksum mismatch") {
		t.Fatalf("bmaptool accepted changed data: %v\n%s", err, out)
	}
}
