package launcher

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

// rig runs the launcher with busybox sh (ESXi's shell) against a stub
// agent whose exit code the test sets, and stubs of esxcli/auto-backup.sh.
type rig struct {
	t                        *testing.T
	dir, agent, script, hook string
	cfg                      Config
}

func newRig(t *testing.T) *rig {
	tooltest.Need(t, "busybox")
	d := t.TempDir()
	r := &rig{t: t, dir: d, agent: filepath.Join(d, "bootbank", "esxi-firstboot"), hook: filepath.Join(d, "etc", "rc.local.d", "999.esxi-firstboot.sh")}
	os.MkdirAll(filepath.Join(d, "bin"), 0o755)
	os.MkdirAll(filepath.Join(d, "tmp"), 0o755)
	os.MkdirAll(filepath.Dir(r.agent), 0o755)
	// The stub agent records its arguments and GOGC, exits with $d/rc.
	os.WriteFile(r.agent, []byte("#!/bin/sh\necho \"args=$* GOGC=$GOGC\" >>"+d+"/agent.calls\nexit $(cat "+d+"/rc)\n"), 0o644)
	os.WriteFile(filepath.Join(d, "bin", "esxcli"), []byte("#!/bin/sh\necho \"$*\" >>"+d+"/esxcli.calls\n"), 0o755)
	os.WriteFile(filepath.Join(d, "bin", "auto-backup.sh"), []byte("#!/bin/sh\necho backup >>"+d+"/backups\n"), 0o755)
	r.cfg = Config{
		AgentPaths: []string{filepath.Join(d, "missing", "esxi-firstboot"), r.agent},
		Args:       []string{"--timeout", "10m", "--metadata", "http://10.0.0.1/it's"},
		StateDir:   filepath.Join(d, "state"), LogFile: filepath.Join(d, "log", "firstboot.log"),
		Hook: r.hook, AutoBackup: filepath.Join(d, "bin", "auto-backup.sh"), TmpDir: filepath.Join(d, "tmp"), MaxAttempts: 2,
	}
	r.script = filepath.Join(d, "001.firstboot_001")
	os.WriteFile(r.script, []byte(Script(r.cfg)), 0o755)
	return r
}

func (r *rig) run(path string, rc string) {
	r.t.Helper()
	os.WriteFile(filepath.Join(r.dir, "rc"), []byte(rc), 0o644)
	cmd := exec.Command("busybox", "sh", path)
	cmd.Env = []string{"PATH=" + filepath.Join(r.dir, "bin") + ":/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("launcher exited %v: %s", err, out)
	}
}

func (r *rig) read(name string) string {
	b, _ := os.ReadFile(filepath.Join(r.dir, name))
	return string(b)
}

func TestSuccess(t *testing.T) {
	r := newRig(t)
	r.run(r.script, "0")
	if got := r.read("agent.calls"); got != "args=run --state-dir "+r.cfg.StateDir+" --timeout 10m --metadata http://10.0.0.1/it's GOGC=off\n" {
		t.Fatalf("agent called as %q", got)
	}
	if !strings.Contains(r.read("esxcli.calls"), "system settings advanced set -o /User/execInstalledOnly -i 0") {
		t.Fatalf("execInstalledOnly not turned off: %q", r.read("esxcli.calls"))
	}
	if _, err := os.Stat(r.hook); err == nil {
		t.Fatal("retry hook installed after success")
	}
	if log := r.read("log/firstboot.log"); !strings.Contains(log, "host configured (exit 0)") {
		t.Fatalf("log:\n%s", log)
	}
	if ents, _ := os.ReadDir(filepath.Join(r.dir, "tmp")); len(ents) != 0 {
		t.Fatalf("agent copy left in tmp: %v", ents)
	}
}

func TestRetryNextBootThenGiveUp(t *testing.T) {
	r := newRig(t)
	r.run(r.script, "10")
	st, err := os.Stat(r.hook)
	if err != nil || st.Mode()&os.ModeSticky == 0 || st.Mode()&0o100 == 0 {
		t.Fatalf("hook %v %v, want executable and sticky", st, err)
	}
	if r.read("backups") != "backup\n" {
		t.Fatalf("hook not persisted: %q", r.read("backups"))
	}
	// Next boot: rc.local runs the hook; the second failure is the last.
	r.run(r.hook, "10")
	if _, err := os.Stat(r.hook); err == nil {
		t.Fatal("hook kept after MaxAttempts")
	}
	log := r.read("log/firstboot.log")
	if !strings.Contains(log, "will retry at next boot") || !strings.Contains(log, "giving up") {
		t.Fatalf("log:\n%s", log)
	}
	// Retry then success removes the hook.
	r2 := newRig(t)
	r2.run(r2.script, "12")
	r2.run(r2.hook, "0")
	if _, err := os.Stat(r2.hook); err == nil {
		t.Fatal("hook kept after success")
	}
	if _, err := os.Stat(filepath.Join(r2.cfg.StateDir, "attempts")); err == nil {
		t.Fatal("attempt counter kept after success")
	}
}

func TestFinalFailuresDoNotRetry(t *testing.T) {
	for rc, want := range map[string]string{"11": "metadata invalid", "13": "rolled back", "14": "ROLLBACK FAILED", "15": "userdata failed", "1": "agent failed with exit 1"} {
		r := newRig(t)
		r.run(r.script, rc)
		if _, err := os.Stat(r.hook); err == nil {
			t.Errorf("exit %s installed a retry hook", rc)
		}
		if log := r.read("log/firstboot.log"); !strings.Contains(log, want) {
			t.Errorf("exit %s: log lacks %q:\n%s", rc, want, log)
		}
	}
}

func TestMissingAgentIsLoggedNotFatal(t *testing.T) {
	r := newRig(t)
	os.Remove(r.agent)
	r.run(r.script, "0")
	if log := r.read("log/firstboot.log"); !strings.Contains(log, "agent not found") {
		t.Fatalf("log:\n%s", log)
	}
}

func TestSyntaxUnderDash(t *testing.T) {
	// The body must also be plain POSIX sh (dash checks that strictly).
	out, err := exec.Command("sh", "-n", "-c", Script(Config{})).CombinedOutput()
	if err != nil {
		t.Fatalf("sh -n: %v %s", err, out)
	}
	if !strings.HasPrefix(Script(Config{}), "#!/bin/sh\n") || strings.HasPrefix(Body(Config{}), "#!") {
		t.Fatal("Script/Body interpreter line")
	}
}
