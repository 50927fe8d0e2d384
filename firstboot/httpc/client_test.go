package httpc

import (
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func loopback(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func TestDo(t *testing.T) {
	s := loopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte("hello "))
			w.(http.Flusher).Flush()
			w.Write([]byte("world"))
		case "/truncated":
			w.Header().Set("Content-Length", "100")
			w.Write([]byte("short"))
			hj, _, _ := w.(http.Hijacker).Hijack()
			hj.Close()
		case "/slow":
			time.Sleep(2 * time.Second)
			w.Write([]byte("late"))
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2000)))
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			w.Write(b)
		default:
			http.NotFound(w, r)
		}
	}))
	c := &Client{Timeout: 500 * time.Millisecond, MaxBody: 1000}
	r, err := c.Do("GET", s.URL+"/chunked", nil, nil, time.Time{})
	if err != nil || string(r.Body) != "hello world" || r.StatusCode != 200 {
		t.Fatalf("chunked: %v %+v", err, r)
	}
	r, err = c.Do("POST", s.URL+"/echo", http.Header{"Content-Type": {"application/json"}}, []byte(`{"a":1}`), time.Time{})
	if err != nil || string(r.Body) != `{"a":1}` || r.Header.Get("X-Method") != "POST" {
		t.Fatalf("echo: %v %+v", err, r)
	}
	if r, err = c.Do("GET", s.URL+"/nothing", nil, nil, time.Time{}); err != nil || r.StatusCode != 404 {
		t.Fatalf("404: %v %+v", err, r)
	}
	if _, err = c.Do("GET", s.URL+"/truncated", nil, nil, time.Time{}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: %v, want unexpected EOF", err)
	}
	start := time.Now()
	if _, err = c.Do("GET", s.URL+"/slow", nil, nil, time.Time{}); !IsTimeout(err) {
		t.Fatalf("slow: %v, want timeout", err)
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Fatalf("slow request took %s with a 500ms timeout", el)
	}
	if _, err = c.Do("GET", s.URL+"/big", nil, nil, time.Time{}); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("big: %v", err)
	}
	// A closed port refuses at once.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	if _, err = c.Do("GET", "http://"+addr+"/", nil, nil, time.Time{}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("closed port: %v", err)
	}
	if _, err = c.Do("GET", "ftp://127.0.0.1/", nil, nil, time.Time{}); err == nil {
		t.Fatal("ftp accepted")
	}
}

func TestTLS(t *testing.T) {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("secure")) }))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Listener = l
	s.StartTLS()
	defer s.Close()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	c := &Client{RootCAs: pool}
	r, err := c.Do("GET", s.URL, nil, nil, time.Time{})
	if err != nil || string(r.Body) != "secure" {
		t.Fatalf("tls: %v %+v", err, r)
	}
	if _, err := (&Client{RootCAs: x509.NewCertPool()}).Do("GET", s.URL, nil, nil, time.Time{}); err == nil {
		t.Fatal("untrusted certificate accepted")
	}
}

// dnsServer answers A queries for name with addr on a loopback UDP port.
func dnsServer(t *testing.T, name string, addr [4]byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || len(m.Questions) != 1 {
				continue
			}
			m.Response = true
			if m.Questions[0].Name.String() == name {
				m.Answers = []dnsmessage.Resource{{
					Header: dnsmessage.ResourceHeader{Name: m.Questions[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 60},
					Body:   &dnsmessage.AResource{A: addr},
				}}
			} else {
				m.RCode = dnsmessage.RCodeNameError
			}
			out, _ := m.Pack()
			pc.WriteTo(out, from)
		}
	}()
	return netip.MustParseAddrPort(pc.LocalAddr().String())
}

func TestResolver(t *testing.T) {
	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("# comment\n127.0.0.1 localhost\n127.0.0.9 meta.example.net meta\n"), 0o644)
	ns := dnsServer(t, "metadata.example.org.", [4]byte{127, 0, 0, 7})
	conf := filepath.Join(dir, "resolv.conf")
	os.WriteFile(conf, []byte("search example.org\nnameserver "+ns.Addr().String()+"\n"), 0o644)
	r := &Resolver{HostsFile: hosts, ResolvConf: conf}
	// resolv.conf carries no port; point the resolver at the test port.
	r2 := &Resolver{HostsFile: hosts, Nameservers: []netip.AddrPort{ns}}
	deadline := time.Now().Add(2 * time.Second)
	for _, tc := range []struct {
		r    *Resolver
		host string
		want string
		err  bool
	}{
		{r, "127.0.0.5", "127.0.0.5", false},
		{r, "fd00:ec2::254", "fd00:ec2::254", false},
		{r, "META", "127.0.0.9", false},
		{r2, "metadata.example.org", "127.0.0.7", false},
		{r2, "missing.example.org", "", true},
	} {
		as, err := tc.r.Lookup(tc.host, deadline)
		if tc.err {
			if err == nil {
				t.Errorf("%s: no error", tc.host)
			}
			continue
		}
		if err != nil || len(as) == 0 || as[0].String() != tc.want {
			t.Errorf("%s: %v %v, want %s", tc.host, as, err, tc.want)
		}
	}
	if got := parseResolvConf([]byte("nameserver 10.0.0.2\nnameserver bogus\noptions x\n")); len(got) != 1 || got[0].String() != "10.0.0.2:53" {
		t.Errorf("resolv.conf: %v", got)
	}
}
