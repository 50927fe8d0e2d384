package agent

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/esxi/fakehost"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/httpc"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/plan"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/provider"
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/report"
)

// Secrets planted in the fixtures; none may appear in any output.
var secrets = []string{"SECRETHASHexampleonlyNOTREAL", "SECRET-USERDATA-token=hunter2"}

// metaServer serves the Equinix fixture and records what is POSTed.
type metaServer struct {
	mu     sync.Mutex
	doc    string
	posts  []string
	closed bool
	url    string
}

func (s *metaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case r.Method == "GET" && r.URL.Path == "/metadata":
		io.WriteString(w, s.doc)
	case r.Method == "GET" && r.URL.Path == "/userdata":
		b, _ := os.ReadFile("../metadata/testdata/equinix-userdata")
		w.Write(b)
	case r.Method == "POST":
		b, _ := io.ReadAll(r.Body)
		s.posts = append(s.posts, r.URL.Path+" "+string(b))
	default:
		http.NotFound(w, r)
	}
}

func (s *metaServer) Posts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.posts...)
}

func newServer(t *testing.T) *metaServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &metaServer{url: "http://" + l.Addr().String()}
	doc, _ := os.ReadFile("../metadata/testdata/equinix-metadata.json")
	s.doc = strings.ReplaceAll(string(doc), "http://tinkerbell.da11.packet.net", s.url)
	srv := httptest.NewUnstartedServer(s)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return s
}

type rig struct {
	t     *testing.T
	srv   *metaServer
	host  *fakehost.Host
	root  string
	state string
	logs  bytes.Buffer
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, srv: newServer(t), root: t.TempDir(), state: t.TempDir()}
	r.host = fakehost.New("0c:42:a1:5e:00:10", "0c:42:a1:5e:00:11")
	r.host.Reachable = append(r.host.Reachable, "198.51.100.10", "2001:db8:4200:1a00::6")
	os.MkdirAll(filepath.Join(r.root, "etc"), 0o755)
	os.WriteFile(filepath.Join(r.root, "etc/shadow"), []byte("root:*:19000:0:99999:7:::\n"), 0o600)
	return r
}

func (r *rig) run(base string, deadline time.Duration) (int, *report.Result) {
	client := &httpc.Client{Timeout: time.Second}
	return Run(Config{
		Selection: provider.Selection{Explicit: provider.Equinix{BaseURL: base}, Client: client, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
		Host:      &plan.Host{Runner: r.host, Root: r.root, TmpDir: r.t.TempDir(), CheckTries: 2, CheckWait: time.Millisecond, Log: slog.New(slog.NewTextHandler(&r.logs, nil))},
		StateDir:  r.state,
		Deadline:  time.Now().Add(deadline),
		Reporter:  &report.Reporter{Client: client, Budget: 2 * time.Second},
		Log:       slog.New(slog.NewJSONHandler(&r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
}

// scan fails the test when a secret appears in any output of the run.
func (r *rig) scan() {
	r.t.Helper()
	outs := map[string]string{"logs": r.logs.String(), "posts": strings.Join(r.srv.Posts(), "\n")}
	for _, d := range []string{r.state} {
		filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				b, _ := os.ReadFile(p)
				outs[p] = string(b)
			}
			return nil
		})
	}
	// The scan is only meaningful if the secrets were served.
	ud, _ := os.ReadFile("../metadata/testdata/equinix-userdata")
	if !strings.Contains(r.srv.doc, secrets[0]) || !strings.Contains(string(ud), secrets[1]) {
		r.t.Fatal("fixtures no longer carry the planted secrets")
	}
	hj, _ := json.Marshal(r.host)
	outs["host commands"] = string(hj)
	for where, text := range outs {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				r.t.Errorf("secret %q leaked into %s", s, where)
			}
		}
	}
}

func TestFullRunThenVerifyThenNewInstance(t *testing.T) {
	r := newRig(t)
	code, res := r.run(r.srv.url, 20*time.Second)
	if code != ExitOK || res.Status != "succeeded" {
		t.Fatalf("exit %d result %+v\nlogs:\n%s", code, res, r.logs.String())
	}
	posts := r.srv.Posts()
	if len(posts) != 3 || !strings.Contains(posts[0], `"state":"running"`) || !strings.Contains(posts[1], `"state":"succeeded"`) ||
		posts[2] != `/phone-home {"instance_id":"7f0c3a52-9d1e-4b6a-8c2f-1e5d9a0b7c31"}` {
		t.Fatalf("posts %q", posts)
	}
	var onDisk report.Result
	b, err := os.ReadFile(filepath.Join(r.state, "result.json"))
	if err != nil || json.Unmarshal(b, &onDisk) != nil || onDisk.Status != "succeeded" {
		t.Fatalf("result.json %s %v", b, err)
	}
	if s := r.host.Snapshot(); s.FQDN != "esx-da-01.example.net" || s.VMK("vmk0").IPv4 != "198.51.100.11" {
		t.Fatalf("host %+v", s)
	}
	r.scan()

	// Same instance again: reads only.
	changes, backups, calls := r.host.Changes, r.host.Backups, len(r.host.Calls)
	code, res = r.run(r.srv.url, 20*time.Second)
	if code != ExitOK || res.Status != "verified" || len(res.Drift) != 0 {
		t.Fatalf("second run: exit %d %+v", code, res)
	}
	if r.host.Changes != changes || r.host.Backups != backups {
		t.Fatalf("second run changed the host: %d→%d changes", changes, r.host.Changes)
	}
	for _, c := range r.host.CallStrings()[calls:] {
		if !strings.Contains(c, "--formatter=csv") {
			t.Errorf("second run issued %q", c)
		}
	}
	if len(r.srv.Posts()) != 3 {
		t.Errorf("second run reported again: %q", r.srv.Posts())
	}

	// A new instance-id (the machine was re-provisioned) reconfigures.
	r.srv.mu.Lock()
	r.srv.doc = strings.Replace(r.srv.doc, "7f0c3a52-9d1e-4b6a-8c2f-1e5d9a0b7c31", "11111111-2222-4333-8444-555555555555", 1)
	r.srv.doc = strings.Replace(r.srv.doc, `"hostname": "esx-da-01.example.net"`, `"hostname": "esx-da-02.example.net"`, 1)
	r.srv.mu.Unlock()
	code, res = r.run(r.srv.url, 20*time.Second)
	if code != ExitOK || res.Status != "succeeded" || res.InstanceID != "11111111-2222-4333-8444-555555555555" {
		t.Fatalf("new instance: exit %d %+v", code, res)
	}
	if r.host.Snapshot().FQDN != "esx-da-02.example.net" {
		t.Fatal("new instance did not rename the host")
	}
	if _, err := os.Stat(filepath.Join(r.state, "instances", "7f0c3a52-9d1e-4b6a-8c2f-1e5d9a0b7c31.json")); err != nil {
		t.Fatalf("previous instance not archived: %v", err)
	}
	r.scan()
}

func TestGatewayFailureRollsBackAndReports(t *testing.T) {
	r := newRig(t)
	r.host.Reachable = []string{"192.0.2.1"}
	before := r.host.Snapshot()
	code, res := r.run(r.srv.url, 20*time.Second)
	if code != ExitRolledBack || !res.RolledBack {
		t.Fatalf("exit %d %+v", code, res)
	}
	if d := plan.Diff(r.host.Snapshot(), before); len(d) != 0 {
		t.Fatalf("network not restored: %v", d)
	}
	posts := r.srv.Posts()
	if len(posts) != 2 || !strings.Contains(posts[1], `"state":"failed"`) || !strings.Contains(posts[1], "gateway unreachable") {
		t.Fatalf("posts %q", posts)
	}
	r.scan()
}

func TestNoMetadataChangesNothing(t *testing.T) {
	r := newRig(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	start := time.Now()
	code, res := r.run(dead, 2*time.Second)
	if code != ExitNoMetadata || res.Status != "no-metadata" {
		t.Fatalf("exit %d %+v", code, res)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("took %s with a 2 s deadline", el)
	}
	if r.host.Changes != 0 || len(r.host.Calls) != 0 {
		t.Fatalf("host touched: %v", r.host.CallStrings())
	}
}

func TestBadMetadataChangesNothing(t *testing.T) {
	for name, mutate := range map[string]func(string) string{
		"malformed":  func(d string) string { return d[:len(d)/2] },
		"wrong host": func(d string) string { return strings.ReplaceAll(d, "0c:42:a1:5e:00:1", "0c:42:a1:5e:ff:1") },
		"invalid": func(d string) string {
			return strings.Replace(d, `"hostname": "esx-da-01.example.net"`, `"hostname": "bad_name!"`, 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			r.srv.doc = mutate(r.srv.doc)
			code, res := r.run(r.srv.url, 5*time.Second)
			if code != ExitBadMetadata {
				t.Fatalf("exit %d %+v", code, res)
			}
			if r.host.Changes != 0 || len(r.srv.Posts()) != 0 {
				t.Fatalf("changes %d posts %q", r.host.Changes, r.srv.Posts())
			}
			r.scan()
		})
	}
}
