// Package writer puts a published ESXi golden image onto a disk, fast and
// verified, or not at all: a run ends with the whole image on the target
// and exit 0, or with an error naming the cause and a target whose first
// MiB holds no partition table (so a half-written disk never boots).
//
// Two engines share one safety frame (session.go): the fast path reads
// the chunked, signed format made by esxi-image publish (parallel Range
// fetches, parallel decode, per-chunk sha256, zero chunks never fetched),
// and the stream path reads any raw/gzip/zstd/xz/bzip2 image, the way
// Tinkerbell's image2disk action does, but resumable and verified.
package writer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer/decompress"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/fetch"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/progress"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/target"
)

// Request describes one write.
type Request struct {
	Image string // URL or path of the image file
	Disk  string // block device or regular file

	// Plan, when set, selects the fast path (filled from a verified
	// manifest by LoadPlan). Nil selects the stream path.
	Plan *Plan

	// Stream path only.
	Compression decompress.Mode
	SHA256      string // hex sha256 of the image file as served; empty skips

	AssumeZero bool   // target already reads as zero: skip zeroing
	Direct     string // O_DIRECT on block devices: auto, on, off
	Conns      int    // parallel Range connections (fast path)
	Workers    int    // decode+write goroutines (fast path; 0 = GOMAXPROCS+writers)
	Writers    int    // concurrent writes in flight (stream path)
	Restarts   int    // full restarts when the object changes mid-way
	NoRescan   bool   // skip BLKRRPART

	Fetch fetch.Options
	Log   *slog.Logger

	// Progress output: a bar on TTY, else log lines every Interval.
	ProgressOut io.Writer
	TTY         bool
	Interval    time.Duration
}

// Result is what a successful write did.
type Result struct {
	ImageSize  int64
	Direct     bool
	ZeroMethod string
	Rescanned  bool // BLKRRPART succeeded
	Summary    progress.Summary
}

// Write writes req.Image to req.Disk. Its errors are *Error (use ExitCode).
func Write(ctx context.Context, req Request) (Result, error) {
	if req.Log == nil {
		req.Log = slog.New(slog.DiscardHandler)
	}
	if req.Conns <= 0 {
		req.Conns = 4
	}
	if req.Writers <= 0 {
		req.Writers = 4
	}
	if req.Restarts < 0 {
		req.Restarts = 0
	}
	log := req.Log
	userRetry := req.Fetch.OnRetry
	req.Fetch.OnRetry = func(off int64, attempt int, err error) {
		log.Warn("retrying", "offset", off, "attempt", attempt, "error", err.Error())
		if userRetry != nil {
			userRetry(off, attempt, err)
		}
	}
	var (
		res Result
		err error
	)
	for attempt := 0; ; attempt++ {
		res, err = writeOnce(ctx, &req)
		if err == nil || !errors.Is(err, fetch.ErrObjectChanged) || attempt >= req.Restarts || ctx.Err() != nil {
			break
		}
		log.Warn("image changed on the server during the write; starting over", "error", err.Error(), "restart", attempt+1)
	}
	return res, err
}

func writeOnce(ctx context.Context, req *Request) (Result, error) {
	log := req.Log
	prog := progress.New(0)
	fo := req.Fetch
	userBytes := fo.OnBytes
	fo.OnBytes = func(n int) {
		prog.Add(progress.Fetch, int64(n), 0)
		if userBytes != nil {
			userBytes(n)
		}
	}
	src, err := fetch.Open(ctx, req.Image, fo)
	if err != nil {
		return Result{}, kindOf(KindSource, err)
	}
	if c, ok := src.(io.Closer); ok {
		defer c.Close()
	}
	if req.SHA256 != "" {
		if _, err := parseSHA256(req.SHA256); err != nil {
			return Result{}, err
		}
	}
	plan := req.Plan
	if plan == nil {
		// A seekable .zst read without its manifest still decodes in
		// parallel; anything else is one stream.
		if plan, err = seekablePlan(ctx, src, req); err != nil {
			return Result{}, err
		}
		if plan != nil {
			log.Info("seekable zstd archive: decoding its frames in parallel", "frames", len(plan.Chunks))
		}
	}
	if plan != nil {
		if err := plan.check(src.Size()); err != nil {
			return Result{}, err
		}
	}
	t, err := target.Open(req.Disk, target.Options{AssumeZero: req.AssumeZero, Direct: req.Direct})
	if err != nil {
		return Result{}, kindOf(KindTarget, err)
	}
	size := int64(-1)
	if plan != nil {
		size = plan.ImageSize
	}
	prog.Total = max(size, 0)
	if size < 0 && req.Compression == decompress.Never {
		prog.Total = src.Size()
	}
	s, err := begin(t, size, prog, log)
	if err != nil {
		t.Close()
		return Result{}, err
	}
	log.Info("writing", "image", src.String(), "disk", req.Disk, "block_device", t.IsBlock(),
		"direct_io", t.Direct(), "chunked", plan != nil, "signed_manifest", req.Plan != nil, "image_bytes", size)

	pctx, stopProgress := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if req.ProgressOut != nil {
			prog.Report(pctx, req.Interval, req.ProgressOut, req.TTY, log)
		}
	}()
	if plan != nil {
		err = writeChunks(ctx, src, plan, s, req)
	} else {
		err = writeStream(ctx, src, s, req)
	}
	if err == nil {
		err = s.commit(ctx)
	}
	stopProgress()
	<-done
	if err != nil {
		if aerr := s.abort(); aerr != nil {
			log.Error("could not wipe the image header after the failure; do not boot this disk", "error", aerr.Error())
		}
		t.Close()
		return Result{}, kindOf(KindOther, err)
	}
	res := Result{ImageSize: s.size, Direct: t.Direct(), ZeroMethod: t.ZeroMethod()}
	if err := t.Close(); err != nil {
		return Result{}, &Error{Kind: KindTarget, Err: err}
	}
	if t.IsBlock() && !req.NoRescan {
		if err := target.Rescan(ctx, req.Disk, 20, 100*time.Millisecond); err != nil {
			// The image is written and durable; a busy rescan only delays
			// the partition nodes, so it is reported, not fatal.
			log.Warn("partition rescan failed; the kernel will see the new table after the next rescan or reboot", "error", err.Error())
		} else {
			res.Rescanned = true
		}
	}
	res.Summary = prog.Finish()
	log.Info("done", "summary", res.Summary)
	return res, nil
}
