package simulator

import (
	"compress/gzip"
	"fmt"
	"io"
	"path"

	"github.com/u-root/u-root/pkg/cpio"
)

// InitramfsFile is one regular file for the initramfs.
type InitramfsFile struct {
	Path string // absolute path inside the initramfs, e.g. "/init"
	Data []byte
	Mode uint64 // permission bits
}

// ModulesOrderPath lists, one per line, the module files /init loads in order.
const ModulesOrderPath = "/etc/modules.order"

// WriteInitramfs writes a gzip-compressed newc cpio holding files plus the
// directories and the /dev/console node the kernel needs before /init runs.
// The archive is written in Go (u-root's cpio) so that device node goes in
// without root, and every record is made reproducible (no mtimes, uid 0).
func WriteInitramfs(w io.Writer, files []InitramfsFile) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	rw := cpio.NewDedupWriter(cpio.Newc.Writer(zw))
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.Directory("proc", 0o755),
		cpio.Directory("sys", 0o755),
		cpio.Directory("cdrom", 0o755),
		cpio.Directory("tmp", 0o1777),
	}
	for _, f := range files {
		name := cpio.Normalize(path.Clean(f.Path))
		if name == "" || name == "." {
			return fmt.Errorf("initramfs: bad path %q", f.Path)
		}
		recs = append(recs, cpio.StaticRecord(f.Data, cpio.Info{Name: name, Mode: 0o100000 | f.Mode}))
	}
	cpio.MakeAllReproducible(recs)
	if err := cpio.WriteRecordsAndDirs(rw, recs); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return zw.Close()
}
