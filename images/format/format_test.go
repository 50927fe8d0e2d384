package format

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

var update = flag.Bool("update", false, "rewrite testdata files")

// synthImage makes a deterministic image shaped like a disk: text-like
// runs, random runs and zero runs, each a few KiB to a few chunks long.
func synthImage(size int64, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, size)
	words := []string{"vmkernel ", "bootbank ", "esx.conf ", "/etc/vmware ", "VMFS-L ", "0x1BADB005 "}
	for off := int64(0); off < size; {
		n := min(size-off, int64(4096*(1+r.IntN(80))))
		switch r.IntN(3) {
		case 0: // zeros
		case 1:
			for p := off; p < off+n; {
				w := words[r.IntN(len(words))]
				p += int64(copy(b[p:off+n], w))
			}
		case 2:
			for p := off; p < off+n; p += 8 {
				var w [8]byte
				binary.LittleEndian.PutUint64(w[:], r.Uint64())
				copy(b[p:off+n], w[:])
			}
		}
		off += n
	}
	return b
}

var testMeta = Meta{
	Name:    "esxi-8.0u3-test",
	Created: time.Date(2026, 11, 25, 1, 2, 3, 0, time.UTC),
	ESXi:    ESXi{Version: "8.0.3", Build: "24022510"},
	Agent:   Agent{Version: "0.1.0"},
	Builder: Builder{Tool: "format_test", Version: "0", Labels: map[string]string{"packer_build_name": "golden"}},
}

// buildArchive compresses raw sequentially, the reference against which
// the parallel publisher is tested.
func buildArchive(t testing.TB, raw []byte, chunk int64) ([]byte, *Manifest) {
	t.Helper()
	enc, err := NewEncoder(SpeedDefaultForTest, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var out bytes.Buffer
	aw, err := NewArchiveWriter(&out, int64(len(raw)), chunk)
	if err != nil {
		t.Fatal(err)
	}
	for i := range aw.Chunks() {
		c := raw[int64(i)*chunk : int64(i)*chunk+aw.RawSize(i)]
		if err := aw.Append(enc.Encode(nil, c), c); err != nil {
			t.Fatal(err)
		}
	}
	m, err := aw.Finish(testMeta)
	if err != nil {
		t.Fatal(err)
	}
	return out.Bytes(), m
}

var imageCases = []struct {
	name  string
	size  int64
	chunk int64
	zero  bool
}{
	{"one short chunk", 5000, MinChunkSize, false},
	{"exact chunks", 8 * MinChunkSize, MinChunkSize, false},
	{"tail chunk", 5*MinChunkSize + 12345, MinChunkSize, false},
	{"all zero", 3*MinChunkSize + 512, MinChunkSize, true},
	{"bigger chunks", 3<<20 + 4096, 1 << 20, false},
}

func TestArchiveRoundTrip(t *testing.T) {
	zstdBin := tooltest.Path(t, "zstd")
	for k, tc := range imageCases {
		t.Run(tc.name, func(t *testing.T) {
			raw := synthImage(tc.size, uint64(k))
			if tc.zero {
				raw = make([]byte, tc.size)
			}
			zst, m := buildArchive(t, raw, tc.chunk)

			// The stock zstd decodes the whole archive, seek table and all.
			dir := t.TempDir()
			p := filepath.Join(dir, m.Archive.File)
			if err := os.WriteFile(p, zst, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(zstdBin, "-d", "-c", "-q", p)
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("zstd -d: %v", err)
			}
			if !bytes.Equal(got, raw) {
				t.Fatalf("zstd -d output differs from the raw image (%d vs %d bytes)", len(got), len(raw))
			}

			// Manifest facts.
			if m.Archive.Size != int64(len(zst)) || m.Image.Size != tc.size {
				t.Fatalf("sizes: archive %d (file %d), image %d", m.Archive.Size, len(zst), m.Image.Size)
			}
			zeros := 0
			for i := range m.Chunks {
				s := m.Span(i)
				if s.Zero != IsZero(raw[s.RawOffset:s.RawOffset+s.RawSize]) {
					t.Fatalf("chunk %d: zero flag %v is wrong", i, s.Zero)
				}
				if s.Zero {
					zeros++
					if s.Length > 200 {
						t.Fatalf("zero chunk %d is a %d-byte frame; want a tiny one", i, s.Length)
					}
				}
			}
			if zeros+m.Image.DataChunks != len(m.Chunks) {
				t.Fatalf("data_chunks %d + zero %d != %d", m.Image.DataChunks, zeros, len(m.Chunks))
			}

			// Seek table read back from the end of the file agrees.
			st, off, err := ReadSeekTable(bytes.NewReader(zst), int64(len(zst)))
			if err != nil {
				t.Fatal(err)
			}
			if off != m.Archive.SeekTable.Offset || !st.Checksums {
				t.Fatalf("seek table at %d (checksums %v), manifest says %d", off, st.Checksums, m.Archive.SeekTable.Offset)
			}
			if err := m.CheckSeekTable(st); err != nil {
				t.Fatal(err)
			}
			if err := Verify(context.Background(), bytes.NewReader(zst), int64(len(zst)), m, 3); err != nil {
				t.Fatal(err)
			}

			// Every chunk decodes on its own.
			dec, err := NewDecoder(m.Image.ChunkSize, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			for _, s := range m.Spans() {
				out, err := DecodeChunk(dec, s, zst[s.Offset:s.Offset+s.Length], nil)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out, raw[s.RawOffset:s.RawOffset+s.RawSize]) {
					t.Fatalf("chunk %d decodes to other bytes", s.Index)
				}
			}

			// The manifest survives its own encoding.
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			m2, err := ParseManifest(b)
			if err != nil {
				t.Fatal(err)
			}
			b2, _ := m2.Marshal()
			if !bytes.Equal(b, b2) {
				t.Fatal("manifest changed after a parse/marshal round trip")
			}
		})
	}
}

// The seek table bytes, spelled out from the spec (facebook/zstd
// contrib/seekable_format), for two frames with checksums.
func TestSeekTableLayout(t *testing.T) {
	tab := SeekTable{Checksums: true, Entries: []SeekEntry{{10, 4096, 0xAABBCCDD}, {20, 100, 1}}}
	got, err := tab.AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{
		0x5E, 0x2A, 0x4D, 0x18, // Skippable_Magic_Number 0x184D2A5E
		33, 0, 0, 0, // Frame_Size: 2*12 + 9
		10, 0, 0, 0, 0x00, 0x10, 0, 0, 0xDD, 0xCC, 0xBB, 0xAA, // entry 0
		20, 0, 0, 0, 100, 0, 0, 0, 1, 0, 0, 0, // entry 1
		2, 0, 0, 0, // Number_Of_Frames
		0x80,                   // Seek_Table_Descriptor: Checksum_Flag
		0xB1, 0xEA, 0x92, 0x8F, // Seekable_Magic_Number 0x8F92EAB1
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("seek table\n got %x\nwant %x", got, want)
	}
	if int64(len(got)) != tab.FrameSize() {
		t.Fatalf("FrameSize %d, encoded %d", tab.FrameSize(), len(got))
	}
	back, err := ParseSeekTable(got)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(back) != fmt.Sprint(&tab) {
		t.Fatalf("parsed %v, want %v", back, tab)
	}
	// Without checksums the entries are 8 bytes and the flag is clear.
	tab.Checksums = false
	got, _ = tab.AppendBinary(nil)
	if len(got) != 8+2*8+9 || got[len(got)-5] != 0 {
		t.Fatalf("no-checksum table %x", got)
	}
	if _, err := ParseSeekTable(got); err != nil {
		t.Fatal(err)
	}
}

// Truncated or damaged archives are refused, and the message names what
// is wrong: the seek table field, or the chunk.
func TestTamperedArchive(t *testing.T) {
	raw := synthImage(6*MinChunkSize+777, 42)
	copy(raw[2*MinChunkSize:3*MinChunkSize], make([]byte, MinChunkSize)) // chunk 2 is zero
	zst, m := buildArchive(t, raw, MinChunkSize)
	if !m.Chunks[2].Zero || m.Chunks[1].Zero {
		t.Fatal("test image: want chunk 2 zero and chunk 1 data")
	}
	data1 := m.Span(1)
	zero2 := m.Span(2)
	flip := func(off int64) []byte { b := bytes.Clone(zst); b[off] ^= 0x40; return b }
	for _, tc := range []struct {
		name    string
		archive []byte
		wantErr error
		wantMsg string
	}{
		{"truncated by one byte", zst[:len(zst)-1], ErrArchive, "archive.size"},
		{"truncated to half", zst[:len(zst)/2], ErrArchive, "archive.size"},
		{"padded", append(bytes.Clone(zst), 0), ErrArchive, "archive.size"},
		{"data frame byte flipped", flip(data1.Offset + data1.Length/2), ErrChunk, "chunk 1 "},
		{"zero frame byte flipped", flip(zero2.Offset + zero2.Length - 6), ErrChunk, "chunk 2 "},
		{"seek table entry flipped", flip(m.Archive.SeekTable.Offset + 8 + 12*3), ErrSeekTable, "chunk 3"},
		{"seek table magic flipped", flip(int64(len(zst)) - 1), ErrSeekTable, "footer magic"},
		{"seek table checksum flipped", flip(m.Archive.SeekTable.Offset + 8 + 12*4 + 8), ErrChunk, "chunk 4: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(context.Background(), bytes.NewReader(tc.archive), int64(len(tc.archive)), m, 2)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Verify: %v\nwant %v mentioning %q", err, tc.wantErr, tc.wantMsg)
			}
		})
	}

	// A truncated file alone (no manifest) is refused by ReadSeekTable.
	for _, n := range []int{1, 9, 100, len(zst) - 20} {
		cut := zst[:len(zst)-n]
		if _, _, err := ReadSeekTable(bytes.NewReader(cut), int64(len(cut))); !errors.Is(err, ErrSeekTable) {
			t.Fatalf("ReadSeekTable on an archive cut by %d bytes: %v", n, err)
		}
	}
	// A frame removed from the middle: the table no longer adds up.
	cut := append(bytes.Clone(zst[:data1.Offset]), zst[data1.Offset+data1.Length:]...)
	if _, _, err := ReadSeekTable(bytes.NewReader(cut), int64(len(cut))); !errors.Is(err, ErrSeekTable) || !strings.Contains(err.Error(), "truncated or padded") {
		t.Fatalf("ReadSeekTable with a frame removed: %v", err)
	}
}

func validManifest(t testing.TB) *Manifest {
	t.Helper()
	raw := make([]byte, 4*MinChunkSize+100)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range raw {
		raw[i] = byte(r.IntN(16))
	}
	clear(raw[2*MinChunkSize : 3*MinChunkSize])
	_, m := buildArchive(t, raw, MinChunkSize)
	if !m.Chunks[2].Zero || m.Image.DataChunks != 4 {
		t.Fatal("want chunk 2 zero, the others data")
	}
	return m
}

// Every manifest field the reader depends on is checked, and the error
// names the field.
func TestManifestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(m *Manifest)
		field  string
	}{
		{"kind", func(m *Manifest) { m.Kind = "other" }, "kind"},
		{"version", func(m *Manifest) { m.Version = 2 }, "version 2"},
		{"name with slash", func(m *Manifest) { m.Name = "../x" }, "name"},
		{"no created", func(m *Manifest) { m.Created = time.Time{} }, "created"},
		{"size zero", func(m *Manifest) { m.Image.Size = 0 }, "image.size"},
		{"chunk size unaligned", func(m *Manifest) { m.Image.ChunkSize = MinChunkSize + 1 }, "image.chunk_size"},
		{"chunk size huge", func(m *Manifest) { m.Image.ChunkSize = 2 << 30 }, "image.chunk_size"},
		{"image digest", func(m *Manifest) { m.Image.SHA256 = Digest{} }, "image.sha256"},
		{"too few chunks", func(m *Manifest) { m.Chunks = m.Chunks[:3] }, "chunks"},
		{"size vs chunks", func(m *Manifest) { m.Image.Size += MinChunkSize }, "chunks"},
		{"archive file", func(m *Manifest) { m.Archive.File = "x.img.zst" }, "archive.file"},
		{"compression", func(m *Manifest) { m.Archive.Compression = "gzip" }, "archive.compression"},
		{"archive digest", func(m *Manifest) { m.Archive.SHA256 = Digest{} }, "archive.sha256"},
		{"gap between chunks", func(m *Manifest) { m.Chunks[3].Offset++ }, "chunks[3].offset"},
		{"chunk length", func(m *Manifest) { m.Chunks[1].Length = 0 }, "chunks[1].length"},
		{"zero chunk with digest", func(m *Manifest) { m.Chunks[2].SHA256 = m.Chunks[1].SHA256 }, "chunks[2].sha256"},
		{"data chunk without digest", func(m *Manifest) { m.Chunks[0].SHA256 = Digest{} }, "chunks[0].sha256"},
		{"data count", func(m *Manifest) { m.Image.DataChunks = 9 }, "image.data_chunks"},
		{"seek table offset", func(m *Manifest) { m.Archive.SeekTable.Offset-- }, "archive.seek_table"},
		{"archive size", func(m *Manifest) { m.Archive.Size++ }, "archive.size"},
		{"control char", func(m *Manifest) { m.ESXi.Build = "1\x1b[2J" }, "esxi.build"},
		{"label", func(m *Manifest) { m.Builder.Labels["x"] = strings.Repeat("y", 300) }, "builder.labels.x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := validManifest(t)
			if err := m.Validate(); err != nil {
				t.Fatalf("valid manifest: %v", err)
			}
			tc.mutate(m)
			err := m.Validate()
			if !errors.Is(err, ErrManifest) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate: %v\nwant ErrManifest naming %q", err, tc.field)
			}
			b, jerr := json.Marshal(m)
			if jerr != nil {
				t.Fatal(jerr)
			}
			if _, perr := ParseManifest(b); perr == nil {
				t.Fatal("ParseManifest accepted it")
			}
			if *update {
				name := strings.ReplaceAll(tc.name, " ", "-")
				if err := os.WriteFile(filepath.Join("testdata", "invalid-"+name+".manifest.json"), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestParseManifestErrors(t *testing.T) {
	m := validManifest(t)
	good, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/valid.manifest.json", good, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name, doc string
		want      error
		msg       string
	}{
		{"syntax", "{\n\"kind\": \"esxi-golden-image\",\n\"version\": 1,,\n}", ErrManifest, "line 3"},
		{"future version", `{"kind":"esxi-golden-image","version":7,"chunks":"new shape"}`, ErrUnsupportedVersion, "version 7"},
		{"other document", `{"builds":[]}`, ErrManifest, "kind"},
		{"bad digest", strings.Replace(string(good), m.Image.SHA256.String(), "XYZ", 1), ErrManifest, "sha256"},
		{"short digest", strings.Replace(string(good), m.Image.SHA256.String(), "abcd", 1), ErrManifest, "sha256"},
		{"string size", strings.Replace(string(good), fmt.Sprintf(`"size": %d`, m.Image.Size), `"size": "big"`, 1), ErrManifest, "size"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest([]byte(tc.doc))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("ParseManifest: %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
	// Unknown fields are ignored, so a v1 reader reads a v1 manifest with
	// optional additions.
	extended := strings.Replace(string(good), `"kind"`, `"future_field": {"a": 1}, "kind"`, 1)
	if _, err := ParseManifest([]byte(extended)); err != nil {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestTestdataManifests(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.manifest.json")
	if len(files) < 10 {
		t.Fatalf("%d testdata manifests; run go test -run Manifest -update", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseManifest(b)
		if valid := strings.HasPrefix(filepath.Base(f), "valid"); valid != (err == nil) {
			t.Errorf("%s: ParseManifest error %v", f, err)
		}
	}
}
