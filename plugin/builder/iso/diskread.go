package iso

import (
	esxidisk "github.com/esxi-golden/packer-plugin-esxi/images/esxi/disk"
)

// readDiskFile reads one file from FAT partition part of an installed
// disk image offline (format library: GPT, layout check, FAT16 volume).
func readDiskFile(path string, part int, name string) ([]byte, error) {
	d, err := esxidisk.Open(path)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadFile(part, name)
}
