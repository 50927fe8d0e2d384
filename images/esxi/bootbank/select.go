package bootbank

import (
	"errors"
	"fmt"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
)

// Candidate is what safeboot knows about one bank when it picks one.
type Candidate struct {
	Partition int             // partition number (5, 6)
	UUID      UUID            // from the magic
	HasMagic  bool            // the "VMWARE FAT16" magic was present
	Config    *bootcfg.Config // parsed /boot.cfg; nil if missing or unreadable
	Err       error           // why Config is nil, if it is
}

// Reason explains why safeboot would skip the bank, or "" if it is bootable.
func (c Candidate) Reason() string {
	switch {
	case !c.HasMagic:
		return "no VMWARE FAT16 magic"
	case c.Config == nil:
		if c.Err != nil {
			return "no usable boot.cfg: " + c.Err.Error()
		}
		return "no boot.cfg"
	}
	u, err := c.Config.Updated()
	switch {
	case err != nil:
		return err.Error()
	case u == 0:
		return "updated=0"
	case c.Config.Build() == "":
		return "empty build="
	case !c.Config.BootState().Bootable():
		return "bootstate " + c.Config.BootState().String()
	}
	return ""
}

// ErrNoBootableBank is returned when no candidate qualifies.
var ErrNoBootableBank = errors.New("no bootable bootbank")

// Select picks the bank safeboot would boot (esx-boot safeboot/bootbank.c):
// magic present, boot.cfg parsed, updated > 0, non-empty build, bootstate
// valid or upgrading; the highest updated wins (the first one listed on a
// tie). The error names every bank and why it was skipped.
func Select(cands []Candidate) (Candidate, error) {
	best := -1
	var bestUpd uint64
	var why []string
	for i, c := range cands {
		if r := c.Reason(); r != "" {
			why = append(why, fmt.Sprintf("bank %d: %s", c.Partition, r))
			continue
		}
		u, _ := c.Config.Updated()
		if best < 0 || u > bestUpd {
			best, bestUpd = i, u
		}
	}
	if best < 0 {
		return Candidate{}, fmt.Errorf("%w (%s)", ErrNoBootableBank, strings.Join(why, "; "))
	}
	return cands[best], nil
}
