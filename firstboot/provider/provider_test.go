package provider

import (
	"bytes"
	"errors"
	"fmt"
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
	"github.com/esxi-golden/packer-plugin-esxi/firstboot/metadata"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "metadata", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// service is a loopback metadata server whose paths can misbehave for
// their first requests.
type service struct {
	mu     sync.Mutex
	docs   map[string]string
	faults map[string][]string // path → faults consumed one per request
	hits   map[string]int
	token  string // when set, IMDSv2: PUT /latest/api/token, header required
}

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.Path]++
	var fault string
	if q := s.faults[r.URL.Path]; len(q) > 0 {
		fault, s.faults[r.URL.Path] = q[0], q[1:]
	}
	doc, ok := s.docs[r.URL.Path]
	tok := s.token
	s.mu.Unlock()
	if r.URL.Path == "/latest/api/token" {
		if tok == "" || r.Method != "PUT" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(tok))
		return
	}
	if tok != "" && r.Header.Get("X-Aws-Ec2-Metadata-Token") != tok {
		http.Error(w, "unauthorized", 401)
		return
	}
	switch fault {
	case "500":
		http.Error(w, "boom", 500)
		return
	case "slow":
		time.Sleep(2500 * time.Millisecond)
	case "truncate":
		w.Header().Set("Content-Length", fmt.Sprint(len(doc)+50))
		w.Write([]byte(doc))
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
		return
	case "404":
		http.NotFound(w, r)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(doc))
}

func listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var l net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if l, err = net.Listen("tcp", addr); err == nil {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
	return nil
}

// start serves s on loopback; with delay the port stays closed (connection
// refused) for that long first.
func start(t *testing.T, s *service, delay time.Duration) string {
	t.Helper()
	l := listen(t, "127.0.0.1:0")
	addr := l.Addr().String()
	srv := httptest.NewUnstartedServer(s)
	if delay > 0 {
		l.Close()
		go func() {
			time.Sleep(delay)
			srv.Listener = listen(t, addr)
			srv.Start()
		}()
	} else {
		srv.Listener = l
		srv.Start()
	}
	t.Cleanup(func() {
		time.Sleep(10 * time.Millisecond)
		if srv.Listener != nil {
			srv.Close()
		}
	})
	return "http://" + addr
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

type kind struct {
	name     string
	docs     func(t *testing.T) map[string]string
	required string // the path faults hit
	bad      string // malformed replacement for required
	provider func(base string) Provider
	wantID   string
}

func kinds() []kind {
	return []kind{
		{"equinix", func(t *testing.T) map[string]string {
			return map[string]string{"/metadata": fixture(t, "equinix-metadata.json"), "/userdata": fixture(t, "equinix-userdata")}
		}, "/metadata", `{"id": "x", "hostname": `, func(b string) Provider { return Equinix{BaseURL: b} }, "7f0c3a52-9d1e-4b6a-8c2f-1e5d9a0b7c31"},
		{"ec2", func(t *testing.T) map[string]string {
			p := "/2009-04-04/meta-data/"
			return map[string]string{p + "instance-id": "i-0abc", p + "hostname": "esx-ec2.example", p + "public-keys/": "0=ops",
				p + "public-keys/0/openssh-key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEc2Key ops@x", "/2009-04-04/user-data": fixture(t, "nocloud-user-data")}
		}, "/2009-04-04/meta-data/instance-id", "", func(b string) Provider { return EC2{BaseURL: b, Token: true} }, "i-0abc"},
		{"openstack", func(t *testing.T) map[string]string {
			return map[string]string{"/openstack/latest/meta_data.json": fixture(t, "openstack-meta_data.json"), "/openstack/latest/network_data.json": fixture(t, "openstack-network_data.json")}
		}, "/openstack/latest/meta_data.json", `{"uuid": 5`, func(b string) Provider { return OpenStack{BaseURL: b} }, "2d4a0e53-3c1d-4f5a-9b8e-0a1b2c3d4e5f"},
		{"nocloud", func(t *testing.T) map[string]string {
			return map[string]string{"/seed/meta-data": fixture(t, "nocloud-meta-data"), "/seed/network-config": fixture(t, "nocloud-network-config"), "/seed/user-data": fixture(t, "nocloud-user-data")}
		}, "/seed/meta-data", "instance-id: [", func(b string) Provider { return NoCloud{SeedURL: b + "/seed/"} }, "iid-esx-lab-0042"},
	}
}

func TestFaults(t *testing.T) {
	client := &httpc.Client{Timeout: time.Second}
	type fault struct {
		name    string
		faults  []string
		down    time.Duration
		badDoc  bool
		wantErr error // nil: success
	}
	faults := []fault{
		{"ok", nil, 0, false, nil},
		{"down then up", nil, 1200 * time.Millisecond, false, nil},
		{"500s", []string{"500", "500", "500"}, 0, false, nil},
		{"slow", []string{"slow"}, 0, false, nil},
		{"truncated", []string{"truncate"}, 0, false, nil},
		{"404", []string{"404"}, 0, false, ErrNotFound},
		{"malformed", nil, 0, true, metadata.ErrMalformed},
		{"always 500", repeat("500", 200), 0, false, ErrDeadline},
		{"wrong instance", nil, 0, false, ErrWrongInstance},
	}
	for _, k := range kinds() {
		for _, f := range faults {
			if f.badDoc && k.bad == "" {
				continue // ec2 values are plain text: nothing to malform
			}
			t.Run(k.name+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				s := &service{docs: k.docs(t), faults: map[string][]string{}, hits: map[string]int{}}
				if k.name == "ec2" {
					s.token = "TOKEN-SECRET-imdsv2"
				}
				s.faults[k.required] = f.faults
				if f.badDoc {
					s.docs[k.required] = k.bad
				}
				base := start(t, s, f.down)
				deadline := time.Now().Add(6 * time.Second)
				expect := ""
				if f.name == "wrong instance" {
					expect = "some-other-instance"
				}
				var logs bytes.Buffer
				sel := &Selection{Explicit: k.provider(base), Client: client, MinBackoff: 50 * time.Millisecond, MaxBackoff: 400 * time.Millisecond, ExpectInstance: expect,
					Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
				m, _, err := sel.Discover(deadline)
				if s.token != "" && (strings.Contains(logs.String(), s.token) || (err != nil && strings.Contains(err.Error(), s.token))) {
					t.Errorf("IMDSv2 token leaked into logs or errors")
				}
				if over := time.Since(deadline); over > time.Second {
					t.Errorf("returned %s after the deadline", over)
				}
				if f.wantErr == nil {
					if err != nil {
						t.Fatal(err)
					}
					if m.InstanceID != k.wantID {
						t.Fatalf("instance %q, want %q", m.InstanceID, k.wantID)
					}
					return
				}
				if !errors.Is(err, f.wantErr) {
					t.Fatalf("err %v, want %v", err, f.wantErr)
				}
				if f.wantErr == ErrNotFound && s.hits[k.required] != 1 {
					t.Errorf("404 retried: %d requests", s.hits[k.required])
				}
				if f.wantErr == metadata.ErrMalformed && s.hits[k.required] != 1 {
					t.Errorf("malformed document refetched: %d requests", s.hits[k.required])
				}
			})
		}
	}
}

func TestEC2WrongInstance(t *testing.T) {
	p := "/tootles/instanceID/i-expected/2009-04-04/meta-data/"
	s := &service{docs: map[string]string{p + "instance-id": "i-other"}, faults: map[string][]string{}, hits: map[string]int{}}
	base := start(t, s, 0)
	sel := &Selection{Explicit: EC2{BaseURL: base, InstanceID: "i-expected"}, Client: &httpc.Client{Timeout: time.Second}}
	if _, _, err := sel.Discover(time.Now().Add(3 * time.Second)); !errors.Is(err, ErrWrongInstance) {
		t.Fatalf("err %v, want ErrWrongInstance", err)
	}
	// The instance changes between the first and last read of the tree.
	p = "/2009-04-04/meta-data/"
	s2 := &service{docs: map[string]string{p + "instance-id": "i-first", p + "hostname": "a"}, faults: map[string][]string{}, hits: map[string]int{}}
	f := &Fetcher{Client: &httpc.Client{Timeout: 2 * time.Second}, Deadline: time.Now().Add(5 * time.Second)}
	if _, err := (EC2{BaseURL: startHandler(t, s2)}).Fetch(f); err != nil {
		t.Fatalf("stable tree: %v", err)
	}
	hook := &swapper{service: s2, path: p + "instance-id", to: "i-second"}
	if _, err := (EC2{BaseURL: startHandler(t, hook)}).Fetch(f); !errors.Is(err, ErrWrongInstance) {
		t.Fatalf("changing tree: %v, want ErrWrongInstance", err)
	}
}

// swapper serves path's document once, then switches it to "to".
type swapper struct {
	*service
	path string
	to   string
}

func (s *swapper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.service.ServeHTTP(w, r)
	if r.URL.Path == s.path {
		s.mu.Lock()
		s.docs[s.path] = s.to
		s.mu.Unlock()
	}
}

func startHandler(t *testing.T, h http.Handler) string {
	l := listen(t, "127.0.0.1:0")
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return "http://" + l.Addr().String()
}

func TestLocalSeedsAndSelection(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed")
	os.MkdirAll(seed, 0o755)
	for _, n := range []string{"meta-data", "network-config", "user-data"} {
		os.WriteFile(filepath.Join(seed, n), []byte(fixture(t, "nocloud-"+n)), 0o644)
	}
	drive := filepath.Join(dir, "drive")
	os.MkdirAll(filepath.Join(drive, "OPENSTAC", "LATEST"), 0o755)
	os.WriteFile(filepath.Join(drive, "OPENSTAC", "LATEST", "META_DAT.JSO"), []byte(fixture(t, "openstack-meta_data.json")), 0o644)
	os.WriteFile(filepath.Join(drive, "OPENSTAC", "LATEST", "NETWORK_.JSO"), []byte(fixture(t, "openstack-network_data.json")), 0o644)

	deadline := time.Now().Add(5 * time.Second)
	// The first seed directory that exists wins; a missing one is skipped.
	sel := &Selection{SeedDirs: []string{filepath.Join(dir, "none"), drive, seed}, NoProbe: true}
	m, name, err := sel.Discover(deadline)
	if err != nil || m.InstanceID != "2d4a0e53-3c1d-4f5a-9b8e-0a1b2c3d4e5f" || !strings.Contains(name, "config drive") {
		t.Fatalf("config drive: %v %v %s", m, err, name)
	}
	sel = &Selection{SeedDirs: []string{seed}, NoProbe: true}
	if m, _, err = sel.Discover(deadline); err != nil || m.InstanceID != "iid-esx-lab-0042" {
		t.Fatalf("nocloud seed: %v", err)
	}
	// A FAT bootbank seed with 8.3 upper-case names.
	fat := filepath.Join(dir, "ESXIFB")
	os.MkdirAll(fat, 0o755)
	os.WriteFile(filepath.Join(fat, "METADATA"), []byte(fixture(t, "nocloud-meta-data")), 0o644)
	os.WriteFile(filepath.Join(fat, "NETWORK"), []byte(fixture(t, "nocloud-network-config")), 0o644)
	sel = &Selection{SeedDirs: []string{filepath.Join(dir, "esxifb"), fat}, NoProbe: true}
	if m, _, err = sel.Discover(deadline); err != nil || m.InstanceID != "iid-esx-lab-0042" || m.VLAN != 20 {
		t.Fatalf("8.3 seed: %v %v", m, err)
	}
	sel = &Selection{SeedDirs: []string{}, NoProbe: true}
	if _, _, err = sel.Discover(deadline); !errors.Is(err, ErrAbsent) {
		t.Fatalf("nothing: %v", err)
	}
	// File documents of each format.
	for _, f := range []string{"equinix-metadata.json", "openstack-meta_data.json", "nocloud-meta-data"} {
		p, err := ParseSpec("", filepath.Join("..", "metadata", "testdata", f), "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Fetch(nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestProbeOrder(t *testing.T) {
	// Nothing listens on the first candidate; the second answers.
	l := listen(t, "127.0.0.1:0")
	dead := "http://" + l.Addr().String()
	l.Close()
	s := &service{docs: map[string]string{"/metadata": fixture(t, "equinix-metadata.json")}, faults: map[string][]string{}, hits: map[string]int{}}
	live := start(t, s, 0)
	sel := &Selection{SeedDirs: []string{}, ProbeURLs: []Provider{EC2{BaseURL: dead}, Equinix{BaseURL: live}},
		Client: &httpc.Client{Timeout: time.Second}, ProbeBudget: 300 * time.Millisecond, MinBackoff: 50 * time.Millisecond}
	m, name, err := sel.Discover(time.Now().Add(5 * time.Second))
	if err != nil || !strings.HasPrefix(name, "equinix") || m.Source != "equinix" {
		t.Fatalf("probe: %v %s", err, name)
	}
}

func TestBootOptions(t *testing.T) {
	for opts, want := range map[string]string{
		"runweasel esxi-firstboot.metadata=equinix:http://10.1.1.1:50061/ foo": "equinix http://10.1.1.1:50061",
		"ds=nocloud;s=http://10.0.0.5/seed/":                                   "nocloud http://10.0.0.5/seed/",
		"ds=nocloud;seedfrom=http://10.0.0.5/s/ x=y":                           "nocloud http://10.0.0.5/s/",
		"esxi-firstboot.metadata=http://10.1.1.1/metadata":                     "equinix http://10.1.1.1",
		"nothing here": "",
	} {
		p, ok := FromBootOptions(opts)
		got := ""
		if ok {
			got = p.Name()
		}
		if got != want {
			t.Errorf("%q: %q, want %q", opts, got, want)
		}
	}
}

func TestGuestinfoAndBootOptionsViaRunner(t *testing.T) {
	meta, _ := os.ReadFile("../metadata/testdata/guestinfo-metadata.yaml")
	h := fakehost.New("00:0c:29:01:02:03")
	h.Guestinfo = map[string]string{"guestinfo.metadata": string(meta)}
	sel := &Selection{Runner: h, SeedDirs: []string{}, NoProbe: true}
	m, name, err := sel.Discover(time.Now().Add(3 * time.Second))
	if err != nil || m.InstanceID != "vm-nested-esx-01" || name != "vmware guestinfo" {
		t.Fatalf("guestinfo: %v %v %s", m, err, name)
	}
	// A boot option wins over guestinfo.
	s := &service{docs: map[string]string{"/metadata": fixture(t, "equinix-metadata.json")}, faults: map[string][]string{}, hits: map[string]int{}}
	h.BootOpts = "runweasel esxi-firstboot.metadata=equinix:" + start(t, s, 0)
	sel.Client = &httpc.Client{Timeout: time.Second}
	if m, name, err = sel.Discover(time.Now().Add(3 * time.Second)); err != nil || m.Source != "equinix" || !strings.HasPrefix(name, "equinix") {
		t.Fatalf("boot option: %v %s", err, name)
	}
	// No guestinfo key: absent, so the next candidate (none) is tried.
	h.BootOpts, h.Guestinfo = "", nil
	if _, _, err = sel.Discover(time.Now().Add(time.Second)); !errors.Is(err, ErrAbsent) {
		t.Fatalf("no guestinfo: %v", err)
	}
}
