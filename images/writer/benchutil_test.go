package writer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// image2diskAlgorithm is the baseline the writer is measured against:
// tinkerbell/actions image2disk's write path as the research note reads it
// (not its code): one GET with the default client, one zstd stream
// decoder, a single io.Copy with 32 KiB writes into the target opened
// O_WRONLY without O_CREAT, then fsync.
func image2diskAlgorithm(ctx context.Context, url, disk string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode > 300 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	zr, err := zstd.NewReader(resp.Body)
	if err != nil {
		return err
	}
	defer zr.Close()
	f, err := os.OpenFile(disk, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// Hide WriterTo/ReaderFrom so the copy really moves 32 KiB at a time.
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, struct{ io.Reader }{zr}, make([]byte, 32<<10)); err != nil {
		return err
	}
	return f.Sync()
}

// sameContent compares two files byte for byte. Ranges that are holes in
// both (SEEK_DATA finds no data there) are skipped without reading: a
// hole reads as zero by definition, so they are equal.
func sameContent(a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	sa, _ := fa.Seek(0, io.SeekEnd)
	sb, _ := fb.Seek(0, io.SeekEnd)
	if sa != sb {
		return fmt.Errorf("%s is %d bytes, %s is %d", a, sa, b, sb)
	}
	const win = 64 << 20
	ba, bb := make([]byte, win), make([]byte, win)
	nextData := func(f *os.File, off int64) int64 {
		d, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err != nil {
			return sa // ENXIO: no data after off
		}
		return d
	}
	for off := int64(0); off < sa; {
		if m := min(nextData(fa, off), nextData(fb, off)); m > off {
			if m -= m % 4096; m > off {
				off = m
				continue
			}
		}
		n := min(int64(win), sa-off)
		if _, err := fa.ReadAt(ba[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if _, err := fb.ReadAt(bb[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if !bytes.Equal(ba[:n], bb[:n]) {
			return fmt.Errorf("%s and %s differ at byte %d", a, b, off+int64(firstDiff(ba[:n], bb[:n])))
		}
		off += n
	}
	return nil
}
