package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/images/writer/gptfix"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/progress"
	"github.com/esxi-golden/packer-plugin-esxi/images/writer/target"
)

// HeaderSize is the head of the image withheld until everything else is
// written and verified: MBR, primary GPT header and entries, and the
// bootloader gap. Without it no firmware finds a partition table.
const HeaderSize = 1 << 20

// staleWipe is how much of the disk past the image end is zeroed so that a
// previous install's signatures (VMFS, backup GPT, filesystems) cannot be
// picked up by the new partition table or by ESXi's first-boot expansion.
const staleWipe = 8 << 20

// held is an image region kept in memory and written only at commit.
type held struct {
	off int64
	buf []byte
}

// session guards a target during one write: the image's first MiB (and
// its last, where a backup GPT lives) are held in memory and written only
// by commit, after every other byte is written, verified and flushed; the
// target's copies of those regions are wiped before the first write, so a
// run that stops anywhere leaves a disk no firmware will boot.
type session struct {
	t      *target.Target
	size   int64 // image size, -1 while unknown (compressed stream)
	mu     sync.Mutex
	head   held
	tail   held // fast path: known up front; stream: given by setTail
	prog   *progress.Counters
	log    *slog.Logger
	rescan bool
}

func begin(t *target.Target, size int64, prog *progress.Counters, log *slog.Logger) (*session, error) {
	prep := size
	if size < 0 {
		prep = 0
	}
	if err := t.Prepare(prep); err != nil {
		return nil, &Error{Kind: KindTarget, Err: err}
	}
	s := &session{t: t, size: size, prog: prog, log: log}
	hs := int64(HeaderSize)
	if size >= 0 {
		hs = min(hs, size)
	}
	s.head = held{off: 0, buf: target.AlignedBuffer(int(hs))}
	if size >= 0 {
		toff := max(hs, (size-HeaderSize)/target.Align*target.Align)
		s.tail = held{off: toff, buf: target.AlignedBuffer(int(size - toff))}
	}
	if t.IsBlock() {
		// Wipe the old partition tables first: the head, the image's tail,
		// and the disk's last MiB (an old backup GPT firmware would fall
		// back to). Physical writes, never "assume zero": this is the
		// safety net for every failure after this point.
		zero := target.AlignedBuffer(HeaderSize)
		regions := [][2]int64{{0, min(HeaderSize, t.Size())}, {max(0, t.Size()-HeaderSize), t.Size()}}
		if size > 0 {
			regions = append(regions, [2]int64{s.tail.off, size})
		}
		for _, r := range regions {
			for off := r[0]; off < r[1]; off += HeaderSize {
				if err := t.WriteAt(zero[:min(HeaderSize, r[1]-off)], off); err != nil {
					return nil, &Error{Kind: KindTarget, Err: fmt.Errorf("wipe old partition table: %w", err)}
				}
			}
		}
		if err := t.Sync(); err != nil {
			return nil, &Error{Kind: KindTarget, Err: err}
		}
	}
	return s, nil
}

// writeAt writes p at off, diverting the bytes that fall into a held
// region into memory.
func (s *session) writeAt(p []byte, off int64) error {
	start := time.Now()
	n := int64(len(p))
	end := off + n
	for _, h := range []*held{&s.head, &s.tail} {
		hend := h.off + int64(len(h.buf))
		if len(h.buf) == 0 || end <= h.off || off >= hend {
			continue
		}
		a, b := max(off, h.off), min(end, hend)
		s.mu.Lock()
		copy(h.buf[a-h.off:b-h.off], p[a-off:b-off])
		s.mu.Unlock()
		// Write what lies before and after the held part.
		var err error
		if a > off {
			err = s.writeAt(p[:a-off], off)
		}
		if err == nil && b < end {
			err = s.writeAt(p[b-off:], b)
		}
		if a == off && b == end {
			s.prog.Add(progress.Write, b-a, time.Since(start))
		} else {
			s.prog.Add(progress.Write, b-a, 0)
		}
		return err
	}
	if err := s.t.WriteAt(p, off); err != nil {
		return &Error{Kind: KindTarget, Err: err}
	}
	s.prog.Add(progress.Write, n, time.Since(start))
	return nil
}

// zero makes [off, off+n) read as zero, skipping held regions (their
// memory copies are zero already, and their target copies were wiped).
func (s *session) zero(off, n int64) error {
	start := time.Now()
	end := off + n
	for _, h := range []*held{&s.head, &s.tail} {
		hend := h.off + int64(len(h.buf))
		if len(h.buf) == 0 || end <= h.off || off >= hend {
			continue
		}
		a, b := max(off, h.off), min(end, hend)
		s.mu.Lock()
		clear(h.buf[a-h.off : b-h.off])
		s.mu.Unlock()
		s.prog.Add(progress.Zero, b-a, 0)
		var err error
		if a > off {
			err = s.zero(off, a-off)
		}
		if err == nil && b < end {
			err = s.zero(b, end-b)
		}
		return err
	}
	if err := s.t.Zero(off, n); err != nil {
		return &Error{Kind: KindTarget, Err: fmt.Errorf("zero bytes %d-%d: %w", off, end-1, err)}
	}
	s.prog.Add(progress.Zero, n, time.Since(start))
	return nil
}

// setTail records the stream's last bytes (held back by the stream engine
// because the size was unknown) and the final image size.
func (s *session) setTail(buf []byte, off int64) error {
	size := off + int64(len(buf))
	if s.t.IsBlock() && size > s.t.Size() {
		return &Error{Kind: KindTarget, Err: fmt.Errorf("%s holds %d bytes, image is %d: %w", s.t.Path, s.t.Size(), size, target.ErrTooSmall)}
	}
	if err := s.t.Resize(size); err != nil {
		return &Error{Kind: KindTarget, Err: err}
	}
	s.size = size
	// In a tiny image the tail overlaps the head region: that part goes
	// to the head buffer.
	if hend := int64(len(s.head.buf)); off < hend {
		k := min(hend, size) - off
		copy(s.head.buf[off:], buf[:k])
		buf, off = buf[k:], off+k
	}
	s.tail = held{off: off, buf: buf}
	s.prog.Add(progress.Write, size-off, 0)
	return nil
}

// commit writes the held regions after everything else is durable, then
// fixes the GPT for a larger disk and rescans partitions.
func (s *session) commit(ctx context.Context) error {
	t := s.t
	if t.IsBlock() && t.Size() > s.size {
		end := min(s.size+staleWipe, t.Size()-HeaderSize)
		if end > s.size {
			if err := t.Zero(s.size, end-s.size); err != nil {
				return &Error{Kind: KindTarget, Err: fmt.Errorf("wipe stale signatures past the image end: %w", err)}
			}
		}
	}
	if err := t.Sync(); err != nil {
		return &Error{Kind: KindTarget, Err: err}
	}
	if len(s.tail.buf) > 0 {
		if err := t.WriteAt(s.tail.buf, s.tail.off); err != nil {
			return &Error{Kind: KindTarget, Err: fmt.Errorf("write image tail: %w", err)}
		}
	}
	head := s.head.buf[:min(int64(len(s.head.buf)), s.size)]
	if t.IsBlock() && t.Size() > s.size {
		backup, off, err := gptfix.Relocate(head, t.Sector(), t.Size())
		switch {
		case errors.Is(err, gptfix.ErrNoGPT):
			s.log.Info("image has no GPT; backup not relocated", "reason", err)
		case err != nil:
			return &Error{Kind: KindVerify, Err: fmt.Errorf("relocate backup gpt: %w", err)}
		case backup != nil:
			if err := t.WriteAt(backup, off); err != nil {
				return &Error{Kind: KindTarget, Err: fmt.Errorf("write backup gpt: %w", err)}
			}
			s.log.Info("backup GPT moved to the end of the disk", "offset", off)
		}
	}
	if err := t.Sync(); err != nil {
		return &Error{Kind: KindTarget, Err: err}
	}
	if err := t.WriteAt(head, 0); err != nil {
		return &Error{Kind: KindTarget, Err: fmt.Errorf("write image header: %w", err)}
	}
	if err := t.Sync(); err != nil {
		return &Error{Kind: KindTarget, Err: err}
	}
	return nil
}

// abort makes sure the target's head reads as zero after a failure (it
// was wiped at begin and only commit writes it; commit itself may have
// failed half-way).
func (s *session) abort() error {
	zero := target.AlignedBuffer(len(s.head.buf))
	if len(zero) == 0 {
		return nil
	}
	err := s.t.WriteAt(zero, 0)
	return errors.Join(err, s.t.Sync())
}
