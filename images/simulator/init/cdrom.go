//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// readCD reads a file from the mounted CD by its ESXi path ("/KS.CFG").
// Without Rock Ridge, Linux shows ISO9660 names in lower case and may keep
// the ";1" version suffix, so each component matches case-insensitively.
func readCD(root, p string) ([]byte, error) {
	dir := root
	parts := strings.Split(strings.Trim(p, "/"), "/")
	for i, part := range parts {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		found := ""
		for _, e := range ents {
			name := strings.TrimSuffix(e.Name(), ";1")
			name = strings.TrimSuffix(name, ".") // "KS." for extension-less names
			if strings.EqualFold(name, part) && (i == len(parts)-1) != e.IsDir() {
				found = e.Name()
				break
			}
		}
		if found == "" {
			return nil, fmt.Errorf("%s: no such file on the CD (looked for %q in %s)", p, part, dir)
		}
		dir = filepath.Join(dir, found)
	}
	return os.ReadFile(dir)
}
