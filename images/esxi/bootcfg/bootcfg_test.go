package bootcfg

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func load(t testing.TB, name string) ([]byte, *Config) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseBytes(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b, c
}

func TestParseRealShapes(t *testing.T) {
	tests := []struct {
		file       string
		kernel     string
		build      string
		updated    uint64
		state      BootState
		nmods      int
		firstMod   string
		lastMod    string
		kernelopt  string
		prefix     string
		hasPrefix  bool
		kernelPath string // ResolvePath(cfgDir "/EFI/BOOT", kernel)
	}{
		{"installer-8.0u3.cfg", "/b.b00", "8.0.3-0.0.24022510", 0, StateValid, 109, "/jumpstrt.gz", "/imgpayld.tgz", "runweasel cdromBoot", "", true, "/b.b00"},
		{"installer-7.0u3.cfg", "/b.b00", "7.0.3-0.5.18825058", 0, StateValid, 93, "/jumpstrt.gz", "/imgpayld.tgz", "runweasel cdromBoot", "", true, "/b.b00"},
		{"installed-7.0u3.cfg", "b.b00", "7.0.3-0.0.18644231", 1, StateValid, 21, "jumpstrt.gz", "onetime.tgz", "autoPartition=FALSE", "", true, "/b.b00"},
		{"installed-6.0-tboot.cfg", "tboot.b00", "6.0.0-3620759", 2, StateValid, 19, "b.b00", "state.tgz", "no-auto-partition", "", true, "/tboot.b00"},
		{"quirks-crlf.cfg", "b.b00", "", 4, StateUpgrading, 3, "b.b00", "state.tgz", "a=1 flag a=2", "", false, "/EFI/BOOT/b.b00"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, c := load(t, tt.file)
			if got := c.Kernel(); got != tt.kernel {
				t.Errorf("kernel %q, want %q", got, tt.kernel)
			}
			if got := c.Build(); got != tt.build {
				t.Errorf("build %q, want %q", got, tt.build)
			}
			u, err := c.Updated()
			if err != nil || u != tt.updated {
				t.Errorf("updated %d %v, want %d", u, err, tt.updated)
			}
			if got := c.BootState(); got != tt.state {
				t.Errorf("bootstate %v, want %v", got, tt.state)
			}
			mods := c.Modules()
			if len(mods) != tt.nmods || mods[0].Path != tt.firstMod || mods[len(mods)-1].Path != tt.lastMod {
				t.Errorf("modules: %d, first %q last %q; want %d %q %q", len(mods), mods[0].Path, mods[len(mods)-1].Path, tt.nmods, tt.firstMod, tt.lastMod)
			}
			if got := c.KernelOpt().String(); got != tt.kernelopt {
				t.Errorf("kernelopt %q, want %q", got, tt.kernelopt)
			}
			p, ok := c.Prefix()
			if p != tt.prefix || ok != tt.hasPrefix {
				t.Errorf("prefix %q %v", p, ok)
			}
			if got := c.ResolvePath("/EFI/BOOT", c.Kernel()); got != tt.kernelPath {
				t.Errorf("resolved kernel %q, want %q", got, tt.kernelPath)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("validate: %v", err)
			}
			if got := c.Bytes(); !bytes.Equal(got, raw) {
				t.Errorf("round trip changed the file:\n%q\nwant\n%q", got, raw)
			}
		})
	}
}

func TestQuirks(t *testing.T) {
	_, c := load(t, "quirks-crlf.cfg")
	if got := c.Title(); got != "Loading VMware ESXi" {
		t.Errorf("title %q: spaces not trimmed/merged", got)
	}
	mods := c.Modules()
	if got := mods[1]; got.Path != "k.b00" || strings.Join(got.Args, ",") != "arg1,arg2" {
		t.Errorf("module args %+v", got)
	}
	if o, _ := c.KernelOpt().Get("a"); o.Value != "2" {
		t.Errorf("kernelopt a=%q, want the last (2)", o.Value)
	}
	if v, _ := c.Get("NoBootIf"); v != "1" {
		t.Errorf("case-insensitive get: %q", v)
	}
	wantKeys := "BOOTSTATE Title kernel kernelopt modules updated nobootif"
	if got := strings.Join(c.Keys(), " "); got != wantKeys {
		t.Errorf("keys %q, want %q", got, wantKeys)
	}
	c.SetUpdated(5)
	out := string(c.Bytes())
	if strings.Count(out, "updated=") != 1 || !strings.Contains(out, "updated=5\r\n") || !strings.HasSuffix(out, "nobootif=1") {
		t.Errorf("set updated:\n%q", out)
	}
	if !strings.Contains(out, "this line has no equals\r\n") || !strings.HasPrefix(out, "# edited by hand\r\n") {
		t.Errorf("unknown lines lost:\n%q", out)
	}
}

func TestBadValues(t *testing.T) {
	_, c := load(t, "bad-values.cfg")
	if c.BootState() != StateUndefined || c.BootState().Bootable() {
		t.Errorf("bootstate 9 should be undefined, got %v", c.BootState())
	}
	if _, err := c.Updated(); err == nil || !strings.Contains(err.Error(), `updated="x"`) {
		t.Errorf("updated=x error %v", err)
	}
	if err := c.Validate(); err == nil {
		t.Error("validate accepted updated=x")
	}
	empty, _ := ParseBytes([]byte("title=x\n"))
	if err := empty.Validate(); err != ErrNoKernel {
		t.Errorf("validate without kernel: %v", err)
	}
	if _, err := ParseBytes([]byte("kernel=a\x00")); err == nil || !strings.Contains(err.Error(), "offset 8") {
		t.Errorf("NUL: %v", err)
	}
	if _, err := ParseBytes(make([]byte, MaxSize+1)); err != ErrTooLarge {
		t.Errorf("too large: %v", err)
	}
}

func TestBootStateStaysInFirst512Bytes(t *testing.T) {
	var b strings.Builder
	b.WriteString("title=x\nkernel=b.b00\nmodules=" + strings.Repeat("m.v00 --- ", 80) + "s.v00\nbootstate=0\n")
	c, err := ParseBytes([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	c.SetBootState(StateUpgrading)
	out := string(c.Bytes())
	i := strings.Index(out, "bootstate=1\n")
	if i < 0 || i+len("bootstate=1\n") > BootStateLimit {
		t.Fatalf("bootstate at %d:\n%s", i, out)
	}
	again, _ := ParseBytes([]byte(out))
	if again.BootState() != StateUpgrading || len(again.Modules()) != 81 {
		t.Fatalf("reparse: %v %d", again.BootState(), len(again.Modules()))
	}
}

func TestEditInstaller(t *testing.T) {
	_, c := load(t, "installer-8.0u3.cfg")
	c.SetKernelOpt(c.KernelOpt().Merge(ParseOptions("runweasel ks=cdrom:/KS.CFG")))
	if got := c.Value(KeyKernelOpt); got != "runweasel cdromBoot ks=cdrom:/KS.CFG" {
		t.Errorf("kernelopt %q", got)
	}
	c.SetKernelOpt(c.KernelOpt().Set(Option{Key: "ks", Value: "usb:/KS.CFG", HasValue: true}).Remove("cdromBoot"))
	if got := c.Value(KeyKernelOpt); got != "runweasel ks=usb:/KS.CFG" {
		t.Errorf("kernelopt %q", got)
	}
	c.AppendModule(Module{Path: "/onetime.tgz"})
	c.AppendModule(Module{Path: "/ONETIME.TGZ"})
	if m := c.Modules(); len(m) != 110 || m[109].Path != "/onetime.tgz" {
		t.Errorf("append: %d", len(m))
	}
	if !c.RemoveModule("/onetime.tgz") || c.RemoveModule("/nope") || len(c.Modules()) != 109 {
		t.Error("remove module")
	}
	c.Delete(KeyTimeout)
	if _, ok := c.Get("timeout"); ok {
		t.Error("delete")
	}
	c.Set("newkey", "v")
	if !strings.HasSuffix(c.String(), "updated=0\nnewkey=v\n") {
		t.Errorf("append key:\n%s", c.String())
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.cfg")
	for _, name := range files {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseBytes(b)
		if err != nil {
			return
		}
		keys := c.Keys()
		vals := map[string]string{}
		for _, k := range keys {
			vals[strings.ToLower(k)] = c.Value(k)
		}
		out := c.Bytes()
		if c.find(KeyBootState) < 0 && !bytes.Equal(out, b) && !bytes.Contains(b, []byte("\r")) {
			t.Fatalf("unmodified render differs:\n%q\n%q", out, b)
		}
		again, err := ParseBytes(out)
		if err != nil {
			t.Fatalf("reparse: %v", err)
		}
		for k, v := range vals {
			if got := again.Value(k); got != v {
				t.Fatalf("key %q: %q after render, was %q", k, got, v)
			}
		}
		_ = c.Modules()
		_ = c.KernelOpt()
		_ = c.BootState()
		_, _ = c.Updated()
		c.SetKernelOpt(c.KernelOpt().Merge(ParseOptions("ks=cdrom:/KS.CFG")))
		c.SetBootState(StateValid)
		third, err := ParseBytes(c.Bytes())
		if err != nil || third.BootState() != StateValid || third.KernelOpt().String() != c.KernelOpt().String() {
			t.Fatalf("edit round trip: %v", err)
		}
	})
}
