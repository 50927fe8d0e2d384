// Command bench measures publishing a raw image against the obvious
// baseline, `zstd -T0 -3` over the same file, in one run: wall time of
// each and archive size of each, printed as ratios (make bench).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/images/publish"
	"github.com/esxi-golden/packer-plugin-esxi/images/sign"
)

func main() {
	raw := flag.String("raw", "", "raw image to publish (the 32 GiB fixture from make bench-disk)")
	work := flag.String("dir", "", "scratch directory (default: beside the image)")
	key := flag.String("key", "", "minisign key to sign with (optional)")
	chunk := flag.String("chunk-size", "4MiB", "chunk size")
	flag.Parse()
	if err := run(*raw, *work, *key, *chunk); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(raw, work, key, chunk string) error {
	st, err := os.Stat(raw)
	if err != nil {
		return err
	}
	if work == "" {
		work = filepath.Dir(raw)
	}
	work, err = os.MkdirTemp(work, "bench-publish-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	zstdBin, err := exec.LookPath("zstd")
	if err != nil {
		return fmt.Errorf("zstd not found: run make deps")
	}
	cs, err := publish.ParseSize(chunk)
	if err != nil {
		return err
	}
	o := publish.Options{Name: "bench", ChunkSize: cs, NoWriter: true, Unsigned: key == ""}
	if key != "" {
		if o.Signer, err = sign.Load(sign.KeySource{File: key}); err != nil {
			return err
		}
	}
	fmt.Printf("publish bench: %s, %.1f GiB, %d CPUs\n", raw, float64(st.Size())/(1<<30), runtime.NumCPU())

	// Read the file once so both runs start from the same page cache.
	if err := exec.Command(zstdBin, "-q", "-T0", "-1", "-c", "-o", os.DevNull, raw).Run(); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}

	zst := filepath.Join(work, "baseline.zst")
	t0 := time.Now()
	zcmd := exec.Command(zstdBin, "-q", "-T0", "-3", "-f", "-o", zst, raw)
	if out, err := zcmd.CombinedOutput(); err != nil {
		return fmt.Errorf("zstd -T0 -3: %w: %s", err, out)
	}
	zTime := time.Since(t0)
	zCPU := zcmd.ProcessState.UserTime() + zcmd.ProcessState.SystemTime()
	zs, err := os.Stat(zst)
	if err != nil {
		return err
	}
	os.Remove(zst)
	fmt.Printf("baseline   zstd -T0 -3 (zstd %s): %7.2f s, %d bytes, %.2f CPU-s\n", zstdVersion(zstdBin), zTime.Seconds(), zs.Size(), zCPU.Seconds())

	cpu0 := selfCPU()
	t0 = time.Now()
	res, err := publish.Publish(context.Background(), raw, filepath.Join(work, "out"), o)
	if err != nil {
		return err
	}
	pTime := time.Since(t0)
	pCPU := selfCPU() - cpu0
	m := res.Manifest
	fmt.Printf("publish    %s chunks, %d workers:  %7.2f s, %d bytes, %.2f CPU-s (.img.zst; %d of %d chunks hold data)\n",
		chunk, runtime.GOMAXPROCS(0), pTime.Seconds(), m.Archive.Size, pCPU.Seconds(), m.Image.DataChunks, len(m.Chunks))
	fmt.Printf("time ratio publish / zstd -T0 -3 = %.3f (goal < 1.0)\n", pTime.Seconds()/zTime.Seconds())
	// CPU time does not depend on what else runs on the machine; wall
	// time does (a single sha256 stream gets one thread's share).
	fmt.Printf("CPU  ratio publish / zstd -T0 -3 = %.3f\n", pCPU.Seconds()/zCPU.Seconds())
	fmt.Printf("size ratio publish / zstd -3     = %.3f (goal <= 1.10)\n", float64(m.Archive.Size)/float64(zs.Size()))
	return nil
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func zstdVersion(bin string) string {
	out, err := exec.Command(bin, "-V").Output()
	if err != nil {
		return "?"
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "v") && strings.Count(f, ".") >= 2 {
			return strings.TrimSuffix(f, ",")
		}
	}
	return "?"
}
