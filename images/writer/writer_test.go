package writer

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer/decompress"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/faultserve"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/fetch"
)

func TestStreamFormats(t *testing.T) {
	img := testImage(t)
	srv := faultserve.New(1)
	defer srv.Close()
	cases := []struct {
		name string
		data []byte
		mode decompress.Mode
	}{
		{"raw", img, decompress.Auto},
		{"raw-never", img, decompress.Never},
		{"zstd", compressWith(t, "zstd", img), decompress.Always},
		{"gzip", compressWith(t, "gzip", img), decompress.Auto},
		{"xz", compressWith(t, "xz", img), decompress.Auto},
		{"bzip2", compressWith(t, "bzip2", img), decompress.Auto},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			// No suffix in the URL: detection is by magic bytes.
			url := srv.Add("/"+tc.name+"?sig=abc", tc.data, faultserve.Faults{})
			local := filepath.Join(dir, "image")
			if err := os.WriteFile(local, tc.data, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, src := range []string{url, local} {
				disk := filepath.Join(dir, "disk")
				_, err := Write(testCtx(t), Request{Image: src, Disk: disk, Compression: tc.mode, Fetch: fastFetch()})
				if err != nil {
					t.Fatalf("%s: %v", src, err)
				}
				checkOutcome(t, disk, img, nil)
			}
		})
	}
}

func TestFastPathFile(t *testing.T) {
	img := testImage(t)
	file, plan := chunked(t, img, 1<<20)
	dir := t.TempDir()
	src := filepath.Join(dir, "image.zst")
	if err := os.WriteFile(src, file, 0o644); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "disk")
	// An existing target with an old GPT and junk: all of it must go.
	old := testImage(t)
	for i := 8 << 20; i < 9<<20; i++ {
		old[i] = 0xee
	}
	if err := os.WriteFile(disk, append(old, old...), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Write(testCtx(t), Request{Image: src, Disk: disk, Plan: plan})
	checkOutcome(t, disk, img, err)
	if res.Summary.Decoded >= int64(len(img)) {
		t.Fatalf("decoded %d bytes of a %d-byte image with zero chunks: zero chunks were decoded", res.Summary.Decoded, len(img))
	}
}

func TestFaults(t *testing.T) {
	img := testImage(t)
	zst := compressWith(t, "zstd", img)
	file, plan := chunked(t, img, 1<<20)
	truncated := zst[:len(zst)*2/3]
	flipped := append([]byte(nil), file...)
	flipped[plan.Chunks[2].CompOffset+plan.Chunks[2].CompSize/2] ^= 0x40
	unverified := func(p *Plan, sha []byte) *Plan {
		u := &Plan{ImageSize: p.ImageSize, Unverified: true, FileSHA256: sha}
		for _, c := range p.Chunks {
			c.SHA256, c.Zero = [32]byte{}, false
			u.Chunks = append(u.Chunks, c)
		}
		return u
	}
	// A seekable file with every chunk framed (zero chunks too), as stock
	// zstd tools and the compat path see it.
	allFramed, framedPlan := chunkedAll(t, img, 1<<20)
	fileSum := sha256.Sum256(allFramed)
	flippedFramed := flipByte(allFramed, int(framedPlan.Chunks[3].CompOffset+framedPlan.Chunks[3].CompSize/2))
	cases := []struct {
		name    string
		fast    bool
		plan    *Plan
		data    []byte
		f       faultserve.Faults
		wantErr Kind // 0 = must succeed
		sha     bool
	}{
		{name: "cuts", data: zst, f: faultserve.Faults{Cut: 0.7}},
		{name: "cuts-fast", fast: true, data: file, f: faultserve.Faults{Cut: 0.5}},
		{name: "stall", data: zst, f: faultserve.Faults{Stall: 0.6}},
		{name: "stall-fast", fast: true, data: file, f: faultserve.Faults{Stall: 0.2}},
		{name: "503-burst", data: zst, f: faultserve.Faults{Burst503: 5}},
		{name: "503-burst-fast", fast: true, data: file, f: faultserve.Faults{Burst503: 5, Rate503: 0.2}},
		{name: "range-ignored", data: zst, f: faultserve.Faults{IgnoreRange: true, Cut: 0.3}},
		{name: "range-ignored-fast", fast: true, data: file, f: faultserve.Faults{IgnoreRange: true, Cut: 0.2}},
		{name: "short-body", data: zst, f: faultserve.Faults{Short: 0.5}, sha: true},
		{name: "etag-changed", data: zst, f: faultserve.Faults{ChangeAfter: 2, Cut: 0.5}},
		{name: "etag-changed-fast", fast: true, data: file, f: faultserve.Faults{ChangeAfter: 3}},
		{name: "truncated-zst", data: truncated, wantErr: KindVerify},
		{name: "flipped-byte-fast", fast: true, data: flipped, wantErr: KindVerify},
		{name: "flipped-byte-sha", data: flipByte(zst, len(zst)/2), wantErr: KindVerify, sha: true},
		{name: "seektable-cuts", plan: unverified(framedPlan, nil), data: allFramed, f: faultserve.Faults{Cut: 0.5}},
		{name: "seektable-sha-cuts", plan: unverified(framedPlan, fileSum[:]), data: allFramed, f: faultserve.Faults{Cut: 0.5, IgnoreRange: true}},
		{name: "seektable-flipped", plan: unverified(framedPlan, nil), data: flippedFramed, wantErr: KindVerify},
		{name: "seektable-flipped-sha", plan: unverified(framedPlan, fileSum[:]), data: flipByte(allFramed, len(allFramed)-3), wantErr: KindVerify},
		{name: "no-validator-cut", data: zst, f: faultserve.Faults{NoETag: true, IgnoreRange: true, Cut: 1}, wantErr: KindSource},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := faultserve.New(7)
			defer srv.Close()
			url := srv.Add("/img", tc.data, tc.f)
			disk := filepath.Join(t.TempDir(), "disk")
			req := Request{Image: url, Disk: disk, Fetch: fastFetch(), Restarts: 2}
			req.Fetch.MaxAttempts = 50
			if tc.fast {
				req.Plan = plan
			}
			if tc.plan != nil {
				req.Plan = tc.plan
			}
			if tc.sha {
				req.SHA256 = sha256hex(zst)
			}
			_, err := Write(testCtx(t), req)
			checkOutcome(t, disk, img, err)
			if injected := srv.Injected(); tc.wantErr == 0 && injected == 0 && !reflect.DeepEqual(tc.f, faultserve.Faults{}) {
				t.Fatalf("no fault was injected; the case proves nothing:\n%s", strings.Join(srv.Log, "\n"))
			}
			if tc.wantErr == 0 && err != nil {
				t.Fatalf("want success, got %v\n%s", err, srv.Log)
			}
			if tc.wantErr != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Kind != tc.wantErr {
					t.Fatalf("want %v error, got %v", tc.wantErr, err)
				}
			}
		})
	}
}

func TestGiveUpWithinDeadline(t *testing.T) {
	img := testImage(t)
	srv := faultserve.New(3)
	defer srv.Close()
	url := srv.Add("/img", compressWith(t, "zstd", img), faultserve.Faults{Rate503: 1})
	disk := filepath.Join(t.TempDir(), "disk")
	fo := fastFetch()
	fo.MaxAttempts = 4
	_, err := Write(testCtx(t), Request{Image: url, Disk: disk, Fetch: fo})
	checkOutcome(t, disk, img, err)
	if !errors.Is(err, fetch.ErrGaveUp) || ExitCode(err) != int(KindSource) {
		t.Fatalf("want source error wrapping ErrGaveUp, got %v", err)
	}
}

func flipByte(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}
