package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/kickstart"
)

var binary string

// TestMain builds the real esxi-image binary once; the tests run it as an
// operator or CI job would.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "esxi-image-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "esxi-image")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

func TestKickstartLintFiveMistakes(t *testing.T) {
	const file = "../../kickstart/testdata/lint/five-mistakes.cfg"
	out, errOut, code := run(t, nil, "kickstart", "lint", file, "--esxi", "8.0")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d findings, want 5:\n%s", len(lines), out)
	}
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(file) + `:(\d+): \S+: [a-z-]+: error: .+; fix: .+$`)
	wantLines := []string{"3", "4", "5", "6", "8"}
	for i, l := range lines {
		m := re.FindStringSubmatch(l)
		if m == nil || m[1] != wantLines[i] {
			t.Errorf("finding %d %q: want line %s with command, rule and fix", i, l, wantLines[i])
		}
	}
	if !strings.Contains(errOut, "5 error(s)") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestKickstartLintCleanAndStdin(t *testing.T) {
	b, err := os.ReadFile("../../kickstart/testdata/public/maas-style.cfg")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "kickstart", "lint", "-", "--format", "json")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if strings.TrimSpace(string(out)) != "[]" {
		t.Fatalf("json %s", out)
	}
	// Warnings pass unless --strict.
	const warn = "../../kickstart/testdata/edge/last-line-dropped.cfg"
	if _, _, code := run(t, nil, "kickstart", "lint", warn); code != 0 {
		t.Fatalf("warnings only: exit %d", code)
	}
	if _, _, code := run(t, nil, "kickstart", "lint", warn, "--strict"); code != 1 {
		t.Fatalf("--strict: exit %d", code)
	}
	if _, _, code := run(t, []string{"ESXI_VERSION=7.0"}, "kickstart", "lint", "--esxi", "nope", warn); code != 2 {
		t.Fatalf("bad --esxi: exit %d", code)
	}
}

func TestKickstartRender(t *testing.T) {
	const pw = "VMware1!golden"
	dir := t.TempDir()
	outFile := filepath.Join(dir, "ks.cfg")
	stdout, errOut, code := run(t, []string{"ESXI_ROOT_PASSWORD=" + pw}, "kickstart", "render", "../../kickstart/examples/golden.hcl", "-o", outFile)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, errOut)
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(pw)) {
		t.Fatal("plaintext password in the rendered kickstart")
	}
	ks, err := kickstart.Parse(bytes.NewReader(b), "ks.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if fs := kickstart.Lint(ks, kickstart.LintOptions{ESXi: kickstart.Version{Major: 8}}); len(fs) != 0 {
		t.Fatalf("findings in rendered kickstart: %v", fs)
	}
	if !ks.Install().ForceUnsupportedInstall || ks.Install().FirstDiskFilters[0] != "local" {
		t.Fatalf("install %+v", ks.Install())
	}
	// The rendered file is what lint accepts through the CLI too.
	if _, e, code := run(t, nil, "kickstart", "lint", outFile); code != 0 {
		t.Fatalf("lint of rendered file: exit %d %s", code, e)
	}

	// JSON spec with a crypted password, to stdout.
	stdout, errOut, code = run(t, nil, "kickstart", "render", "../../kickstart/examples/golden.json")
	if code != 0 || !strings.Contains(stdout, "install --disk=mpx.vmhba0:C0:T0:L0 --overwritevmfs\n") {
		t.Fatalf("json spec: exit %d\n%s%s", code, stdout, errOut)
	}

	// Missing password variable: fails, writes nothing.
	missing := filepath.Join(dir, "missing.cfg")
	_, errOut, code = run(t, []string{"ESXI_ROOT_PASSWORD="}, "kickstart", "render", "../../kickstart/examples/golden.hcl", "-o", missing)
	if code != 2 || !strings.Contains(errOut, "ESXI_ROOT_PASSWORD is not set") {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("output written on error: %v", err)
	}

	// Weak password: refused by the preset's policy check, never echoed.
	_, errOut, code = run(t, []string{"ESXI_ROOT_PASSWORD=weakpassword"}, "kickstart", "render", "../../kickstart/examples/golden.hcl")
	if code != 1 || !strings.Contains(errOut, "rootpw-weak") || strings.Contains(errOut, "weakpassword") {
		t.Fatalf("weak password: exit %d stderr %q", code, errOut)
	}
}

func TestKickstartLintIncludeRoot(t *testing.T) {
	dir := t.TempDir()
	ks := filepath.Join(dir, "ks.cfg")
	if err := os.WriteFile(ks, []byte("vmaccepteula\nrootpw VMware1!x\n%include /tmp/disk.cfg\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := run(t, nil, "kickstart", "lint", ks)
	if code != 0 || !strings.Contains(out, "install-verb: warning:") {
		t.Fatalf("unresolved: exit %d\n%s", code, out)
	}
	if _, errOut, code := run(t, nil, "kickstart", "lint", ks, "--include-root", dir); code != 1 || !strings.Contains(errOut, "/tmp/disk.cfg") {
		t.Fatalf("missing include: exit %d %s", code, errOut)
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmp", "disk.cfg"), []byte("install --firstdisk --overwritevmfs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := run(t, nil, "kickstart", "lint", ks, "--include-root", dir); code != 0 || out != "" {
		t.Fatalf("resolved: exit %d\n%s%s", code, out, errOut)
	}
}
