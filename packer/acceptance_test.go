// Package packer holds the HCL templates users run; this test runs them
// for real: bin/packer build with the installed plugin on the installer
// simulator ISO, under QEMU, once for a clean install and once per
// simulator fault mode.
package packer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/images/esxi/disk"
	"github.com/esxi-golden/packer-plugin-esxi/images/simulator"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

// env returns a variable make test-go sets, failing the test without it.
func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run `make test-go` (it builds bin/packer, the plugin and the simulator ISO)", name)
	}
	return v
}

type run struct {
	out     string
	err     error
	elapsed time.Duration
	outDir  string
	tmpDir  string
}

// build runs `packer build` on this directory's template with the
// simulator ISO, a private TMPDIR and output dir, and extra -var flags.
func build(t *testing.T, vars ...string) run {
	t.Helper()
	packerBin := env(t, "ESXI_TEST_PACKER")
	iso := env(t, "ESXI_TEST_SIMULATOR_ISO")
	env(t, "PACKER_PLUGIN_PATH")
	work := t.TempDir()
	r := run{outDir: filepath.Join(work, "out"), tmpDir: filepath.Join(work, "tmp")}
	if err := os.Mkdir(r.tmpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"build", "-color=false",
		"-var-file=simulator.pkrvars.hcl",
		"-var", "iso_url=" + iso,
		"-var", "iso_checksum=sha256:" + sha256File(t, iso),
		"-var", "output_dir=" + r.outDir,
	}
	for _, v := range vars {
		args = append(args, "-var", v)
	}
	args = append(args, ".")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, packerBin, args...)
	cmd.Env = append(os.Environ(), "TMPDIR="+r.tmpDir, "PKR_VAR_root_password=Golden-Test-42x", "CHECKPOINT_DISABLE=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	r.err = cmd.Run()
	r.elapsed = time.Since(start)
	r.out = out.String()
	t.Logf("packer build %s: %s (err=%v)", strings.Join(vars, " "), r.elapsed.Round(100*time.Millisecond), r.err)
	return r
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// leftovers fails the test if the build left a QEMU process using its
// files, a temp file, or (for a failed build) its output directory.
func leftovers(t *testing.T, r run, failed bool) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte("qemu")) && bytes.Contains(b, []byte(r.tmpDir)) {
			t.Errorf("a QEMU process is still running: %s", bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
	ents, _ := os.ReadDir(r.tmpDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "packer-esxi-") {
			t.Errorf("temp dir left behind: %s", filepath.Join(r.tmpDir, e.Name()))
		}
	}
	if _, err := os.Stat(r.outDir); failed && err == nil {
		t.Errorf("output dir %s left behind by a failed build", r.outDir)
	}
}

func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	tooltest.Need(t, name)
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// extract copies size bytes at off of a sparse image into a new sparse
// file, copying only the data extents (SEEK_DATA/SEEK_HOLE): reading a
// 4 GiB bootbank's holes with dd takes tens of seconds here.
func extract(t *testing.T, src string, off, size int64) string {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dst := filepath.Join(t.TempDir(), "part.img")
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := out.Truncate(size); err != nil {
		t.Fatal(err)
	}
	const seekData, seekHole = 3, 4
	end := off + size
	for pos := off; pos < end; {
		data, err := in.Seek(pos, seekData)
		if err != nil || data >= end {
			break // ENXIO: no data after pos
		}
		hole, err := in.Seek(data, seekHole)
		if err != nil {
			t.Fatal(err)
		}
		if hole > end {
			hole = end
		}
		if _, err := io.Copy(io.NewOffsetWriter(out, data-off), io.NewSectionReader(in, data, hole-data)); err != nil {
			t.Fatal(err)
		}
		pos = hole
	}
	return dst
}

func TestBuildOnSimulator(t *testing.T) {
	r := build(t)
	if r.err != nil {
		t.Fatalf("packer build failed: %v\n%s", r.err, r.out)
	}
	leftovers(t, r, false)
	raw := filepath.Join(r.outDir, "esxi-golden.raw")

	// The GPT, checked by sgdisk.
	if out := tool(t, "sgdisk", "-v", raw); !strings.Contains(out, "No problems found") {
		t.Errorf("sgdisk -v: %s", out)
	}
	// The layout ESXi's rules give the template's disk (40 GiB,
	// system_media_size "min": OSDATA ends at 32 GiB, a datastore after
	// it), so the boot option is seen to reach the installer.
	plan, err := disk.Plan(disk.Family7, 40<<30, disk.Options{SystemMediaSize: "min"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := disk.Open(raw)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	if !reflect.DeepEqual(d.Layout.Partitions, plan.Partitions) {
		t.Errorf("installed layout\n%+v\nwant ESXi's\n%+v", d.Layout.Partitions, plan.Partitions)
	}
	// Every FAT partition, checked by fsck.fat on a sparse copy.
	for _, p := range plan.Partitions {
		if !p.IsFAT() {
			continue
		}
		img := extract(t, raw, p.Offset(), p.Size())
		tool(t, "fsck.fat", "-n", img)
		if p.Number != 5 {
			continue
		}
		// Bootbank 1: boot.cfg with the ISO's build, the %firstboot
		// script in onetime.tgz, read with mtools and tar.
		cfg := tool(t, "mtype", "-i", img, "::/boot.cfg")
		for _, want := range []string{"build=" + simulator.DefaultBuild, "onetime.tgz", "state.tgz", "updated=1"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("bootbank 1 boot.cfg lacks %q:\n%s", want, cfg)
			}
		}
		tgz := filepath.Join(t.TempDir(), "onetime.tgz")
		tool(t, "mcopy", "-i", img, "::/onetime.tgz", tgz)
		script := tool(t, "tar", "-xzOf", tgz, "var/lib/vmware/firstboot/010.firstboot_001")
		if !strings.Contains(script, "FollowHardwareMac") {
			t.Errorf("onetime.tgz first-boot script lacks the template's %%firstboot body:\n%s", script)
		}
	}
	// The artifact's companions.
	ks, err := os.ReadFile(filepath.Join(r.outDir, "ks-redacted.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ks, []byte("$6$")) || !bytes.Contains(ks, []byte("rootpw --iscrypted [redacted]")) {
		t.Errorf("kickstart copy is not redacted:\n%s", ks)
	}
	console, err := os.ReadFile(filepath.Join(r.outDir, "install-console.log"))
	if err != nil || !bytes.Contains(console, []byte(simulator.HaltLine)) {
		t.Errorf("console log lacks %q (err %v):\n%s", simulator.HaltLine, err, console)
	}
	var manifest struct {
		Builds []struct {
			CustomData map[string]string `json:"custom_data"`
		} `json:"builds"`
	}
	b, err := os.ReadFile(filepath.Join(r.outDir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &manifest); err != nil || len(manifest.Builds) != 1 {
		t.Fatalf("manifest.json: %v\n%s", err, b)
	}
	if cd := manifest.Builds[0].CustomData; cd["esxi_version"] != "8.0.3" || cd["esxi_build"] != "24022510" {
		t.Errorf("generated data build.ESXiVersion/ESXiBuild = %v, want 8.0.3 / 24022510", cd)
	}
}

func TestBuildFailsOnEachSimulatorFault(t *testing.T) {
	for _, tc := range []struct {
		fault simulator.Fault
		vars  []string
		want  string // quoted in the build error
	}{
		{simulator.FaultPSOD, nil, `shows a PSOD: "` + simulator.PSODLine + `"`},
		{simulator.FaultInstaller, nil, `shows an installer error: "` + simulator.InstallerErrorLine + `"`},
		{simulator.FaultKickstart, nil, `shows a kickstart error: "` + simulator.KickstartErrorLine + `"`},
		// Long enough to boot on a loaded 2-core TCG machine.
		{simulator.FaultHang, []string{"install_timeout=45s"}, `install_timeout reached (45s) before the guest powered off; last console line: "`},
		{simulator.FaultCrash, nil, `guest did not power off: qemu exited with status 0, shutdown reason guest-reset`},
	} {
		t.Run(string(tc.fault), func(t *testing.T) {
			vars := append([]string{fmt.Sprintf(`boot_options=["%s=%s"]`, simulator.FaultOption, tc.fault)}, tc.vars...)
			r := build(t, vars...)
			if r.err == nil {
				t.Fatalf("build succeeded on fault %s:\n%s", tc.fault, r.out)
			}
			if !strings.Contains(r.out, tc.want) {
				t.Errorf("build output lacks %q:\n%s", tc.want, r.out)
			}
			leftovers(t, r, true)
		})
	}
}

// TestInterruptLeavesNothing sends Ctrl-C (SIGINT) to packer while the
// simulator hangs and checks the cleanup ran.
func TestInterruptLeavesNothing(t *testing.T) {
	packerBin := env(t, "ESXI_TEST_PACKER")
	iso := env(t, "ESXI_TEST_SIMULATOR_ISO")
	work := t.TempDir()
	r := run{outDir: filepath.Join(work, "out"), tmpDir: filepath.Join(work, "tmp")}
	if err := os.Mkdir(r.tmpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(packerBin, "build", "-color=false", "-var-file=simulator.pkrvars.hcl",
		"-var", "iso_url="+iso, "-var", "iso_checksum=sha256:"+sha256File(t, iso),
		"-var", "output_dir="+r.outDir, "-var", fmt.Sprintf(`boot_options=["%s=%s"]`, simulator.FaultOption, simulator.FaultHang), ".")
	cmd.Env = append(os.Environ(), "TMPDIR="+r.tmpDir, "PKR_VAR_root_password=Golden-Test-42x", "CHECKPOINT_DISABLE=1")
	// Ctrl-C in a terminal signals the whole foreground process group
	// (packer's panicwrap parent ignores a SIGINT sent to it alone).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "console: Installing ESXi") {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("the simulator never started installing:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	start := time.Now()
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(time.Minute, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err := cmd.Wait()
	timer.Stop()
	t.Logf("packer exited %s after SIGINT (err=%v)", time.Since(start).Round(100*time.Millisecond), err)
	if err == nil {
		t.Errorf("interrupted build exited 0:\n%s", out.String())
	}
	leftovers(t, r, true)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A kickstart lint error (here the installer's password policy) fails
// `packer validate`, naming the rule, without printing the password.
func TestValidateFailsOnKickstartLint(t *testing.T) {
	packerBin := env(t, "ESXI_TEST_PACKER")
	env(t, "PACKER_PLUGIN_PATH")
	cmd := exec.Command(packerBin, "validate", "-var-file=simulator.pkrvars.hcl", "-var", "iso_url=x.iso", "-var", "iso_checksum=none", ".")
	cmd.Env = append(os.Environ(), "PKR_VAR_root_password=alllowercase", "CHECKPOINT_DISABLE=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("packer validate passed with a weak root password:\n%s", out)
	}
	if !strings.Contains(string(out), "rootpw-weak") || strings.Contains(string(out), "alllowercase") {
		t.Errorf("validate output should name rootpw-weak and hide the password:\n%s", out)
	}
}
