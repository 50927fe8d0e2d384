package publish

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"golang.org/x/sys/unix"
)

// extent is a [Start, End) byte range of a file that may hold data.
type extent struct{ Start, End int64 }

// dataExtents lists the ranges of f that are not holes, using
// SEEK_DATA/SEEK_HOLE, so chunks that lie entirely in holes are published
// as zero chunks without reading them. A 32 GiB ESXi image typically has
// ~1-2 GiB of data. Filesystems (and block devices) without hole support
// report the whole file as data, which is correct, just slower.
func dataExtents(f *os.File, size int64) ([]extent, error) {
	var out []extent
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole remains
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
			return []extent{{0, size}}, nil // no hole support: all data
		}
		if err != nil {
			return nil, fmt.Errorf("%s: seek data from byte %d: %w", f.Name(), off, err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("%s: seek hole from byte %d: %w", f.Name(), data, err)
		}
		out = append(out, extent{data, min(hole, size)})
		off = hole
	}
	return out, nil
}

// overlapping returns the extents that intersect [start, end).
func overlapping(ext []extent, start, end int64) []extent {
	i := sort.Search(len(ext), func(i int) bool { return ext[i].End > start })
	j := i
	for j < len(ext) && ext[j].Start < end {
		j++
	}
	return ext[i:j]
}
