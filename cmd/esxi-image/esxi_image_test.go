package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/disk"
	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/iso"
	"github.com/esxi-golden/packer-plugin-esxi/internal/cli"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	code := cli.Run(root, args, &errOut)
	return out.String(), errOut.String(), code
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.iso")
	raw := filepath.Join(dir, "disk.raw")
	if _, e, code := run(t, "fixture", "iso", src, "--shape", "7.0u3"); code != 0 {
		t.Fatalf("fixture iso: %s", e)
	}
	if _, e, code := run(t, "fixture", "disk", raw, "--onetime"); code != 0 {
		t.Fatalf("fixture disk: %s", e)
	}

	out, e, code := run(t, "inspect", src)
	if code != 0 || !strings.Contains(out, "version    7.0.3 (build 7.0.3-0.5.18825058)") ||
		!strings.Contains(out, "1 bios, emulation none, load 4 sectors, /ISOLINUX.BIN boot-info-table") ||
		!strings.Contains(out, "2 efi, emulation none") {
		t.Fatalf("inspect iso (%d %s):\n%s", code, e, out)
	}

	ks := filepath.Join(dir, "ks.cfg")
	os.WriteFile(ks, []byte("vmaccepteula\n"), 0o644)
	dst := filepath.Join(dir, "out.iso")
	if _, e, code := run(t, "remaster", src, dst, "--add", "KS.CFG="+ks, "--kernelopt", "runweasel ks=cdrom:/KS.CFG"); code != 0 {
		t.Fatalf("remaster: %s", e)
	}
	out, _, _ = run(t, "inspect", "--json", dst)
	var info iso.Info
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	if info.KernelOpt != "runweasel ks=cdrom:/KS.CFG" || info.EFIKernOpt != info.KernelOpt || len(info.ElTorito) != 2 {
		t.Fatalf("remastered: %+v", info)
	}

	out, _, code = run(t, "inspect", raw, "--json")
	var dinfo disk.Info
	if err := json.Unmarshal([]byte(out), &dinfo); err != nil || code != 0 {
		t.Fatalf("inspect disk: %v\n%s", err, out)
	}
	if dinfo.Version != "8.0.3" || !dinfo.Banks[0].Active || dinfo.Banks[0].Modules[len(dinfo.Banks[0].Modules)-1] != "onetime.tgz" {
		t.Fatalf("disk info %+v", dinfo)
	}
	out, _, _ = run(t, "inspect", raw, "--json=false")
	if !strings.Contains(out, "bootbank 5: active") || !strings.Contains(out, "  7  OSDATA") {
		t.Fatalf("inspect disk text:\n%s", out)
	}

	_, e, code = run(t, "inspect", ks)
	if code != 1 || strings.Count(e, "\n") != 1 || !strings.Contains(e, "not an ESXi disk layout") || !strings.Contains(e, "not an installer ISO either") {
		t.Fatalf("inspect of a text file: %d %q", code, e)
	}
	_, e, code = run(t, "remaster", src, filepath.Join(dir, "bad.iso"), "--add", "KS.CFG")
	if code != 1 || !strings.Contains(e, "want ISO_PATH=LOCAL_FILE") {
		t.Fatalf("bad --add: %d %q", code, e)
	}
}

func TestParseSize(t *testing.T) {
	tests := map[string]int64{"32GiB": 32 << 30, "1.24GiB": 1331439616, "4KiB": 4096, "512": 512, "100MB": 100_000_000}
	for in, want := range tests {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d %v, want %d", in, got, err, want)
		}
	}
	if _, err := parseSize("lots"); err == nil {
		t.Error("parseSize(lots) succeeded")
	}
}
