package iso

import (
	"fmt"
	"strings"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/bootcfg"
	esxiiso "github.com/esxi-golden/packer-plugin-esxi/images/esxi/iso"
)

// isoInfo is what the builder learns about the installer ISO.
type isoInfo struct {
	Version string // e.g. 8.0.3
	Build   string // build number, e.g. 24022510
	Full    string // build= value, e.g. 8.0.3-0.0.24022510
}

// remasterISO copies the installer ISO src to dst with the kickstart added
// as /KS.CFG and edit applied to both BOOT.CFGs (format library: ISO9660
// without Rock Ridge, both El Torito entries kept), and reads the ESXi
// version and build from the source's BOOT.CFG.
func remasterISO(src, dst string, ks []byte, edit func(*bootcfg.Config)) (isoInfo, error) {
	var info isoInfo
	in, err := esxiiso.Open(src)
	if err != nil {
		return info, err
	}
	meta, err := in.Inspect()
	in.Close()
	if err != nil {
		return info, err
	}
	info.Full = meta.Build
	info.Version, info.Build = splitBuild(meta.Build)
	if info.Version == "" || info.Build == "" {
		return info, fmt.Errorf("%s: BOOT.CFG build=%q is not VERSION-X.Y.BUILD", src, meta.Build)
	}
	err = esxiiso.Remaster(src, dst, esxiiso.RemasterOptions{
		Add: []esxiiso.File{{Path: KickstartISOPath, Data: ks}},
		Edit: func(_ string, c *bootcfg.Config) error {
			edit(c)
			return nil
		},
	})
	return info, err
}

// splitBuild splits "8.0.3-0.0.24022510" into "8.0.3" and "24022510".
func splitBuild(full string) (version, build string) {
	v, rest, ok := strings.Cut(full, "-")
	if !ok {
		return "", ""
	}
	i := strings.LastIndex(rest, ".")
	return v, rest[i+1:]
}
