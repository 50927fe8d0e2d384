package publish

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/images/format"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
	"github.com/esxi-golden/packer-plugin-esxi/internal/version"
)

const testChunk = 256 << 10

// sparseImage writes a sparse raw image: data at a few places, one chunk
// of explicitly written zeros (allocated, not a hole), holes elsewhere,
// and a tail that ends inside a 4 KiB block.
func sparseImage(t testing.TB, dir string) (string, []byte) {
	t.Helper()
	size := int64(40*testChunk + 3000)
	want := make([]byte, size)
	r := rand.New(rand.NewPCG(5, 6))
	fill := func(off, n int64) {
		for i := off; i < off+n; i++ {
			want[i] = "ESXi vmkernel bootbank "[r.IntN(23)]
		}
	}
	fill(0, 3*testChunk+100)      // chunks 0-3 (3 ends inside)
	fill(10*testChunk+4096, 8192) // chunk 10, a little
	fill(39*testChunk, testChunk) // chunk 39
	fill(40*testChunk, 3000)      // the short tail chunk
	p := filepath.Join(dir, "raw.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, ext := range [][2]int64{{0, 3*testChunk + 100}, {10*testChunk + 4096, 8192}, {39 * testChunk, testChunk + 3000}} {
		if _, err := f.WriteAt(want[ext[0]:ext[0]+ext[1]], ext[0]); err != nil {
			t.Fatal(err)
		}
	}
	// Chunk 20 holds written zeros: allocated, but a zero chunk.
	if _, err := f.WriteAt(make([]byte, testChunk), 20*testChunk); err != nil {
		t.Fatal(err)
	}
	return p, want
}

var (
	writerOnce sync.Once
	writerPath string
	writerErr  error
)

// testWriter builds a static linux/amd64 esxi-writer. When this module has
// cmd/esxi-writer it builds that; until then it builds a stand-in with the
// same package path that prints the same --version line, so the identity
// and version checks are exercised either way.
func testWriter(t testing.TB) string {
	t.Helper()
	writerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "esxi-writer-")
		if err != nil {
			writerErr = err
			return
		}
		writerPath = filepath.Join(dir, WriterName)
		ldflags := "-X github.com/esxi-golden/packer-plugin-esxi/internal/version.VersionPrerelease=" + version.VersionPrerelease
		root, _ := filepath.Abs("../..")
		pkg := "./cmd/esxi-writer"
		if _, err := os.Stat(filepath.Join(root, "cmd/esxi-writer/main.go")); err != nil {
			root = filepath.Join(dir, "src")
			if err := os.MkdirAll(filepath.Join(root, "cmd/esxi-writer"), 0o755); err != nil {
				writerErr = err
				return
			}
			os.WriteFile(filepath.Join(root, "go.mod"), []byte("module github.com/esxi-golden/packer-plugin-esxi\n\ngo 1.24\n"), 0o644)
			os.WriteFile(filepath.Join(root, "cmd/esxi-writer/main.go"), []byte(`package main

import ("fmt"; "os")

var v string

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" {
		fmt.Println("esxi-writer version " + v)
		return
	}
	os.Exit(2)
}
`), 0o644)
			ldflags = "-X main.v=" + version.String()
		}
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", writerPath, pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			writerErr = errors.New(string(out))
		}
	})
	if writerErr != nil {
		t.Fatalf("build esxi-writer: %v", writerErr)
	}
	return writerPath
}

func testSigner(t testing.TB) *sign.Signer {
	t.Helper()
	s, err := sign.Load(sign.KeySource{File: "../sign/testdata/test.key"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPublish(t *testing.T) {
	for _, tool := range []string{"zstd", "bmaptool", "minisign", "sha256sum"} {
		tooltest.Path(t, tool)
	}
	dir := t.TempDir()
	rawPath, want := sparseImage(t, dir)
	out := filepath.Join(dir, "out")
	var last Progress
	calls := 0
	res, err := Publish(context.Background(), rawPath, out, Options{
		Name: "esxi-test", ChunkSize: testChunk, Workers: 3,
		Signer: testSigner(t), Writer: testWriter(t),
		ESXi:   format.ESXi{Version: "8.0.3", Build: "24022510"},
		Labels: map[string]string{"packer_build_name": "golden"},
		Progress: func(p Progress) {
			if p.Chunk != last.Chunk+1 || p.Raw < last.Raw {
				t.Errorf("progress went from %+v to %+v", last, p)
			}
			last = p
			calls++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if calls != len(m.Chunks) || last.Raw != int64(len(want)) || last.Compressed+m.Archive.SeekTable.Length != m.Archive.Size {
		t.Fatalf("progress: %d calls, last %+v", calls, last)
	}

	// The directory holds exactly the promised files.
	entries, _ := os.ReadDir(out)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	wantNames := "SHA256SUMS SHA256SUMS.minisig esxi-test.bmap esxi-test.img.zst esxi-test.manifest.json esxi-test.manifest.json.minisig esxi-writer"
	if strings.Join(names, " ") != wantNames {
		t.Fatalf("files %v\nwant %s", names, wantNames)
	}
	if len(res.Files) != 7 {
		t.Fatalf("Result.Files %v", res.Files)
	}

	// Zero chunks: holes and written zeros; data chunks have data.
	for _, s := range m.Spans() {
		if s.Zero != format.IsZero(want[s.RawOffset:s.RawOffset+s.RawSize]) {
			t.Fatalf("chunk %d: zero=%v is wrong", s.Index, s.Zero)
		}
	}
	if !m.Chunks[20].Zero || m.Image.DataChunks != 7 {
		t.Fatalf("chunk 20 zero %v, data chunks %d (want 7)", m.Chunks[20].Zero, m.Image.DataChunks)
	}

	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = out
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, b)
		}
		return string(b)
	}
	// zstd -d gives back the raw image byte for byte.
	run("zstd", "-d", "-q", "-o", filepath.Join(dir, "zstd.img"), "esxi-test.img.zst")
	if got, _ := os.ReadFile(filepath.Join(dir, "zstd.img")); !bytes.Equal(got, want) {
		t.Fatal("zstd -d output differs from the raw image")
	}
	// bmaptool with our bmap writes an identical image.
	run("bmaptool", "copy", "--bmap", "esxi-test.bmap", "esxi-test.img.zst", filepath.Join(dir, "bmap.img"))
	if got, _ := os.ReadFile(filepath.Join(dir, "bmap.img")); !bytes.Equal(got, want) {
		t.Fatal("bmaptool copy output differs from the raw image")
	}
	// Stock tools accept the sums and signatures.
	run("sha256sum", "-c", "--strict", "SHA256SUMS")
	pub := filepath.Join(dir, "k.pub")
	os.WriteFile(pub, sign.MarshalPublicKey(testSigner(t).PublicKey()), 0o644)
	o := run("minisign", "-V", "-p", pub, "-m", "esxi-test.manifest.json")
	if !strings.Contains(o, "image_sha256:"+m.Image.SHA256.String()) {
		t.Fatalf("trusted comment: %s", o)
	}
	run("minisign", "-V", "-p", pub, "-m", "SHA256SUMS")
	// Our own reader verifies everything, and the writer is executable.
	f, _ := os.Open(res.Archive)
	defer f.Close()
	mb, _ := os.ReadFile(res.ManifestFile)
	m2, err := format.ParseManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	if err := format.Verify(context.Background(), f, m2.Archive.Size, m2, 2); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(res.Writer); st.Mode()&0o111 == 0 {
		t.Fatal("esxi-writer is not executable")
	}

	// A flipped manifest byte is rejected by minisign.
	mb[len(mb)/2] ^= 1
	os.WriteFile(res.ManifestFile, mb, 0o644)
	cmd := exec.Command("minisign", "-V", "-p", pub, "-m", res.ManifestFile)
	if b, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("minisign accepted a changed manifest: %s", b)
	}
}

func TestPublishRefuses(t *testing.T) {
	dir := t.TempDir()
	rawPath, _ := sparseImage(t, dir)
	dynamic := "/bin/sh" // any dynamically linked ELF
	notELF := filepath.Join(dir, "script")
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	base := Options{Name: "x", ChunkSize: testChunk, Signer: testSigner(t), NoWriter: true}
	for _, tc := range []struct {
		name string
		raw  string
		edit func(o *Options)
		want error
		msg  string
	}{
		{"bad name", rawPath, func(o *Options) { o.Name = "../x" }, nil, "name"},
		{"bad chunk size", rawPath, func(o *Options) { o.ChunkSize = 5000 }, nil, "chunk size"},
		{"unsigned", rawPath, func(o *Options) { o.Signer = nil }, ErrUnsigned, ""},
		{"no writer", rawPath, func(o *Options) { o.NoWriter = false }, ErrWriter, "no esxi-writer"},
		{"dynamic writer", rawPath, func(o *Options) { o.Writer = dynamic }, ErrWriter, "dynamically linked"},
		{"script writer", rawPath, func(o *Options) { o.Writer = notELF }, ErrWriter, "not an ELF"},
		{"missing raw", filepath.Join(dir, "nope.img"), func(o *Options) {}, os.ErrNotExist, "raw image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.edit(&o)
			out := filepath.Join(t.TempDir(), "out")
			_, err := Publish(context.Background(), tc.raw, out, o)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Publish: %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Fatalf("failed publish left %v", ents)
			}
		})
	}

	// A Go binary built from another package is not our writer.
	t.Run("foreign writer", func(t *testing.T) {
		o := base
		o.NoWriter, o.Writer = false, testForeignBinary(t)
		_, err := Publish(context.Background(), rawPath, t.TempDir(), o)
		if !errors.Is(err, ErrWriter) || !strings.Contains(err.Error(), "built from") {
			t.Fatalf("Publish: %v", err)
		}
	})

	// Existing output is kept unless overwriting is asked for; an
	// overwrite without a signer removes the old signatures.
	out := filepath.Join(dir, "out")
	if _, err := Publish(context.Background(), rawPath, out, base); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(out, SumsName))
	if _, err := Publish(context.Background(), rawPath, out, base); !errors.Is(err, ErrExists) {
		t.Fatalf("second publish: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(out, SumsName))
	if !bytes.Equal(before, after) {
		t.Fatal("refused publish changed SHA256SUMS")
	}
	o := base
	o.Overwrite, o.Signer, o.Unsigned = true, nil, true
	if _, err := Publish(context.Background(), rawPath, out, o); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "SHA256SUMS x.bmap x.img.zst x.manifest.json" {
		t.Fatalf("after unsigned overwrite: %v", names)
	}

	// Cancelling mid-way leaves nothing behind.
	ctx, cancel := context.WithCancel(context.Background())
	o = base
	o.Name = "cancelled"
	o.Progress = func(p Progress) {
		if p.Chunk == 5 {
			cancel()
		}
	}
	out2 := filepath.Join(dir, "out2")
	if _, err := Publish(ctx, rawPath, out2, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled publish: %v", err)
	}
	if ents, _ = os.ReadDir(out2); len(ents) != 0 {
		t.Fatalf("cancelled publish left %v", ents)
	}
}

func testForeignBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/other\n\ngo 1.24\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644)
	p := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-o", p, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return p
}

func TestDataExtents(t *testing.T) {
	dir := t.TempDir()
	p, _ := sparseImage(t, dir)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	ext, err := dataExtents(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	var mapped int64
	for _, e := range ext {
		mapped += e.End - e.Start
	}
	// Data + the written-zero chunk, rounded to filesystem blocks; far
	// less than the 10 MiB file.
	if mapped < 5*testChunk || mapped > 8*testChunk {
		t.Fatalf("%d bytes mapped in %v", mapped, ext)
	}
	if got := overlapping(ext, 30*testChunk, 31*testChunk); len(got) != 0 {
		t.Fatalf("chunk 30 overlaps %v", got)
	}
	if got := overlapping(ext, 0, testChunk); len(got) != 1 {
		t.Fatalf("chunk 0 overlaps %v", got)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4MiB": 4 << 20, "4M": 4 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "4194304": 4194304, " 8 MiB ": 8 << 20, "4096B": 4096} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "4MB", "-1", "0", "1.5MiB", "4 TiB", "MiB", "99999999999G"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
}
