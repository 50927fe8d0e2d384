package report

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/esxi-golden/packer-plugin-esxi/firstboot/httpc"
)

func TestReports(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	codes := map[string][]int{"/events": {503, 200}, "/phone-home": {200}, "/gone": {410}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		bodies = append(bodies, r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b))
		c := codes[r.URL.Path]
		w.WriteHeader(c[0])
		if len(c) > 1 {
			codes[r.URL.Path] = c[1:]
		}
	}))
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	r := &Reporter{Client: &httpc.Client{Timeout: time.Second}, Budget: 3 * time.Second}
	if err := r.UserState(srv.URL+"/events", "succeeded", CodeSucceeded, "done"); err != nil {
		t.Fatalf("user-state after a 503: %v", err)
	}
	if err := r.PhoneHome(srv.URL+"/phone-home", "iid-1"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := r.PhoneHome(srv.URL+"/gone", "iid-1"); err == nil || time.Since(start) > time.Second {
		t.Fatalf("410 must fail at once: %v after %s", err, time.Since(start))
	}
	if err := r.UserState("", "running", CodeRunning, "x"); err != nil {
		t.Fatalf("no URL is not an error: %v", err)
	}
	want := []string{
		`/events application/json {"code":1001,"message":"done","state":"succeeded"}`,
		`/events application/json {"code":1001,"message":"done","state":"succeeded"}`,
		`/phone-home application/json {"instance_id":"iid-1"}`,
		`/gone application/json {"instance_id":"iid-1"}`,
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != len(want) {
		t.Fatalf("bodies %q", bodies)
	}
	for i := range want {
		if bodies[i] != want[i] {
			t.Errorf("post %d: %q, want %q", i, bodies[i], want[i])
		}
	}
}

func TestWriteResult(t *testing.T) {
	p := filepath.Join(t.TempDir(), "result.json")
	if err := Write(p, &Result{InstanceID: "iid", Status: "succeeded", Applied: []string{"hostname"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	var r Result
	if err := json.Unmarshal(b, &r); err != nil || r.Status != "succeeded" || r.Applied[0] != "hostname" {
		t.Fatalf("%s %v", b, err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
}
