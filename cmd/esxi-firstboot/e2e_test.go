package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi/fakehost"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/launcher"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/report"
	"github.com/esxi-golden/packer-plugin-esxi/internal/tooltest"
)

var update = flag.Bool("update", false, "rewrite golden files")

const (
	module   = "github.com/esxi-golden/packer-plugin-esxi"
	maxBytes = 10 << 20 // the agent must fit in 10 MiB
)

var secrets = []string{"SECRETHASHexampleonlyNOTREAL", "SECRET-USERDATA-token=hunter2"}

// binaries are built once per test binary run.
var (
	buildOnce sync.Once
	bins      map[string]string
	buildErr  error
)

func build(t *testing.T) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "esxi-firstboot-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		bins = map[string]string{}
		for name, pkg := range map[string]string{
			"esxi-firstboot": module + "/cmd/esxi-firstboot",
			"noepoll":        module + "/firstboot/internal/noepoll",
			"fakeesx":        module + "/firstboot/esxi/fakehost/fakeesx",
			"stockhttp":      "./testdata/stockhttp",
		} {
			out := filepath.Join(dir, name)
			cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
				return
			}
			bins[name] = out
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return bins
}

// server serves the Equinix fixture; /metadata fails its first requests
// (500, truncated) so the agent's backoff runs under the filter too.
type server struct {
	mu     sync.Mutex
	doc    string
	faults []string
	posts  []string
	url    string
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.URL.Path == "/metadata":
		if len(s.faults) > 0 {
			f := s.faults[0]
			s.faults = s.faults[1:]
			if f == "500" {
				http.Error(w, "warming up", 500)
				return
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(s.doc)))
			io.WriteString(w, s.doc[:len(s.doc)/2])
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		io.WriteString(w, s.doc)
	case r.URL.Path == "/userdata":
		b, _ := os.ReadFile("../../firstboot/metadata/testdata/equinix-userdata")
		w.Write(b)
	case r.Method == "POST":
		b, _ := io.ReadAll(r.Body)
		s.posts = append(s.posts, r.URL.Path+" "+string(b))
	default:
		http.NotFound(w, r)
	}
}

func (s *server) Posts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.posts...)
}

func startServer(t *testing.T, faults ...string) *server {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{url: "http://" + l.Addr().String(), faults: faults}
	doc, err := os.ReadFile("../../firstboot/metadata/testdata/equinix-metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	s.doc = strings.ReplaceAll(string(doc), "http://tinkerbell.da11.packet.net", s.url)
	srv := httptest.NewUnstartedServer(s)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return s
}

// host is the fake ESXi host on disk: tools linked to fakeesx, a state
// file, a root tree.
type host struct {
	tools, stateFile, root, stateDir string
}

func newHost(t *testing.T, b map[string]string) *host {
	d := t.TempDir()
	h := &host{tools: filepath.Join(d, "tools"), stateFile: filepath.Join(d, "host.json"), root: filepath.Join(d, "root"), stateDir: filepath.Join(d, "state")}
	os.MkdirAll(h.tools, 0o755)
	for _, n := range []string{"esxcli", "localcli", "vim-cmd", "vmkping", "auto-backup.sh", "bootOption", "vmware-rpctool"} {
		if err := os.Symlink(b["fakeesx"], filepath.Join(h.tools, n)); err != nil {
			t.Fatal(err)
		}
	}
	f := fakehost.New("0c:42:a1:5e:00:10", "0c:42:a1:5e:00:11")
	f.Reachable = append(f.Reachable, "198.51.100.10", "2001:db8:4200:1a00::6")
	if err := f.Save(h.stateFile); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(h.root, "etc"), 0o755)
	os.WriteFile(filepath.Join(h.root, "etc/shadow"), []byte("root:*:19000:0:99999:7:::\n"), 0o600)
	return h
}

type result struct {
	code           int
	stdout, stderr string
}

// run executes argv with stdout/stderr in regular files (as the launcher
// does), optionally under the noepoll filter.
func run(t *testing.T, b map[string]string, filtered bool, env []string, argv ...string) result {
	t.Helper()
	if filtered {
		argv = append([]string{b["noepoll"]}, argv...)
	}
	d := t.TempDir()
	so, _ := os.Create(filepath.Join(d, "stdout"))
	se, _ := os.Create(filepath.Join(d, "stderr"))
	defer so.Close()
	defer se.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = so, se
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
	err := cmd.Run()
	var r result
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	o, _ := os.ReadFile(so.Name())
	e, _ := os.ReadFile(se.Name())
	r.stdout, r.stderr = string(o), string(e)
	return r
}

func (h *host) agentArgs(b map[string]string, url, timeout string) []string {
	return []string{b["esxi-firstboot"], "run", "--provider", "equinix", "--metadata", url, "--tools-dir", h.tools,
		"--root", h.root, "--state-dir", h.stateDir, "--seed-dir", filepath.Join(h.root, "no-seed"), "--no-probe",
		"--timeout", timeout, "--check-tries", "2", "--log-level", "debug"}
}

func TestAgentUnderNoEpollFilter(t *testing.T) {
	b := build(t)
	st, err := os.Stat(b["esxi-firstboot"])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("esxi-firstboot static binary: %d bytes (%.2f MiB, limit 10 MiB)", st.Size(), float64(st.Size())/(1<<20))
	if st.Size() > maxBytes {
		t.Errorf("agent is %d bytes, over the 10 MiB budget", st.Size())
	}

	// The control: stock net/http works without the filter, crashes under it.
	srv := startServer(t)
	if r := run(t, b, false, nil, b["stockhttp"], srv.url+"/metadata"); r.code != 0 {
		t.Fatalf("stock binary failed unfiltered: %+v", r)
	}
	r := run(t, b, true, nil, b["stockhttp"], srv.url+"/metadata")
	if r.code == 0 || !strings.Contains(r.stderr, "netpoll failed") {
		t.Fatalf("stock net/http binary did not crash under the filter: %+v", r)
	}
	t.Logf("stock net/http under the filter: exit %d, %q", r.code, firstLine(r.stderr))

	// The agent: a full provisioning run, then a verify-only re-run.
	srv = startServer(t, "500", "truncate", "500")
	h := newHost(t, b)
	env := []string{"FAKEESX_STATE=" + h.stateFile}
	r = run(t, b, true, env, h.agentArgs(b, srv.url, "60s")...)
	if r.code != 0 || strings.Contains(r.stderr, "netpoll") {
		t.Fatalf("agent under the filter: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "metadata fetch failed, retrying") {
		t.Errorf("the injected 500s were not retried:\n%s", r.stderr)
	}
	f, err := fakehost.Load(h.stateFile)
	if err != nil {
		t.Fatal(err)
	}
	if f.State.FQDN != "esx-da-01.example.net" || f.State.VMK("vmk0").IPv4 != "198.51.100.11" || f.Backups == 0 {
		t.Fatalf("host not configured: %+v backups %d", f.State, f.Backups)
	}
	var res report.Result
	rb, _ := os.ReadFile(filepath.Join(h.stateDir, "result.json"))
	if json.Unmarshal(rb, &res) != nil || res.Status != "succeeded" {
		t.Fatalf("result.json: %s", rb)
	}
	if len(srv.Posts()) != 3 {
		t.Fatalf("posts %q", srv.Posts())
	}
	scan(t, map[string]string{"stdout": r.stdout, "stderr": r.stderr, "posts": strings.Join(srv.Posts(), "\n")}, h.stateDir, h.stateFile)

	changes := f.Changes
	r = run(t, b, true, env, h.agentArgs(b, srv.url, "60s")...)
	if r.code != 0 || !strings.Contains(r.stdout, "verified") {
		t.Fatalf("second run: exit %d %s\n%s", r.code, r.stdout, r.stderr)
	}
	if f, _ = fakehost.Load(h.stateFile); f.Changes != changes {
		t.Fatalf("second run changed the host (%d → %d)", changes, f.Changes)
	}

	// Nothing answers: the retry loop sleeps under the filter until the
	// deadline, then exits 10 without touching the host.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	h2 := newHost(t, b)
	r = run(t, b, true, []string{"FAKEESX_STATE=" + h2.stateFile}, h2.agentArgs(b, dead, "3s")...)
	if r.code != 10 || strings.Contains(r.stderr, "netpoll") {
		t.Fatalf("no metadata: exit %d\n%s", r.code, r.stderr)
	}
	if f, _ := fakehost.Load(h2.stateFile); len(f.Calls) != 0 {
		t.Fatalf("host touched without metadata: %v", f.CallStrings())
	}
}

// TLS works where the poller does (plan on Linux); where it cannot (ESXi,
// the filter) the agent refuses https with a clear error instead of
// crashing: crypto randomness arms a runtime timer on first use.
func TestPlanOverTLS(t *testing.T) {
	b := build(t)
	doc, err := os.ReadFile("../../firstboot/metadata/testdata/equinix-metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metadata" {
			w.Write(doc)
			return
		}
		http.NotFound(w, r)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pemCert(srv.Certificate().Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, b, false, nil, b["esxi-firstboot"], "plan", "--provider", "equinix", "--metadata", srv.URL, "--ca-file", ca)
	if r.code != 0 || !strings.Contains(r.stdout, "plan for instance 7f0c3a52") {
		t.Fatalf("https plan: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	wrongCA := filepath.Join(t.TempDir(), "other.pem")
	// httptest servers share one certificate: make an unrelated CA.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(wrongCA, pemCert(der), 0o644)
	start := time.Now()
	r = run(t, b, false, nil, b["esxi-firstboot"], "plan", "--provider", "equinix", "--metadata", srv.URL, "--ca-file", wrongCA, "--timeout", "20s")
	if r.code == 0 || !strings.Contains(r.stderr, "certificate") || !strings.Contains(r.stderr, "metadata request rejected") {
		t.Fatalf("plan trusted an unknown certificate: %+v", r)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("a certificate error was retried for %s", el)
	}
	r = run(t, b, true, nil, b["esxi-firstboot"], "plan", "--provider", "equinix", "--metadata", srv.URL, "--ca-file", ca, "--timeout", "2s")
	if r.code == 0 || strings.Contains(r.stderr, "netpoll") || !strings.Contains(r.stderr, "https is unavailable on this kernel") {
		t.Fatalf("https under the filter: exit %d\n%s", r.code, r.stderr)
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// The whole first-boot path: the %firstboot launcher (busybox sh, as on
// ESXi) finds the built agent, runs it under the filter against the fake
// host, and acts on its exit code.
func TestLauncherRunsAgentUnderNoEpollFilter(t *testing.T) {
	b := build(t)
	tooltest.Need(t, "busybox")
	for _, tc := range []struct {
		name    string
		dead    bool
		wantLog string
		hook    bool
	}{
		{"configured", false, "host configured (exit 0)", false},
		{"no metadata", true, "exit 10 (10: no metadata yet, 12: host step failed); will retry at next boot", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t)
			url := srv.url
			if tc.dead {
				l, _ := net.Listen("tcp", "127.0.0.1:0")
				url = "http://" + l.Addr().String()
				l.Close()
			}
			h := newHost(t, b)
			d := t.TempDir()
			cfg := launcher.Config{
				AgentPaths: []string{filepath.Join(d, "bootbank", "esxifb", "agent"), b["esxi-firstboot"]},
				Args: []string{"--provider", "equinix", "--metadata", url, "--tools-dir", h.tools, "--root", h.root,
					"--seed-dir", filepath.Join(d, "none"), "--no-probe", "--timeout", "3s", "--check-tries", "2"},
				StateDir: h.stateDir, LogFile: filepath.Join(d, "log", "esxi-firstboot.log"),
				Hook: filepath.Join(d, "rc.local.d", "999.esxi-firstboot.sh"), AutoBackup: filepath.Join(h.tools, "auto-backup.sh"),
				TmpDir: d,
			}
			script := filepath.Join(d, "001.firstboot_001")
			os.WriteFile(script, []byte(launcher.Script(cfg)), 0o755)
			r := run(t, b, true, []string{"FAKEESX_STATE=" + h.stateFile, "PATH=" + h.tools + ":/usr/bin:/bin"}, "/usr/bin/busybox", "sh", script)
			logb, _ := os.ReadFile(cfg.LogFile)
			if r.code != 0 || !strings.Contains(string(logb), tc.wantLog) || strings.Contains(string(logb), "netpoll") {
				t.Fatalf("launcher exit %d\n%s\nlog:\n%s", r.code, r.stderr, logb)
			}
			if _, err := os.Stat(cfg.Hook); (err == nil) != tc.hook {
				t.Fatalf("retry hook present=%v, want %v", err == nil, tc.hook)
			}
			f, _ := fakehost.Load(h.stateFile)
			if !tc.dead && f.State.FQDN != "esx-da-01.example.net" {
				t.Fatalf("host not configured through the launcher: %+v", f.State)
			}
			scan(t, map[string]string{"launcher log": string(logb)}, h.stateDir)
		})
	}
}

// Names resolve without the net package: /etc/hosts read through nopoll,
// under the filter.
func TestPlanByNameUnderNoEpollFilter(t *testing.T) {
	b := build(t)
	hosts, err := os.ReadFile("/etc/hosts")
	if err != nil || !strings.Contains(string(hosts), "localhost") {
		t.Fatalf("/etc/hosts lacks localhost: %v", err)
	}
	srv := startServer(t)
	url := strings.Replace(srv.url, "127.0.0.1", "localhost", 1)
	r := run(t, b, true, nil, b["esxi-firstboot"], "plan", "--provider", "equinix", "--metadata", url)
	if r.code != 0 || !strings.Contains(r.stdout, "plan for instance 7f0c3a52") {
		t.Fatalf("plan by name under the filter: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

func scan(t *testing.T, outs map[string]string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		filepath.Walk(p, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				b, _ := os.ReadFile(p)
				outs[p] = string(b)
			}
			return nil
		})
	}
	for where, text := range outs {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("secret %q leaked into %s", s, where)
			}
		}
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }

func TestPlanCommandGolden(t *testing.T) {
	for _, tc := range []struct{ name, provider, loc, golden string }{
		{"equinix", "", "../../firstboot/metadata/testdata/equinix-metadata.json", "plan-equinix.golden"},
		{"openstack", "file", "../../firstboot/metadata/testdata/openstack-meta_data.json", "plan-openstack.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"plan", "--metadata", tc.loc}
			if tc.provider != "" {
				args = append(args, "--provider", tc.provider)
			}
			var out bytes.Buffer
			cmd := newPlanCmd()
			cmd.SetArgs(args[1:])
			cmd.SetOut(&out)
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				os.WriteFile(golden, out.Bytes(), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if out.String() != string(want) {
				t.Errorf("plan output changed:\n%s\nwant:\n%s", out.String(), want)
			}
			for _, s := range secrets {
				if strings.Contains(out.String(), s) {
					t.Errorf("plan prints secret %q", s)
				}
			}
		})
	}
}

func TestPlanWithHostState(t *testing.T) {
	// A host already configured by this metadata: only the service
	// ensures and persistence remain.
	d := t.TempDir()
	f := fakehost.New("0c:42:a1:5e:00:10", "0c:42:a1:5e:00:11")
	st := f.Snapshot()
	st.FQDN = "esx-da-01.example.net"
	b, _ := json.Marshal(st)
	os.WriteFile(filepath.Join(d, "host.json"), b, 0o644)
	var out bytes.Buffer
	cmd := newPlanCmd()
	cmd.SetArgs([]string{"--metadata", "../../firstboot/metadata/testdata/equinix-metadata.json", "--host-state", filepath.Join(d, "host.json")})
	cmd.SetOut(&out)
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "hostname set") {
		t.Errorf("plan renames a host that already has the name:\n%s", out.String())
	}
}
