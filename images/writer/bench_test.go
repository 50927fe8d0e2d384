package writer

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/fixture"
	"github.com/esxi-golden/packer-plugin-esxi/images/publish"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/fetch"
	"github.com/esxi-golden/packer-plugin-esxi/internal/secret"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

// benchPublish publishes raw into dir with images/publish (archive,
// signed manifest, bmap) under a throw-away key.
func benchPublish(b *testing.B, raw, dir, name string) minisign.PublicKey {
	b.Helper()
	_, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	text, _ := priv.MarshalText()
	signer, err := sign.Load(sign.KeySource{Key: secret.New(string(text))})
	if err != nil {
		b.Fatal(err)
	}
	res, err := publish.Publish(context.Background(), raw, dir, publish.Options{Name: name, Signer: signer, NoWriter: true, Overwrite: true})
	if err != nil {
		b.Fatal(err)
	}
	if res.Bmap != filepath.Join(dir, name+".bmap") {
		b.Fatalf("bmap published as %s", res.Bmap)
	}
	m := res.Manifest
	b.Logf("published %s: %d chunks (%d data), archive %d bytes", name, len(m.Chunks), m.Image.DataChunks, m.Archive.Size)
	return signer.PublicKey()
}

// dropCaches makes every tool start with the archive on disk, not in RAM.
func dropCaches() {
	exec.Command("sync").Run()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}

// BenchmarkWriters is `make bench-writer`: one run of each tool over the
// same published 32 GiB ESXi-shaped image served on loopback, each target
// compared byte for byte with the raw image, then times and ratios.
func BenchmarkWriters(b *testing.B) {
	dir := os.Getenv("WRITER_BENCH_DIR")
	if dir == "" {
		b.Fatal("set WRITER_BENCH_DIR to a directory with ~40 GiB free (make bench-writer does)")
	}
	tooltest.Need(b, "zstd", "bmaptool", "curl", "dd", "losetup")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	raw := os.Getenv("WRITER_BENCH_RAW") // the shared bench disk, if made
	start := time.Now()
	// WRITER_BENCH_GIB shrinks the disk for a quick dry run (the mapped
	// data shrinks with it); the default is the research's 32 GiB.
	opts := fixture.BenchOptions{}
	size := int64(32 << 30)
	if g, err := strconv.Atoi(os.Getenv("WRITER_BENCH_GIB")); err == nil && g > 0 && g < 32 {
		size = int64(g) << 30
		opts.Size, opts.Data = size, int64(1270<<20)/32*int64(g)
	}
	if raw == "" || opts.Size != 0 {
		raw = filepath.Join(dir, "esxi.raw")
		if _, err := fixture.BenchDisk(raw, opts); err != nil {
			b.Fatal(err)
		}
		b.Logf("fixture: %d GiB ESXi-shaped disk in %.1fs", size>>30, time.Since(start).Seconds())
	} else if fi, err := os.Stat(raw); err != nil || fi.Size() != size {
		b.Fatalf("bench disk %s: %v (want %d bytes)", raw, err, size)
	}
	start = time.Now()
	pub := benchPublish(b, raw, dir, "esxi")
	b.Logf("publish: %.1fs", time.Since(start).Seconds())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.FileServer(http.Dir(dir)))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	archiveURL := srv.URL + "/esxi.img.zst"
	manifestURL := srv.URL + "/esxi.manifest.json"
	ctx := context.Background()
	sh := func(script string) error {
		out, err := exec.Command("sh", "-c", script).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", script, err, out)
		}
		return nil
	}
	ours := func(req Request) error {
		_, err := Write(ctx, req)
		return err
	}
	fast := func(target string) error {
		sm, err := LoadSigned(ctx, manifestURL, "", pub, fetchOpts())
		if err != nil {
			return err
		}
		return ours(Request{Image: sm.Image, Plan: sm.Plan, Disk: target})
	}
	var loopBacking string
	loopRun := func(direct string) func(string) error {
		return func(target string) error {
			// The loop device is created before the clock starts (in
			// prepare); the target name is its backing file.
			loopBacking = target
			dev := strings.TrimSpace(mustOut(b, "losetup", "-j", target))
			dev, _, _ = strings.Cut(dev, ":")
			sm, err := LoadSigned(ctx, manifestURL, "", pub, fetchOpts())
			if err != nil {
				return err
			}
			return ours(Request{Image: sm.Image, Plan: sm.Plan, Disk: dev, Direct: direct, NoRescan: true})
		}
	}
	loopPrepare := func(target string) {
		if err := os.WriteFile(target, nil, 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.Truncate(target, size); err != nil {
			b.Fatal(err)
		}
		mustOut(b, "losetup", "-f", "--show", target)
	}
	// Our runs take seconds on a shared 2-core machine, so each is timed
	// three times and the median reported; the peers run once.
	runs := []struct {
		name    string
		prepare func(target string)
		run     func(target string) error
		reps    int
	}{
		{"esxi-writer fast path (signed manifest, 4 conns)", nil, fast, 3},
		{"esxi-writer compat .zst (IMG_URL, seek table)", nil, func(t string) error { return ours(Request{Image: archiveURL, Disk: t, Fetch: fetchOpts()}) }, 3},
		{"esxi-writer fast path -> loop device, O_DIRECT", loopPrepare, loopRun("on"), 3},
		{"esxi-writer fast path -> loop device, buffered", loopPrepare, loopRun("off"), 3},
		{"image2disk algorithm (io.Copy, 32 KiB)", func(t string) { os.WriteFile(t, nil, 0o644) }, func(t string) error { return image2diskAlgorithm(ctx, archiveURL, t) }, 1},
		{"curl | zstd -dc | dd bs=4M", nil, func(t string) error {
			return sh(fmt.Sprintf("curl -sf %s | zstd -dc | dd of=%s bs=4M conv=fsync status=none", archiveURL, t))
		}, 1},
		{"bmaptool copy --bmap", nil, func(t string) error {
			return sh(fmt.Sprintf("bmaptool -q copy --bmap %s %s %s", filepath.Join(dir, "esxi.bmap"), archiveURL, t))
		}, 1},
	}
	times := map[string]float64{}
	for _, r := range runs {
		var secs []float64
		for range r.reps {
			target := filepath.Join(dir, "target.img")
			os.Remove(target)
			if r.prepare != nil {
				r.prepare(target)
			}
			dropCaches()
			start := time.Now()
			err := r.run(target)
			sec := time.Since(start).Seconds()
			if loopBacking != "" {
				dev, _, _ := strings.Cut(strings.TrimSpace(mustOut(b, "losetup", "-j", loopBacking)), ":")
				exec.Command("losetup", "-d", dev).Run()
				loopBacking = ""
			}
			if err != nil {
				b.Fatalf("%s: %v", r.name, err)
			}
			if err := sameContent(target, raw); err != nil {
				b.Fatalf("%s: target is not the image: %v", r.name, err)
			}
			os.Remove(target)
			secs = append(secs, sec)
		}
		slices.Sort(secs)
		sec := secs[len(secs)/2]
		times[r.name] = sec
		b.Logf("%-52s %7.2fs  (%.0f MB/s of image) runs %v, target identical", r.name, sec, float64(size)/sec/1e6, secs)
	}
	oursFast := times[runs[0].name]
	oursCompat := times[runs[1].name]
	fmt.Printf("\n%-52s %8s %10s %10s\n", fmt.Sprintf("tool (%d GiB ESXi-shaped image, loopback HTTP)", size>>30), "seconds", "x fast", "x compat")
	for _, r := range runs {
		fmt.Printf("%-52s %8.2f %10.1f %10.1f\n", r.name, times[r.name], times[r.name]/oursFast, times[r.name]/oursCompat)
	}
	i2d, bmt := times[runs[4].name], times[runs[6].name]
	fmt.Printf("\nspeed-up of the fast path: %.1fx image2disk's algorithm (goal 10x), %.1fx bmaptool (goal 2x)\n", i2d/oursFast, bmt/oursFast)
	fmt.Printf("speed-up of compat .zst:   %.1fx image2disk's algorithm, %.1fx bmaptool\n", i2d/oursCompat, bmt/oursCompat)
	fmt.Printf("O_DIRECT vs buffered on a loop device: %.2fs vs %.2fs\n", times[runs[2].name], times[runs[3].name])
	b.ReportMetric(oursFast, "fast-s")
	b.ReportMetric(i2d/oursFast, "x-image2disk")
	b.ReportMetric(bmt/oursFast, "x-bmaptool")
}

func fetchOpts() fetch.Options { return fetch.Options{} }

func mustOut(b *testing.B, name string, args ...string) string {
	b.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		b.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}
