package bootcfg

import (
	"strconv"
)

// BootState is safeboot's bank state (esx-boot safeboot/bootbank.c).
type BootState int

// Bank states. Missing or unparsable values are Undefined, which safeboot
// treats as not bootable (the cautious default u-root also uses).
const (
	StateValid     BootState = 0 // boots
	StateUpgrading BootState = 1 // boots once, safeboot rewrites it to Dirty first
	StateDirty     BootState = 2 // a failed upgrade: safeboot marks it Invalid and rolls back
	StateInvalid   BootState = 3
	StateUndefined BootState = -1
)

func (s BootState) String() string {
	switch s {
	case StateValid:
		return "valid"
	case StateUpgrading:
		return "upgrading"
	case StateDirty:
		return "dirty"
	case StateInvalid:
		return "invalid"
	}
	return "undefined"
}

// Bootable reports whether safeboot would boot a bank in this state.
func (s BootState) Bootable() bool { return s == StateValid || s == StateUpgrading }

// BootState returns the bootstate= value: missing ⇒ Undefined, empty ⇒
// Valid (empty means 0 in the bootloader's grammar), above 3 ⇒ Undefined.
func (c *Config) BootState() BootState {
	v, ok := c.Get(KeyBootState)
	if !ok {
		return StateUndefined
	}
	if v == "" {
		return StateValid
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 3 {
		return StateUndefined
	}
	return BootState(n)
}

// SetBootState writes bootstate=s. Bytes keeps the line within the first
// 512 bytes.
func (c *Config) SetBootState(s BootState) {
	c.Set(KeyBootState, strconv.Itoa(int(s)))
}
