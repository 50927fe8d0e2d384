package writer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer/fetch"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/gptfix"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

var (
	imgOnce sync.Once
	imgData []byte
	imgErr  error
)

// testImage is a 12 MiB ESXi-shaped disk: a real GPT made by sgdisk, a
// random "bootloader" partition, text-like bootbanks, and long zero runs
// (an empty bootbank, unused OSDATA) — the mix that decides speed.
func testImage(t testing.TB) []byte {
	t.Helper()
	tooltest.Path(t, "sgdisk")
	imgOnce.Do(func() {
		dir, err := os.MkdirTemp("", "writer-img")
		if err != nil {
			imgErr = err
			return
		}
		defer os.RemoveAll(dir)
		p := filepath.Join(dir, "disk.raw")
		const size = 12<<20 + 12288 // not a multiple of the 4 MiB chunk
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			imgErr = err
			return
		}
		if err := os.Truncate(p, size); err != nil {
			imgErr = err
			return
		}
		out, err := exec.Command("sgdisk", "-n", "1:2048:+2M", "-t", "1:ef00", "-n", "5:0:+2M", "-t", "5:0700",
			"-n", "6:0:+2M", "-t", "6:0700", "-n", "7:0:0", "-t", "7:0700", p).CombinedOutput()
		if err != nil {
			imgErr = errors.New(string(out))
			return
		}
		b, err := os.ReadFile(p)
		if err != nil {
			imgErr = err
			return
		}
		r := rand.New(rand.NewPCG(1, 2))
		for i := 1 << 20; i < 3<<20; i++ { // partition 1: incompressible
			b[i] = byte(r.Uint32())
		}
		text := []byte("kernelopt=autoPartition=FALSE\nmodules=b.b00 --- jumpstrt.gz --- useropts.gz\n")
		for i := 3 << 20; i < 5<<20; i += len(text) { // partition 5: text
			copy(b[i:min(i+len(text), 5<<20)], text)
		}
		for i := 9 << 20; i < 9<<20+4096; i++ { // a little data in 7
			b[i] = byte(i)
		}
		imgData = b
	})
	if imgErr != nil {
		t.Fatalf("make test image: %v", imgErr)
	}
	return bytes.Clone(imgData)
}

// compress runs the real tool (zstd, gzip, xz, bzip2) over data.
func compressWith(t testing.TB, tool string, data []byte) []byte {
	t.Helper()
	tooltest.Path(t, tool)
	args := map[string][]string{"zstd": {"-q", "-c", "-3"}, "gzip": {"-c"}, "xz": {"-c", "-0", "-T1"}, "bzip2": {"-c"}}[tool]
	cmd := exec.Command(tool, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", tool, err)
	}
	return out
}

// chunked encodes data as independent zstd frames of chunk bytes and
// returns the file and the plan. (The published format adds a seek table
// and a signed manifest; the fast-path engine only needs the chunk list.)
func chunked(t testing.TB, data []byte, chunk int) ([]byte, *Plan) {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var file []byte
	p := &Plan{ImageSize: int64(len(data))}
	for off := 0; off < len(data); off += chunk {
		raw := data[off:min(off+chunk, len(data))]
		c := Chunk{Offset: int64(off), Size: int64(len(raw)), SHA256: sha256.Sum256(raw), Zero: allZero(raw)}
		if !c.Zero {
			c.CompOffset = int64(len(file))
			file = enc.EncodeAll(raw, file)
			c.CompSize = int64(len(file)) - c.CompOffset
		}
		p.Chunks = append(p.Chunks, c)
	}
	return file, p
}

// chunkedAll frames every chunk, zero ones included, with a trailing
// 16-byte skippable frame standing in for a seek table.
func chunkedAll(t testing.TB, data []byte, chunk int) ([]byte, *Plan) {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	var file []byte
	p := &Plan{ImageSize: int64(len(data))}
	for off := 0; off < len(data); off += chunk {
		raw := data[off:min(off+chunk, len(data))]
		c := Chunk{Offset: int64(off), Size: int64(len(raw)), CompOffset: int64(len(file))}
		file = enc.EncodeAll(raw, file)
		c.CompSize = int64(len(file)) - c.CompOffset
		p.Chunks = append(p.Chunks, c)
	}
	file = append(file, 0x5e, 0x2a, 0x4d, 0x18, 8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8)
	return file, p
}

// checkOutcome asserts the contract: success means a byte-identical
// target; failure means an error naming its kind and either a target
// whose first MiB holds no valid GPT or, for failures found before the
// first write (bad arguments, signature, unreachable source), the target
// exactly as it was (prior; nil = did not exist).
func checkOutcome(t testing.TB, disk string, want []byte, err error) {
	t.Helper()
	checkOutcomeFrom(t, disk, nil, want, err)
}

func checkOutcomeFrom(t testing.TB, disk string, prior, want []byte, err error) {
	t.Helper()
	got, rerr := os.ReadFile(disk)
	if err == nil {
		if rerr != nil {
			t.Fatalf("read target: %v", rerr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("write reported success but target differs (len %d vs %d, first diff at %d)", len(got), len(want), firstDiff(got, want))
		}
		return
	}
	if ExitCode(err) == 0 {
		t.Fatalf("error %v maps to exit 0", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "source: ") && !strings.HasPrefix(msg, "verify: ") && !strings.HasPrefix(msg, "target: ") && !strings.HasPrefix(msg, "usage: ") {
		t.Fatalf("error does not name its cause: %q", msg)
	}
	if prior != nil && bytes.Equal(got, prior) {
		return // untouched: failed before the first write
	}
	if _, perr := gptfix.Parse(got[:min(len(got), HeaderSize)], 512); perr == nil {
		t.Fatalf("write failed (%v) but the target's first MiB holds a valid GPT", err)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// fastFetch keeps retries quick in tests.
func fastFetch() fetch.Options {
	return fetch.Options{Stall: 300 * time.Millisecond, BackoffMin: time.Millisecond, BackoffMax: 20 * time.Millisecond}
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
