// Package target opens what an image is written to, a block device or a
// regular file, and gives the writer the few operations it needs at the
// speed of the hardware: large aligned positional writes (O_DIRECT on block
// devices), ranges made to read back as zero without writing them, durable
// flushes, and the partition-table rescan. It knows nothing of images.
package target

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Align is the alignment of every buffer, offset and length handed to an
// O_DIRECT write. 4096 covers both 512e and 4Kn logical blocks.
const Align = 4096

// ErrTooSmall means the device cannot hold the image.
var ErrTooSmall = errors.New("target smaller than image")

// Options tune how a target is opened.
type Options struct {
	// AssumeZero promises that the device already reads back as zero
	// (fresh media); zero ranges are then skipped instead of zeroed.
	AssumeZero bool
	// Direct selects O_DIRECT writes on block devices: "auto" (default,
	// on for block devices), "on" or "off". Files never use it: the page
	// cache is what makes sparse file writes cheap.
	Direct string
}

// Target is an open block device or regular file.
type Target struct {
	Path       string
	f          *os.File // buffered fd, for unaligned edges and ioctls
	d          *os.File // O_DIRECT fd or nil
	block      bool
	size       int64 // device size; for files, the size Prepare set
	sector     int
	assumeZero bool
	fresh      bool         // a file truncated by Prepare: every byte is a hole
	zeroMethod atomic.Value // string; Zero runs on several goroutines
}

// Open opens path for writing. A block device is opened exclusively
// (O_EXCL fails with EBUSY while a partition is mounted); a missing path
// becomes a regular file.
func Open(path string, opts Options) (*Target, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("create target file: %w", err)
		}
		return &Target{Path: path, f: f, sector: 512, assumeZero: opts.AssumeZero}, nil
	case err != nil:
		return nil, fmt.Errorf("target: %w", err)
	case fi.Mode().IsRegular():
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("open target file: %w", err)
		}
		return &Target{Path: path, f: f, sector: 512, assumeZero: opts.AssumeZero}, nil
	case fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0:
	default:
		return nil, fmt.Errorf("target %s: mode %v is neither a block device nor a regular file", path, fi.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_EXCL|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open block device exclusively (is a partition mounted?): %w", err)
	}
	t := &Target{Path: path, f: f, block: true, assumeZero: opts.AssumeZero}
	var size uint64
	if err := ioctl(f, unix.BLKGETSIZE64, unsafe.Pointer(&size)); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: BLKGETSIZE64: %w", path, err)
	}
	t.size = int64(size)
	ss, err := unix.IoctlGetInt(int(f.Fd()), unix.BLKSSZGET)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: BLKSSZGET: %w", path, err)
	}
	t.sector = ss
	if opts.Direct != "off" {
		// A second fd shares the device but bypasses the page cache; the
		// kernel keeps the two coherent for the ranges O_DIRECT writes.
		d, err := os.OpenFile(path, os.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err != nil && opts.Direct == "on" {
			f.Close()
			return nil, fmt.Errorf("%s: O_DIRECT: %w", path, err)
		}
		if err == nil {
			t.d = d
		}
	}
	return t, nil
}

func ioctl(f *os.File, req uint, arg unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), uintptr(req), uintptr(arg)); e != 0 {
		return e
	}
	return nil
}

// IsBlock reports whether the target is a block device.
func (t *Target) IsBlock() bool { return t.block }

// Size is the device size, or the file size after Prepare.
func (t *Target) Size() int64 { return t.size }

// Direct reports whether aligned writes bypass the page cache.
func (t *Target) Direct() bool { return t.d != nil }

// ZeroMethod names how the last zero range was made zero, for the summary.
func (t *Target) ZeroMethod() string {
	m, _ := t.zeroMethod.Load().(string)
	return m
}

// Prepare readies the target for an image of imageSize bytes. A regular
// file is cut to zero and extended to imageSize, so every byte is a hole
// that reads as zero and zero ranges cost nothing; a block device must be
// large enough.
func (t *Target) Prepare(imageSize int64) error {
	if !t.block {
		if err := t.f.Truncate(0); err != nil {
			return fmt.Errorf("truncate %s: %w", t.Path, err)
		}
		if err := t.f.Truncate(imageSize); err != nil {
			return fmt.Errorf("size %s to %d bytes: %w", t.Path, imageSize, err)
		}
		t.size = imageSize
		t.fresh = true
		return nil
	}
	if imageSize > t.size {
		return fmt.Errorf("%s holds %d bytes, image needs %d: %w", t.Path, t.size, imageSize, ErrTooSmall)
	}
	return nil
}

// WriteAt writes p at off. The aligned middle goes through O_DIRECT when
// available; unaligned edges (an image tail that is not a multiple of
// 4 KiB) go through the page cache.
func (t *Target) WriteAt(p []byte, off int64) error {
	if t.d == nil {
		return t.pwrite(t.f, p, off)
	}
	if uintptr(unsafe.Pointer(unsafe.SliceData(p)))%Align != 0 {
		return t.pwrite(t.f, p, off)
	}
	if head := (Align - off%Align) % Align; head != 0 {
		if int64(len(p)) <= head {
			return t.pwrite(t.f, p, off)
		}
		return errors.Join(t.pwrite(t.f, p[:head], off), t.WriteAt(p[head:], off+head))
	}
	n := len(p) / Align * Align
	if n > 0 {
		if err := t.pwrite(t.d, p[:n], off); err != nil {
			return err
		}
	}
	if n < len(p) {
		return t.pwrite(t.f, p[n:], off+int64(n))
	}
	return nil
}

func (t *Target) pwrite(f *os.File, p []byte, off int64) error {
	start, n0 := off, len(p)
	for len(p) > 0 {
		n, err := f.WriteAt(p, off)
		if err != nil {
			return fmt.Errorf("write %s at byte %d (%d bytes): %w", t.Path, off, len(p), err)
		}
		p, off = p[n:], off+int64(n)
	}
	if f == t.f && n0 >= 1<<20 {
		// Start writeback of what went through the page cache now, so the
		// disk works while later chunks are fetched and decoded and the
		// final fdatasync finds little left (bmaptool fsyncs every 6 MiB
		// for a similar reason). SYNC_FILE_RANGE_WRITE does not wait.
		_ = unix.SyncFileRange(int(f.Fd()), start, int64(n0), unix.SYNC_FILE_RANGE_WRITE)
	}
	return nil
}

// Zero makes [off, off+n) read back as zero. Files not freshly prepared get
// a punched hole; block devices try, in order: fallocate PUNCH_HOLE (on a
// block device that is a zero-out without slow fallback, so it is fast or
// EOPNOTSUPP), BLKZEROOUT (the kernel zeroes, using WRITE ZEROES when the
// device has it), and finally plain writes of zeros. Discard alone is never
// trusted: it does not guarantee zeros.
func (t *Target) Zero(off, n int64) error {
	if n <= 0 || t.fresh {
		t.zeroMethod.Store("hole")
		return nil
	}
	if t.assumeZero {
		t.zeroMethod.Store("assumed")
		return nil
	}
	if !t.block {
		err := unix.Fallocate(int(t.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
		if err == nil {
			t.zeroMethod.Store("punch-hole")
			return nil
		}
		t.zeroMethod.Store("write")
		return t.writeZeros(off, n)
	}
	// Block-device zeroing needs logical-block alignment; unaligned edges
	// are written.
	ss := int64(t.sector)
	a, b := (off+ss-1)/ss*ss, (off+n)/ss*ss
	if a >= b {
		return t.writeZeros(off, n)
	}
	if a > off {
		if err := t.writeZeros(off, a-off); err != nil {
			return err
		}
	}
	if b < off+n {
		if err := t.writeZeros(b, off+n-b); err != nil {
			return err
		}
	}
	err := unix.Fallocate(int(t.f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, a, b-a)
	if err == nil {
		t.zeroMethod.Store("punch-hole")
		return nil
	}
	rng := [2]uint64{uint64(a), uint64(b - a)}
	if err := ioctl(t.f, unix.BLKZEROOUT, unsafe.Pointer(&rng)); err == nil {
		t.zeroMethod.Store("blkzeroout")
		return nil
	}
	t.zeroMethod.Store("write")
	return t.writeZeros(a, b-a)
}

var zeroBuf = AlignedBuffer(1 << 20)

func (t *Target) writeZeros(off, n int64) error {
	for n > 0 {
		k := min(n, int64(len(zeroBuf)))
		if err := t.WriteAt(zeroBuf[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}

// Sync flushes written data to stable storage (fdatasync on both fds).
func (t *Target) Sync() error {
	if t.d != nil {
		if err := unix.Fdatasync(int(t.d.Fd())); err != nil {
			return fmt.Errorf("fdatasync %s: %w", t.Path, err)
		}
	}
	if err := unix.Fdatasync(int(t.f.Fd())); err != nil {
		return fmt.Errorf("fdatasync %s: %w", t.Path, err)
	}
	return nil
}

// ReadAt reads from the target through the page cache (used to verify the
// committed header).
func (t *Target) ReadAt(p []byte, off int64) (int, error) { return t.f.ReadAt(p, off) }

// Close closes both file descriptors.
func (t *Target) Close() error {
	var err error
	if t.d != nil {
		err = t.d.Close()
	}
	return errors.Join(err, t.f.Close())
}

// AlignedBuffer returns a zeroed n-byte slice whose address is Align-aligned,
// as O_DIRECT requires.
func AlignedBuffer(n int) []byte {
	b := make([]byte, n+Align)
	o := int(uintptr(unsafe.Pointer(&b[0])) % Align)
	if o != 0 {
		o = Align - o
	}
	return b[o : o+n : o+n]
}

// Sector is the logical block size (512 for files).
func (t *Target) Sector() int { return t.sector }

// Resize sets a regular file's length once a streamed image's size is
// known (bytes past the written ones are holes); block devices keep theirs.
func (t *Target) Resize(n int64) error {
	if t.block {
		return nil
	}
	if err := t.f.Truncate(n); err != nil {
		return fmt.Errorf("size %s to %d bytes: %w", t.Path, n, err)
	}
	t.size = n
	return nil
}
