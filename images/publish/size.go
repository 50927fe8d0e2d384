package publish

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads a byte size such as "4MiB", "512KiB", "1GiB" or
// "4194304". Only binary units are accepted (K, M and G mean KiB, MiB and
// GiB): chunk sizes must be multiples of 4 KiB, which decimal units
// (go-humanize's MB = 10^6) would silently miss.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("size %q: want a positive whole number of bytes, KiB, MiB or GiB (e.g. 4MiB)", s)
	}
	return n * mult, nil
}
