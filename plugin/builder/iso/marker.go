package iso

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// The completion marker: the last %post command before halt writes a
// per-build token into bootbank 1, and the builder reads it back from the
// disk offline after the guest powered off. It proves the install ran to
// the end of %post on this disk in this build, whatever the installer
// printed. ESXi shows the new bootbanks to %post as
// /vmfs/volumes/BOOTBANK1 and BOOTBANK2 (their FAT labels); bootbank file
// names must be 8.3.
const (
	MarkerDir       = "/vmfs/volumes/BOOTBANK1/"
	MarkerFile      = "GOLDEN.OK"
	MarkerPartition = 5
	markerPrefix    = "esxi-golden-complete"
)

// newMarkerToken returns a fresh random token for one build.
func newMarkerToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// markerCommand is the %post command that writes the marker.
func markerCommand(token string) string {
	return fmt.Sprintf("echo %s %s > %s%s", markerPrefix, token, MarkerDir, MarkerFile)
}

// markerContent is what the marker file must hold.
func markerContent(token string) string {
	return markerPrefix + " " + token + "\n"
}
