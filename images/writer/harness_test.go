package writer

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer/decompress"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/faultserve"
)

var (
	faultRuns = flag.Int("fault-runs", 6, "randomized fault runs (make fuzz runs 200)")
	faultSeed = flag.Uint64("fault-seed", 0, "first seed of the randomized fault runs (0: from the clock, printed)")
)

// smallTmpfs mounts a tmpfs of size bytes: a target on it fails with a
// real ENOSPC from the kernel part-way through the image.
func smallTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Fatalf("mount a small tmpfs for the write-error runs (needs root): %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, 0) })
	return dir
}

// TestRandomFaultRuns writes the test image through random combinations
// of network faults, corrupted content and failing targets, and checks the
// contract after each: byte-identical target and success, or an error
// naming its cause and a target without a valid GPT. Recoverable faults
// alone must end in success.
func TestRandomFaultRuns(t *testing.T) {
	img := testImage(t)
	zst := compressWith(t, "zstd", img)
	gz := compressWith(t, "gzip", img)
	fast, plan := chunked(t, img, 1<<20)
	pub := publishFormat(t, img, 1<<20)
	seed := *faultSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("fault runs: %d, first seed %d (rerun one with -fault-seed N -fault-runs 1)", *faultRuns, seed)
	stats := map[string]int{}
	for i := range *faultRuns {
		s := seed + uint64(i)
		outcome := faultRun(t, s, img, zst, gz, fast, plan, pub)
		stats[outcome]++
	}
	t.Logf("outcomes: %v", stats)
}

func faultRun(t *testing.T, seed uint64, img, zst, gz, fast []byte, plan *Plan, pub published) string {
	r := rand.New(rand.NewPCG(seed, 42))
	var (
		data  []byte
		req   = Request{Fetch: fastFetch(), Restarts: 3}
		kind  string
		clean = true
	)
	signed := false
	switch r.IntN(6) {
	case 4, 5:
		kind, data, signed = "signed", pub.archive, true
	case 0:
		kind, data = "stream-zst", zst
	case 1:
		kind, data = "stream-gz", gz
	case 2:
		kind, data, req.Compression = "stream-raw", img, decompress.Never
	default:
		kind, data, req.Plan = "fast", fast, plan
	}
	original := data
	data = append([]byte(nil), data...)
	switch x := r.Float64(); {
	case x < 0.12:
		data = data[:r.IntN(len(data))]
		kind += "+truncated"
		clean = false
	case x < 0.24:
		data[r.IntN(len(data))] ^= byte(1 + r.IntN(255))
		kind += "+flipped"
		clean = false
	}
	manifest := pub.manifest
	if signed && r.IntN(8) == 0 {
		manifest = bytes.Clone(manifest)
		manifest[r.IntN(len(manifest))] ^= byte(1 + r.IntN(255))
		kind += "+tampered-manifest"
		clean = false
	}
	if req.Plan == nil && !signed && (!clean || r.IntN(2) == 0) {
		req.SHA256 = sha256hex(original)
	}
	f := faultserve.Faults{
		Cut: r.Float64() * 0.6, Short: r.Float64() * 0.2, Rate503: r.Float64() * 0.3,
		Burst503: r.IntN(4), IgnoreRange: r.IntN(5) == 0,
	}
	if r.IntN(4) == 0 {
		f.Stall = 0.2
	}
	if r.IntN(5) == 0 {
		f.ChangeAfter = 1 + r.IntN(6)
	}
	req.Fetch.MaxAttempts = 100
	disk := filepath.Join(t.TempDir(), "disk")
	if r.IntN(8) == 0 {
		disk = filepath.Join(smallTmpfs(t, (1+r.IntN(6))<<20), "disk")
		kind += "+enospc"
		clean = false
	}
	var prior []byte
	if r.IntN(3) == 0 {
		// A target holding an old install: after a failure it is either
		// untouched or left without a partition table.
		if err := os.WriteFile(disk, img, 0o644); err != nil && !errors.Is(err, unix.ENOSPC) {
			t.Fatal(err)
		}
		prior, _ = os.ReadFile(disk)
	}
	srv := faultserve.New(seed)
	defer srv.Close()
	req.Image = srv.Add("/image", data, f)
	req.Disk = disk
	var err error
	if signed {
		srv.Add("/esxi-test.img.zst", data, f)
		srv.Add("/esxi-test.manifest.json.minisig", pub.sig, faultserve.Faults{Cut: f.Cut, Rate503: f.Rate503})
		murl := srv.Add("/esxi-test.manifest.json", manifest, faultserve.Faults{Cut: f.Cut, Rate503: f.Rate503})
		var sm *Signed
		if sm, err = LoadSigned(testCtx(t), murl, "", pub.pub, req.Fetch); err == nil {
			req.Image, req.Plan = sm.Image, sm.Plan
		}
	}
	if err == nil {
		_, err = Write(testCtx(t), req)
	}
	label := fmt.Sprintf("seed %d (%s, faults %+v)", seed, kind, f)
	t.Run(fmt.Sprint(seed), func(t *testing.T) {
		checkOutcomeFrom(t, disk, prior, img, err)
		if clean && err != nil {
			t.Fatalf("%s: recoverable faults only, yet the write failed: %v", label, err)
		}
	})
	if err != nil {
		return fmt.Sprintf("exit %d", ExitCode(err))
	}
	return "ok"
}
