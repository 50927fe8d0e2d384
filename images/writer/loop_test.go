package writer

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer/gptfix"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

// loopDevice attaches a loop device (with partition scanning) over a
// backing file of size bytes that already holds an old install: a GPT
// with its backup at the end and a non-zero pattern everywhere else.
func loopDevice(t *testing.T, size int64) string {
	t.Helper()
	tooltest.Need(t, "losetup")
	backing := filepath.Join(t.TempDir(), "backing")
	junk := bytes.Repeat([]byte{0xee}, int(size))
	if err := os.WriteFile(backing, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sgdisk", "-o", "-n", "1:2048:+8M", "-n", "2:0:0", backing).CombinedOutput(); err != nil {
		t.Fatalf("old gpt: %v: %s", err, out)
	}
	out, err := exec.Command("losetup", "-f", "--show", "-P", backing).Output()
	if err != nil {
		t.Fatalf("losetup (needs root and /dev/loop*): %v", err)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
	return dev
}

func TestLoopDeviceLargerDisk(t *testing.T) {
	img := testImage(t)
	file, plan := chunked(t, img, 4<<20)
	src := filepath.Join(t.TempDir(), "image")
	if err := os.WriteFile(src, file, 0o644); err != nil {
		t.Fatal(err)
	}
	zsrc := filepath.Join(t.TempDir(), "image.zst")
	if err := os.WriteFile(zsrc, compressWith(t, "zstd", img), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		req  Request
	}{
		{"fast", Request{Image: src, Plan: plan}},
		{"fast-buffered", Request{Image: src, Plan: plan, Direct: "off"}},
		{"stream", Request{Image: zsrc}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const diskSize = 32 << 20
			dev := loopDevice(t, diskSize)
			req := tc.req
			req.Disk = dev
			res, err := Write(testCtx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Direct != (req.Direct != "off") {
				t.Errorf("direct I/O %v with Direct=%q", res.Direct, req.Direct)
			}
			got, err := os.ReadFile(dev)
			if err != nil {
				t.Fatal(err)
			}
			// The image, byte for byte, except the primary GPT header
			// (LBA 1), which now points at the relocated backup.
			if !bytes.Equal(got[:512], img[:512]) || !bytes.Equal(got[1024:len(img)], img[1024:]) {
				t.Fatalf("image bytes differ at %d", firstDiff(got[:len(img)], img))
			}
			// Stale signatures past the image end are gone.
			if !allZero(got[len(img) : len(img)+staleWipe]) {
				t.Fatalf("bytes past the image end were not wiped")
			}
			hd, err := gptfix.Parse(got, 512)
			if err != nil || hd.AlternateLBA != diskSize/512-1 {
				t.Fatalf("primary gpt %+v, %v; want backup at lba %d", hd, err, diskSize/512-1)
			}
			out, err := exec.Command("sgdisk", "-v", dev).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "No problems found") {
				t.Fatalf("sgdisk -v: %v\n%s", err, out)
			}
			// BLKRRPART ran. (Whether partition nodes appear depends on the
			// kernel's partition parsers; the sandbox's kernel has none.)
			if !res.Rescanned {
				t.Fatal("partition table was not rescanned")
			}
		})
	}
}

func TestLoopDeviceFailureLeavesNoTable(t *testing.T) {
	img := testImage(t)
	zst := compressWith(t, "zstd", img)
	src := filepath.Join(t.TempDir(), "image.zst")
	if err := os.WriteFile(src, zst[:len(zst)*3/4], 0o644); err != nil {
		t.Fatal(err)
	}
	dev := loopDevice(t, 32<<20)
	_, err := Write(testCtx(t), Request{Image: src, Disk: dev})
	if ExitCode(err) != int(KindVerify) {
		t.Fatalf("want a verify failure, got %v", err)
	}
	got, rerr := os.ReadFile(dev)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !allZero(got[:HeaderSize]) || !allZero(got[len(got)-HeaderSize:]) {
		t.Fatal("the disk's first or last MiB still holds data after a failed write")
	}
	// sgdisk, an independent reader, finds no table at either end.
	out, _ := exec.Command("sgdisk", "-p", dev).CombinedOutput()
	if !strings.Contains(string(out), "Creating new GPT entries") && !strings.Contains(string(out), "not present") {
		t.Fatalf("sgdisk still finds a partition table:\n%s", out)
	}
}
