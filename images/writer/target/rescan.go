package target

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Rescan asks the kernel to re-read the partition table of the block device
// at path (BLKRRPART), retrying while it is busy: udev probing the freshly
// written partitions briefly holds them open (coreos-installer retries 20×
// 100 ms for the same reason). It opens its own fd because the kernel
// refuses the rescan while the writer's exclusive open is held.
func Rescan(ctx context.Context, path string, tries int, wait time.Duration) error {
	var err error
	for i := 0; i < tries; i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(wait):
			}
		}
		var f *os.File
		f, err = os.Open(path)
		if err != nil {
			return fmt.Errorf("rescan %s: %w", path, err)
		}
		_, err = unix.IoctlGetInt(int(f.Fd()), unix.BLKRRPART)
		f.Close()
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			break
		}
	}
	return fmt.Errorf("rescan partitions of %s (BLKRRPART): %w", path, err)
}
